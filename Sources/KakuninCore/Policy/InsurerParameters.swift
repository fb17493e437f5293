/// An insurer's policy parameters (SPEC.md 2.6). Defaults are the spec's.
public struct InsurerParameters: Sendable, Equatable {
    /// In order of strictness: an envelope holding documents of two classes takes the later one.
    public enum MailClass: String, Sendable, CaseIterable, Comparable {
        case ordinary
        case tokuteiKiroku = "tokutei_kiroku"
        case kaniKakitome = "kani_kakitome"
        /// Its place in `allCases` (a switch: no array per comparison, asked for every document mailed).
        var rank: Int {
            switch self {
            case .ordinary: return 0
            case .tokuteiKiroku: return 1
            case .kaniKakitome: return 2
            }
        }
        public static func < (a: MailClass, b: MailClass) -> Bool { a.rank < b.rank }
        public var japanese: String {
            switch self {
            case .ordinary: return "普通郵便"
            case .tokuteiKiroku: return "特定記録"
            case .kaniKakitome: return "簡易書留"
            }
        }
    }
    public enum VendorEncoding: String, Sendable, CaseIterable {
        case utf8 = "utf-8"
        case cp932
    }
    /// [2026-12] An nhi household whose run mails both certificates and notices (SPEC.md 2.6, 5.1).
    public enum MixedHousehold: String, Sendable, CaseIterable {
        /// Certificates and notices in separate envelopes, each at its own class (most municipalities).
        case split
        /// One envelope at the stricter class (kakunin's behaviour before 2026-12).
        case stricterClass = "stricter_class"
    }
    /// [2026-12] How many envelopes an nhi household gets (SPEC.md 2.6, 5.1).
    /// [2026-12] How an employee scheme's documents reach its members (SPEC.md 5.1).
    public enum EmployeeDelivery: String, Sendable, CaseIterable {
        /// Mailed to each member's home.
        case home
        /// Through the member's establishment (事業主経由): one envelope per establishment with
        /// its establishment list; members in 任意継続 or without a known establishment go home.
        case employer
    }

    public enum NHIEnvelope: String, Sendable, CaseIterable {
        /// One per household (per document group under `split`), to the head.
        case household
        /// One per member, each addressed to the head.
        case perPersonToHead = "per_person_to_head"
    }
    /// How an employee-scheme certificate's scheme end is set (SPEC.md 2.6, 3 [2026-12]).
    public enum EmployeeValidity: Sendable, Equatable, CustomStringConvertible {
        /// valid_from + validity_years − 1 day.
        case rolling
        /// One common end date for every certificate (`fixed:YYYY-MM-DD`).
        case fixed(LocalDate)
        /// 31 December of the year valid_from + validity_years − 1.
        case yearEnd

        public var description: String {
            switch self {
            case .rolling: return "rolling"
            case .fixed(let d): return "fixed:\(d)"
            case .yearEnd: return "year_end"
            }
        }

        public init?(_ text: String) {
            switch text {
            case "rolling": self = .rolling
            case "year_end": self = .yearEnd
            default:
                guard text.hasPrefix("fixed:"), let d = LocalDate(String(text.dropFirst(6))) else { return nil }
                self = .fixed(d)
            }
        }
    }
    /// How a residence period caps valid_to (SPEC.md 2.6, 3 [2026-12]).
    public enum ResidenceCap: String, Sendable, CaseIterable {
        /// valid_to ≤ residence_expiry.
        case expiry
        /// valid_to ≤ residence_expiry + 1 (Tokyo wards' practice).
        case dayAfter = "day_after"
    }

    public var issueLeadDays = 40
    /// Month and day of the nhi/elderly renewal day (default 07-31).
    public var renewalMonth = 7
    public var renewalDay = 31
    public var minValidityDays = 60
    public var validityYearsNHI = 1
    public var validityYearsElderly = 1
    public var validityYearsEmployee = 5
    public var employeeValidity = EmployeeValidity.rolling
    public var residenceCap = ResidenceCap.expiry
    public var shortTermMonths = 2
    public var ecertGraceMonths = 3
    public var applyNoticeRepeatDays = 90
    /// The nightly run decides every member at least this often (a full run, issue 34); the
    /// nights between decide only the members whose facts changed or whose review date came.
    public var fullRunDays = 7
    /// Elderly phase 3 (SPEC.md 2.4): certificates regardless of Myna for elderly members who
    /// attained 85 on 2026-08-01. On by default since the national change of 2026-08-01.
    public var elderly85Continuation = true

