import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore

/// Counter issuance (即日交付, SPEC.md 7): decide one member now with the nightly run's policy
/// and, if the outcome issues a certificate, issue it in one transaction.
extension CounterDesk {
    /// The advisory lock (transaction-scoped) that counter issues of an insurer hold for their
    /// whole short transaction and a nightly run takes only for the moment before its commit.
    public static func issueLockKey(_ insurer: String) -> String { IssueLock.key(insurer) }

    /// A certificate as issued, with everything printed on it (SPEC.md 5.1). Field names are
    /// stable (`--format json`, README).
    public struct IssuedCertificate: Codable, Sendable {
        public let insurer_number: String
        public let insurer_name: String?
        public let certificate_number: Int64
        public let member_id: String
        public let kind: String
        public let reasons: [String]
        public let valid_from: String
        public let valid_to: String
        public let valid_to_era: String
        public let issued_on: String
        public let issued_on_era: String
        public let replaces_certificate_number: Int64?
        public let application_id: Int64?
        public let scheme: String
        public let family_name: String
        public let given_name: String?
        public let family_name_kana: String?
        public let given_name_kana: String?
        public let birth_date: String
        public let birth_date_era: String
        public let sex: String
        public let symbol: String?
        public let number: String
        public let branch: String?
        /// Printed only for nhi members aged 70–74 and every elderly member; nil otherwise.
        public let copay_ratio: Int?
        public let copay_effective_on: String?
        public let copay_effective_on_era: String?
        public let issued_by: String
        /// [2026-12] SPEC.md 5.1 (`PrintedDetails`): standard or special_care (特別療養), the title,
        /// the copay line (「3割」, 「法定負担割合のとおり」; nil: none printed) and the optional
        /// entries as printed (「＊」 for none).
        public let variant: String
        public let title: String
        public let copay_text: String?
        public let limit_category: String
        public let limit_effective_on: String?
        public let limit_effective_on_era: String
        public let long_stay_on: String?
        public let long_stay_on_era: String
        public let specific_disease: String
        /// The member's `preferred_language`: the language of the letter printed with it (SPEC.md 5.2).
        public var preferred_language: String? = nil
    }

    public enum CounterIssueResult: Sendable {
        case issued(IssuedCertificate)
        /// The policy issues nothing for this member today: the decision and why, step by step.
        case nothing(Decision, steps: [String])
    }