    // MARK: Elderly rules from 2026-08-01 (SPEC.md 2.2, 2.4, 2.6) [2026-12]
    /// The date on which the 85 test (and the usage test's "aged 84 or under") takes the age.
    public enum Elderly85Reference: String, Sendable, CaseIterable {
        /// 2026-08-01, the measure's start, for every certificate (born on or before 1941-08-02).
        case fixed
        /// The first day of the certificate period S falls in: the latest renewal_day + 1
        /// (08-01 by default) on or before S, never before 2026-08-01; each renewal re-tests.
        case renewal
    }
    public var elderly85Reference = Elderly85Reference.fixed
    /// The usage test: an elderly member aged 84 or under whose Myna card is usable but little
    /// used gets a certificate (ELDERLY_LOW_MYNA_USE).
    public var elderlyUsageTest = true
    /// Uses in the 12 months before the Myna status's status_as_of needed to pass.
    public var elderlyMinUses12m = 6
    /// Uses in the 3 months before status_as_of needed to pass: 1 (a last_used_on within
    /// those months) or 0 (no recent use needed). The feed carries the date of the last use,
    /// not a count, so more than 1 cannot be tested and is refused.
    public var elderlyMinUses3m = 1
    /// An elderly member's special-consideration application needs no basis for a certificate
    /// whose period starts on or after 2026-08-01, whenever it was received (SPEC.md 2.2). Off:
    /// the import and the counter reject it with NO_BASIS, like any other member's.
    public var elderlyApplyWithoutBasis = true
    // MARK: -
    /// Printed on certificates and notices as 保険者名称; none by default (a run warns).
    public var insurerName: String? = nil
    /// The member letter's contact (SPEC.md 5.2): telephone, hours (as printed) and the
    /// languages the desk answers in (letter language codes). None by default: the letter then
    /// names the insurer only.
    public var contactPhone: String? = nil
    public var contactHours: String? = nil
    public var contactLanguages: [String] = []
    /// Mail class per document kind (SPEC.md 2.6): certificates 特定記録, notices ordinary.
    public var mailClassCertificate = MailClass.tokuteiKiroku
    public var mailClassNotice = MailClass.ordinary
    /// 転送不要 per document kind: on for certificates, off for notices.
    public var noForwardingCertificate = true
    public var noForwardingNotice = false
    /// Yen per envelope for each class (the 2024-10 tariff: base 110, + 210 特定記録, + 350 簡易書留).
    public var postageOrdinary = 110
    public var postageTokuteiKiroku = 320
    public var postageKaniKakitome = 460
    /// Longest field a vendor record carries, in characters: name (also the addressee),
    /// address, address_extra.
    public var maxCharsName = 30
    public var maxCharsAddress = 60
    public var maxCharsAddressExtra = 40
    /// The file used the old single `mail_class` (both kinds); kept working, with a note.
    public var usesDeprecatedMailClass = false
    public var vendorEncoding = VendorEncoding.utf8
    /// [2026-12] `split` by default: a change from the single stricter-class envelope of before.
    public var nhiMixedHousehold = MixedHousehold.split
    public var nhiEnvelope = NHIEnvelope.household
    public var employeeDelivery = EmployeeDelivery.home
    /// [2026-12] The sheet certificates are printed on.
    public var certificateFormat = CertificateFormat.card
    /// A member letter with every mailed document (`inserts.csv`); off for an insurer that
    /// encloses its own leaflets.
    public var memberLetters = true
    /// Postage tariff name, if the vendor needs one.
    public var postageTariff: String? = nil
    /// The file applies to runs with as-of dates in this period (both optional).
    public var effectiveFrom: LocalDate? = nil
    public var effectiveTo: LocalDate? = nil

    public init() {}

    public func postage(_ c: MailClass) -> Int {
        switch c {
        case .ordinary: return postageOrdinary
        case .tokuteiKiroku: return postageTokuteiKiroku
        case .kaniKakitome: return postageKaniKakitome
        }
    }

    public func validityYears(_ s: Scheme) -> Int {
        switch s {
        case .nhi: return validityYearsNHI
        case .elderly: return validityYearsElderly
        case .employee: return validityYearsEmployee
        }
    }

    /// Every parameter with its value, in file order, for reports and explanations.
    public var listing: [(String, String)] {
        [
            ("issue_lead_days", String(issueLeadDays)),
            ("renewal_day", String(format2(renewalMonth)) + "-" + format2(renewalDay)),
            ("min_validity_days", String(minValidityDays)),
            ("validity_years.nhi", String(validityYearsNHI)),
            ("validity_years.elderly", String(validityYearsElderly)),
            ("validity_years.employee", String(validityYearsEmployee)),
            ("employee_validity", employeeValidity.description),
            ("residence_cap", residenceCap.rawValue),
            ("short_term_months", String(shortTermMonths)),
            ("ecert_grace_months", String(ecertGraceMonths)),
            ("apply_notice_repeat_days", String(applyNoticeRepeatDays)),
            ("full_run_days", String(fullRunDays)),
            ("elderly_85_continuation", elderly85Continuation ? "on" : "off"),
            ("elderly_85_reference", elderly85Reference.rawValue),
            ("elderly_usage_test", elderlyUsageTest ? "on" : "off"),
            ("elderly_min_uses_12m", String(elderlyMinUses12m)),
            ("elderly_min_uses_3m", String(elderlyMinUses3m)),
            ("elderly_apply_without_basis", elderlyApplyWithoutBasis ? "on" : "off"),
            ("insurer_name", insurerName ?? ""),
            ("contact_phone", contactPhone ?? ""),
            ("contact_hours", contactHours ?? ""),
            ("contact_languages", contactLanguages.joined(separator: ",")),
            ("mail_class.certificate", mailClassCertificate.rawValue),
            ("mail_class.notice", mailClassNotice.rawValue),
            ("no_forwarding.certificate", noForwardingCertificate ? "on" : "off"),
            ("no_forwarding.notice", noForwardingNotice ? "on" : "off"),
            ("postage.ordinary", String(postageOrdinary)),
            ("postage.tokutei_kiroku", String(postageTokuteiKiroku)),
            ("postage.kani_kakitome", String(postageKaniKakitome)),
            ("max_chars.name", String(maxCharsName)),
            ("max_chars.address", String(maxCharsAddress)),
            ("max_chars.address_extra", String(maxCharsAddressExtra)),
            ("vendor_encoding", vendorEncoding.rawValue),
            ("nhi_mixed_household", nhiMixedHousehold.rawValue),
            ("nhi_envelope", nhiEnvelope.rawValue),
            ("employee_delivery", employeeDelivery.rawValue),
            ("certificate_format", certificateFormat.rawValue),
            ("member_letters", memberLetters ? "on" : "off"),
            ("postage_tariff", postageTariff ?? ""),
            ("effective_from", effectiveFrom?.description ?? ""),
            ("effective_to", effectiveTo?.description ?? ""),
        ]
    }

    /// [2026-12] Parameters whose default changed, with what a reader of the parameter list
    /// must know (shown beside the value on the run's report).
    /// `note` is Japanese; `previous` the value that keeps the former behaviour.
    public static let changedDefaults: [String: (note: String, previous: String)] = [
        "nhi_mixed_household": (
            "2026年12月から既定値が変わりました（世帯の確認書と通知を別々の封筒に、それぞれの郵便種別で）。以前の動作（1通にまとめ、厳しい方の郵便種別）は次の値です：",
            "stricter_class"
        )
    ]

    private func format2(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
}

/// A problem in a parameter file: which parameter, what is wrong, how to fix it.
public struct ParameterError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let parameter: String?
    public let problem: String
    public let fix: String

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let parameter { s += ": \(parameter)" }
        return s + ": \(problem)\n  fix: \(fix)"
    }
}