    /// Decides `memberID` as of `asOf` and, when the outcome issues a certificate, issues it:
    /// the insurer's next number, the application fulfilled, a replaced certificate voided
    /// (reissue), open returned mail resolved (the document is handed over), the audit event.
    /// The document is handed over in person, so what only stops the mail (no usable address,
    /// returned mail, no household head) does not stop it here.
    public func issue(
        insurer: InsurerNumber, memberID: MemberID, asOf: LocalDate, parameters: LoadedParameters
    ) throws -> CounterIssueResult {
        let insurer = insurer.text
        let memberID = memberID.text
        try requireMember(insurer, memberID)
        return try db.transaction {
            // Counter issues of the insurer take turns (two clerks, one member: one certificate),
            // and a nightly run's last check before its commit waits for this transaction.
            try db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [Self.issueLockKey(insurer)])
            let (row, facts) = try counterFacts(insurer: insurer, memberID: memberID, asOf: asOf, parameters: parameters)
            let (d, steps) = Policy(parameters: parameters.parameters).explain(facts, asOf: asOf)
            TestPause.hit("counter:decided")
            guard d.outcome.issuesCertificate, let from = d.validFrom, let to = d.validTo else { return .nothing(d, steps: steps) }
            // The new certificate's printed snapshot (SPEC.md 2.5 [2026-12]), stored by the
            // trigger of sql/031 from this transaction-local setting.
            if let snapshot = try MemberFactsQuery.printedSnapshot(
                ofRow: row, validFrom: from, issuedOn: asOf,
                insurerName: parameters.parameters.insurerName)
            {
                _ = try db.query("SELECT set_config('kakunin.printed_snapshot', $1, true)", [snapshot.hex])
            }
            let kind = d.replacesCertificate != nil ? "reissue" : d.outcome.rawValue
            let reasons = d.reasons.sorted.map(\.rawValue)
            var details: [String: Any] = [
                "kind": kind, "reasons": reasons, "valid_from": from.description,
                "valid_to": to.description, "issued_on": asOf.description,
            ]
            if let r = d.replacesCertificate { details["replaces_certificate_number"] = r }
            if let a = d.applicationID { details["application_id"] = a }
            // One function takes the number, inserts the certificate, voids the one it replaces,
            // fulfils the application, resolves returned mail and writes `counter_issued` (sql/020):
            // a row changed meanwhile (a void racing a reissue) fails the issue. Sealed, the event
            // is followed in the log by the certificate's own entry.
            let number = try Self.counterRule {
                Int64(
                    try db.query(
                        """
                        SELECT counter_issue_certificate($1, $2, $3, $4::text[], $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)
                        """,
                        [
                            insurer, memberID, kind, "{\(reasons.joined(separator: ","))}", from.description, to.description,
                            asOf.description, d.replacesCertificate.map(String.init), d.applicationID.map(String.init),
                            d.specialConsideration ? "t" : "f", d.recordsConsiderationOn.map(String.init), person, json(details),
                        ]
                    ).scalar!)!
            }
            return .issued(
                try printed(
                    insurer: insurer, memberID: memberID, number: number, kind: kind, reasons: reasons, from: from, to: to,
                    issuedOn: asOf, replaces: d.replacesCertificate, application: d.applicationID, parameters: parameters))
        }
    }

    /// What a counter issue would do now, without doing it (the console's confirmation step):
    /// the nightly policy, with what only stops the mail set aside.
    public func counterDecision(
        insurer: InsurerNumber, memberID: MemberID, asOf: LocalDate, parameters: LoadedParameters
    ) throws -> (Decision, [TraceStep]) {
        let insurer = insurer.text
        let memberID = memberID.text
        let (_, facts) = try counterFacts(insurer: insurer, memberID: memberID, asOf: asOf, parameters: parameters)
        return Policy(parameters: parameters.parameters).trace(facts, asOf: asOf)
    }

    /// The member's facts row and facts as the counter decides them: what only stops the mail set aside.
    private func counterFacts(
        insurer: String, memberID: String, asOf: LocalDate, parameters: LoadedParameters
    ) throws -> ([String?], MemberFacts) {
        guard let row = try db.query(MemberFactsQuery.sql(oneMember: true), [insurer, asOf.description, memberID]).rows.first else {
            throw OperatorError(.notFound, "insurer \(insurer) has no member \(memberID)", fix: "kakunin member find")
        }
        var facts = try MemberFactsQuery.facts(ofRow: row, insurerName: parameters.parameters.insurerName)
        facts.deliverable = true
        facts.mailReturned = false
        facts.householdHeads = 1
        return (row, facts)
    }

    /// An active certificate as printed, to hand over at the counter: one whose mailing record
    /// waits in the exceptions (a character the vendor's encoding lacks, a field too long), or
    /// one that came back undelivered. Recorded as `certificate_printed`.
    public func reprint(insurer: InsurerNumber, certificate: Int64, parameters: LoadedParameters) throws -> IssuedCertificate {
        let insurer = insurer.text
        try requireInsurer(insurer)
        return try db.transaction {
            let c = try record(
                insurer, .certificate(certificate),
                columns: """
                    member_id, kind, array_to_string(reasons, ','), valid_from::text, valid_to::text, issued_on::text, status,
                    replaces_certificate_number::text, application_id::text, mail_exception
                    """)
            guard c.optionalText(6) == "active" else {
                throw OperatorError(
                    .conflict, "certificate \(certificate) is \(c.shown(6)): only an active certificate is printed",
                    fix: "issue at the counter instead (kakunin counter issue)")
            }
            var details: [String: Any] = ["certificate_number": certificate]
            if let why = c.optionalText(9) { details["mail_exception"] = why }
            let member = try c.text(0)
            try audit("certificate_printed", insurer, member, details)
            return try printed(
                insurer: insurer, memberID: member, number: certificate, kind: try c.text(1),
                reasons: (c.optionalText(2) ?? "").split(separator: ",").map(String.init),
                from: try c.date(3), to: try c.date(4), issuedOn: try c.date(5),
                replaces: try c.optionalInt64(7), application: try c.optionalInt64(8), parameters: parameters)
        }
    }

    private func printed(
        insurer: String, memberID: String, number: Int64, kind: String, reasons: [String], from: LocalDate, to: LocalDate,
        issuedOn: LocalDate, replaces: Int64?, application: Int64?, parameters: LoadedParameters
    ) throws -> IssuedCertificate {
        let m = try db.query(
            """
            SELECT m.scheme, m.family_name, m.given_name, m.family_name_kana, m.given_name_kana, m.birth_date::text, m.sex, m.symbol, m.number,
                   m.branch, \(Self.printedColumns.dropFirst(2).map { "m.\($0)::text" }.joined(separator: ", ")), m.preferred_language
            FROM member m WHERE m.insurer_number = $1 AND m.member_id = $2
            """, [insurer, memberID]
        ).firstRow
        guard let m else { throw OperatorError(.notFound, "insurer \(insurer) has no member \(memberID)", fix: "kakunin member find") }
        let birth = try m.date(5)
        let columns = ["scheme", "", "", "", "", "birth_date", "", "", "", ""] + Self.printedColumns.dropFirst(2)
        guard let member = Self.printedMember({ n in columns.firstIndex(of: n).flatMap { m.optionalText($0) } }) else {
            throw OperatorError(.internalError, "member \(memberID) has no scheme or birth date")
        }
        let d = PrintedDetails(member, .certificate, validFrom: from, issuedOn: issuedOn)
        func era(_ d: LocalDate) -> String { JapaneseEra.format(d) ?? d.description }
        let e = d.entries!
        return IssuedCertificate(
            insurer_number: insurer, insurer_name: parameters.parameters.insurerName, certificate_number: number, member_id: memberID,
            kind: kind, reasons: reasons, valid_from: from.description, valid_to: to.description, valid_to_era: era(to),
            issued_on: issuedOn.description, issued_on_era: era(issuedOn), replaces_certificate_number: replaces,
            application_id: application, scheme: try m.text(0), family_name: try m.text(1), given_name: m.optionalText(2),
            family_name_kana: m.optionalText(3), given_name_kana: m.optionalText(4),
            birth_date: birth.description, birth_date_era: era(birth), sex: try m.text(6), symbol: m.optionalText(7), number: try m.text(8),
            branch: m.optionalText(9),
            copay_ratio: d.copayRatio, copay_effective_on: d.copayEffectiveOn?.description,
            copay_effective_on_era: d.copayEffectiveOn.map(era),
            issued_by: person, variant: d.variant.rawValue, title: d.title, copay_text: d.copayText,
            limit_category: e.limitCategory, limit_effective_on: e.limitEffectiveOn?.description,
            limit_effective_on_era: PrintedDetails.printed(e.limitEffectiveOn), long_stay_on: e.longStayOn?.description,
            long_stay_on_era: PrintedDetails.printed(e.longStayOn), specific_disease: e.specificDisease,
            preferred_language: m.optionalText(m.values.count - 1))  // the last column
    }

    /// The member columns `PrintedDetails` reads.
    static let printedColumns = [
        "scheme", "birth_date", "copay_ratio", "copay_effective_on", "special_care", "limit_category",
        "limit_effective_on", "long_stay_on", "specific_disease",
    ]

    /// The member's printed entries from its columns as text (`value` by column name; nil for
    /// NULL), e.g. a row of `printedColumns` or the member of `show`.
    public static func printedMember(_ value: (String) -> String?) -> PrintedMember? {
        func date(_ name: String) -> LocalDate? { value(name).flatMap { LocalDate(stored: $0) } }
        guard let scheme = value("scheme").flatMap(Scheme.init(rawValue:)), let birth = date("birth_date") else { return nil }
        return PrintedMember(
            scheme: scheme, birthDate: birth, copayRatio: value("copay_ratio").flatMap { Int($0) },
            copayEffectiveOn: date("copay_effective_on"), specialCare: value("special_care") == "true",
            limitCategory: value("limit_category"), limitEffectiveOn: date("limit_effective_on"),
            longStayOn: date("long_stay_on"), specificDisease: value("specific_disease"))
    }
}