/// Reads and validates an insurer parameter file:
///
///     # comment
///     issue_lead_days = 40
///     renewal_day = 07-31
///     validity_years.employee = 5
///
/// Every key must be known, every value in range; a missing key takes its default.
public enum ParameterFile {
    public static func parse(_ text: String, file: String) throws -> InsurerParameters {
        var p = InsurerParameters()
        var seen: Set<String> = []
        var legacyMailClass: InsurerParameters.MailClass?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = n + 1
            let content = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = content.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ParameterError(
                    file: file, line: line, parameter: nil, problem: "expected `name = value`, found \"\(trimmed)\"",
                    fix: "write one parameter per line as name = value, or start the line with # for a comment")
            }
            let key = String(trimmed[..<eq]).trimmingCharacters(in: " \t")
            let value = String(trimmed[trimmed.index(after: eq)...]).trimmingCharacters(in: " \t")
            guard seen.insert(key).inserted else {
                throw ParameterError(file: file, line: line, parameter: key, problem: "set twice", fix: "keep one line for \(key)")
            }
            func err(_ problem: String, _ fix: String) -> ParameterError {
                ParameterError(file: file, line: line, parameter: key, problem: problem, fix: fix)
            }
            func int(_ range: ClosedRange<Int>) throws -> Int {
                guard let v = Int(value), range.contains(v) else {
                    throw err(
                        "\"\(value)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)",
                        "set \(key) to a value from \(range.lowerBound) to \(range.upperBound)")
                }
                return v
            }
            func date() throws -> LocalDate {
                guard let d = LocalDate(value) else { throw err("\"\(value)\" is not a date", "write the date as YYYY-MM-DD") }
                return d
            }
            switch key {
            case "issue_lead_days": p.issueLeadDays = try int(1...365)
            case "renewal_day":
                let parts = value.split(separator: "-")
                guard parts.count == 2, let m = Int(parts[0]), let d = Int(parts[1]), parts[0].count == 2, parts[1].count == 2,
                    (1...12).contains(m), d >= 1, d <= LocalDate.daysIn(year: 2025, month: m)
                else {
                    throw err(
                        "\"\(value)\" is not a month and day that exists every year", "write MM-DD, e.g. 07-31 (29 February is not allowed)"
                    )
                }
                p.renewalMonth = m
                p.renewalDay = d
            case "min_validity_days": p.minValidityDays = try int(0...364)
            case "validity_years.nhi": p.validityYearsNHI = try int(1...5)
            case "validity_years.elderly": p.validityYearsElderly = try int(1...5)
            case "validity_years.employee": p.validityYearsEmployee = try int(1...5)
            case "employee_validity":
                guard let v = InsurerParameters.EmployeeValidity(value) else {
                    throw err(
                        value.hasPrefix("fixed:") ? "\"\(value.dropFirst(6))\" is not a valid date" : "unknown value \"\(value)\"",
                        "use rolling, year_end or fixed:YYYY-MM-DD with a date that exists (e.g. fixed:2030-11-30)")
                }
                p.employeeValidity = v
            case "residence_cap":
                guard let v = InsurerParameters.ResidenceCap(rawValue: value) else {
                    throw err(
                        "unknown value \"\(value)\"",
                        "use \(InsurerParameters.ResidenceCap.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                p.residenceCap = v
            case "short_term_months": p.shortTermMonths = try int(1...12)
            case "ecert_grace_months": p.ecertGraceMonths = try int(0...12)
            case "apply_notice_repeat_days": p.applyNoticeRepeatDays = try int(1...3650)
            case "full_run_days": p.fullRunDays = try int(1...366)
            case "elderly_85_continuation":
                guard ["on", "off", "true", "false"].contains(value) else { throw err("\"\(value)\" is not on or off", "write on or off") }
                p.elderly85Continuation = value == "on" || value == "true"
            // Elderly rules from 2026-08-01 (SPEC.md 2.4) [2026-12]
            case "elderly_85_reference":
                guard let v = InsurerParameters.Elderly85Reference(rawValue: value) else {
                    throw err(
                        "unknown reference \"\(value)\"",
                        "write fixed (the age on 2026-08-01) or renewal (the age on the 08-01 that starts each certificate period)")
                }
                p.elderly85Reference = v
            case "elderly_usage_test", "elderly_apply_without_basis":
                guard ["on", "off", "true", "false"].contains(value) else { throw err("\"\(value)\" is not on or off", "write on or off") }
                if key == "elderly_usage_test" {
                    p.elderlyUsageTest = value == "on" || value == "true"
                } else {
                    p.elderlyApplyWithoutBasis = value == "on" || value == "true"
                }
            case "elderly_min_uses_12m": p.elderlyMinUses12m = try int(0...1000)
            case "elderly_min_uses_3m":
                guard value == "0" || value == "1" else {
                    throw err(
                        "\"\(value)\" cannot be tested: myna_status.csv gives the date of the last use (last_used_on), not a count for the 3 months",
                        "set elderly_min_uses_3m to 1 (a use within the 3 months before status_as_of) or 0 (no recent use needed)")
                }
                p.elderlyMinUses3m = value == "1" ? 1 : 0
            case "mail_class", "mail_class.certificate", "mail_class.notice":
                guard let v = InsurerParameters.MailClass(rawValue: value) else {
                    throw err(
                        "unknown mail class \"\(value)\"",
                        "use one of \(InsurerParameters.MailClass.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if key == "mail_class" {
                    legacyMailClass = v
                } else if key == "mail_class.certificate" {
                    p.mailClassCertificate = v
                } else {
                    p.mailClassNotice = v
                }
            case "no_forwarding.certificate", "no_forwarding.notice":
                guard ["on", "off", "true", "false"].contains(value) else { throw err("\"\(value)\" is not on or off", "write on or off") }
                if key == "no_forwarding.certificate" {
                    p.noForwardingCertificate = value == "on" || value == "true"
                } else {
                    p.noForwardingNotice = value == "on" || value == "true"
                }
            case "postage.ordinary": p.postageOrdinary = try int(1...100_000)
            case "postage.tokutei_kiroku": p.postageTokuteiKiroku = try int(1...100_000)
            case "postage.kani_kakitome": p.postageKaniKakitome = try int(1...100_000)
            case "max_chars.name": p.maxCharsName = try int(1...1000)
            case "max_chars.address": p.maxCharsAddress = try int(1...1000)
            case "max_chars.address_extra": p.maxCharsAddressExtra = try int(1...1000)
            case "vendor_encoding":
                guard let v = InsurerParameters.VendorEncoding(rawValue: value.lowercased()) else {
                    throw err("unknown encoding \"\(value)\"", "use utf-8 or cp932")
                }
                p.vendorEncoding = v
            case "nhi_mixed_household":
                guard let v = InsurerParameters.MixedHousehold(rawValue: value) else {
                    throw err(
                        "unknown value \"\(value)\"",
                        "use split (certificates and notices in separate envelopes) or stricter_class (one envelope at the stricter class)")
                }
                p.nhiMixedHousehold = v
            case "nhi_envelope":
                guard let v = InsurerParameters.NHIEnvelope(rawValue: value) else {
                    throw err(
                        "unknown value \"\(value)\"",
                        "use household (one envelope per household) or per_person_to_head (one per member, addressed to the head)")
                }
                p.nhiEnvelope = v
            case "employee_delivery":
                guard let v = InsurerParameters.EmployeeDelivery(rawValue: value) else {
                    throw err(
                        "unknown value \"\(value)\"", "use home (mailed to each member) or employer (one envelope per establishment, 事業主経由)"
                    )
                }
                p.employeeDelivery = v
            case "certificate_format":
                guard let v = CertificateFormat(rawValue: value) else {
                    throw err("unknown format \"\(value)\"", "use card (85.6 × 54 mm), hagaki (148 × 100 mm) or a4")
                }
                p.certificateFormat = v
            case "member_letters":
                guard ["on", "off"].contains(value) else {
                    throw err(
                        "\"\(value)\" is not on or off",
                        "write on (a letter with every mailed document, the default) or off (the insurer encloses its own leaflets)")
                }
                p.memberLetters = value == "on"
            case "postage_tariff": p.postageTariff = value.isEmpty ? nil : value
            case "insurer_name":
                guard value.unicodeScalars.count <= 60, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else {
                    throw err(
                        "the name is longer than 60 characters or holds a control character",
                        "write the name as printed (保険者名称), at most 60 characters")
                }
                p.insurerName = value.isEmpty ? nil : value
            case "contact_phone":
                guard value.unicodeScalars.count <= 20, value.unicodeScalars.allSatisfy({ "0123456789-() +".unicodeScalars.contains($0) })
                else {
                    throw err(
                        "\"\(value)\" is not a telephone number",
                        "write digits with - ( ) + or spaces, at most 20 characters, e.g. 03-1234-5678")
                }
                p.contactPhone = value.isEmpty ? nil : value
            case "contact_hours":
                guard value.unicodeScalars.count <= 60, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
                else {
                    throw err(
                        "the hours are longer than 60 characters or hold a control character", "write them as printed, e.g. 平日 8:30–17:15")
                }
                p.contactHours = value.isEmpty ? nil : value
            case "contact_languages":
                let codes = value.split(separator: ",").map { $0.trimmingSpaces.lowercased() }.filter { !$0.isEmpty }
                if let bad = codes.first(where: { !LetterCatalog.languages.contains($0) }) {
                    throw err(
                        "unknown language \"\(bad)\"",
                        "use codes of the letter's languages: \(LetterCatalog.languages.joined(separator: ", "))")
                }
                p.contactLanguages = codes
            case "effective_from": p.effectiveFrom = try date()
            case "effective_to": p.effectiveTo = try date()
            default:
                let known = InsurerParameters().listing.map(\.0)
                let near = known.min { editDistance($0, key) < editDistance($1, key) }!
                throw err(
                    "unknown parameter",
                    editDistance(near, key) <= 3 ? "did you mean \(near)?" : "known parameters: \(known.joined(separator: ", "))")
            }
        }
        // The old single mail_class: the class of both kinds unless a kind sets its own.
        if let legacy = legacyMailClass {
            p.usesDeprecatedMailClass = true
            if !seen.contains("mail_class.certificate") { p.mailClassCertificate = legacy }
            if !seen.contains("mail_class.notice") { p.mailClassNotice = legacy }
        }
        if let f = p.effectiveFrom, let t = p.effectiveTo, t < f {
            throw ParameterError(
                file: file, line: nil, parameter: "effective_to", problem: "\(t) is before effective_from \(f)",
                fix: "set effective_to on or after effective_from")
        }
        return p
    }

    /// Checks the parameters can be used for a run on `asOf`.
    public static func validate(_ p: InsurerParameters, for asOf: LocalDate, file: String) throws {
        if let f = p.effectiveFrom, asOf < f {
            throw ParameterError(
                file: file, line: nil, parameter: "effective_from",
                problem: "the file applies from \(f), but the run's as-of date is \(asOf)",
                fix: "run with an as-of date on or after \(f), or correct effective_from")
        }
        if let t = p.effectiveTo, asOf > t {
            throw ParameterError(
                file: file, line: nil, parameter: "effective_to",
                problem: "the file applies until \(t), but the run's as-of date is \(asOf)",
                fix: "put the parameters in force on \(asOf) in the file, or correct effective_to")
        }
    }

    /// Checks a version effective from `from` before it is stored: a common end date
    /// (`employee_validity = fixed:D`) must not lie before the version applies. (One beyond the
    /// legal maximum is allowed: each certificate is capped at valid_from + 5 years − 1 day,
    /// like every other cap, SPEC.md 3.)
    public static func validateVersion(_ p: InsurerParameters, from: LocalDate, file: String) throws {
        if case .fixed(let d) = p.employeeValidity {
            if d < from {
                throw ParameterError(
                    file: file, line: nil, parameter: "employee_validity",
                    problem: "the common end date \(d) is before the version applies (\(from))",
                    fix: "set the next common end date, on or after \(from)")
            }
        }
    }

    /// Levenshtein distance, for "did you mean" in messages.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var prev = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
