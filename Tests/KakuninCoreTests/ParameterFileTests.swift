import Foundation
import Testing

@testable import KakuninCore

@Suite("Insurer parameter files")
struct ParameterFileTests {
    @Test("an empty file is the defaults of SPEC.md 2.6")
    func defaults() throws {
        let p = try ParameterFile.parse("# nothing set\n", file: "x.conf")
        #expect(p == InsurerParameters())
        #expect(p.issueLeadDays == 40 && p.renewalMonth == 7 && p.renewalDay == 31 && p.minValidityDays == 60)
        #expect(p.validityYearsNHI == 1 && p.validityYearsElderly == 1 && p.validityYearsEmployee == 5)
        #expect(p.shortTermMonths == 2 && p.ecertGraceMonths == 3 && p.applyNoticeRepeatDays == 90 && p.elderly85Continuation)
        #expect(p.insurerName == nil)
        #expect(p.mailClassCertificate == .tokuteiKiroku && p.mailClassNotice == .ordinary && p.vendorEncoding == .utf8)
        #expect(p.noForwardingCertificate && !p.noForwardingNotice)
        #expect(p.postage(.ordinary) == 110 && p.postage(.tokuteiKiroku) == 320 && p.postage(.kaniKakitome) == 460)
        #expect(p.maxCharsName == 30 && p.maxCharsAddress == 60 && p.maxCharsAddressExtra == 40)
        #expect(!p.usesDeprecatedMailClass)
    }

    @Test("mail class per document kind; the old single mail_class sets both unless a kind sets its own, and is noted")
    func mailClasses() throws {
        var p = try ParameterFile.parse(
            "mail_class.notice = kani_kakitome\nno_forwarding.notice = on\npostage.kani_kakitome = 500\n", file: "x.conf")
        #expect(p.mailClassCertificate == .tokuteiKiroku && p.mailClassNotice == .kaniKakitome && p.noForwardingNotice)
        #expect(p.postage(.kaniKakitome) == 500)
        p = try ParameterFile.parse("mail_class.certificate = kani_kakitome\nmail_class = ordinary\n", file: "x.conf")
        #expect(p.mailClassCertificate == .kaniKakitome && p.mailClassNotice == .ordinary && p.usesDeprecatedMailClass)
        #expect(InsurerParameters.MailClass.ordinary < .tokuteiKiroku && InsurerParameters.MailClass.tokuteiKiroku < .kaniKakitome)
        // The listing reads back as the same parameters (what replay does with a run's record).
        let listed = p.listing.filter { !$0.1.isEmpty }.map { "\($0.0) = \($0.1)" }.joined(separator: "\n")
        var back = try ParameterFile.parse(listed, file: "listing")
        back.usesDeprecatedMailClass = true
        #expect(back == p)
    }

    @Test("values, comments and blank lines")
    func values() throws {
        let p = try ParameterFile.parse(
            """
            # Example insurer
            issue_lead_days = 45   # earlier mailing
            renewal_day = 03-31

            validity_years.employee = 3
            elderly_85_continuation = off
            insurer_name = 千代田区国民健康保険
            vendor_encoding = CP932
            mail_class = tokutei_kiroku
            effective_from = 2026-04-01
            """, file: "x.conf")
        #expect(p.issueLeadDays == 45 && p.renewalMonth == 3 && p.renewalDay == 31 && p.validityYearsEmployee == 3)
        #expect(
            !p.elderly85Continuation && p.vendorEncoding == .cp932 && p.mailClassCertificate == .tokuteiKiroku
                && p.mailClassNotice == .tokuteiKiroku)
        #expect(p.insurerName == "千代田区国民健康保険")
        #expect(p.effectiveFrom == LocalDate("2026-04-01"))
    }

    @Test(
        "bad files name the parameter, the line and the fix",
        arguments: [
            ("issue_lead_day = 40", "issue_lead_day", "did you mean issue_lead_days?"),
            ("issue_lead_days = 0", "issue_lead_days", "set issue_lead_days to a value from 1 to 365"),
            ("validity_years.nhi = 6", "validity_years.nhi", "set validity_years.nhi to a value from 1 to 5"),
            ("renewal_day = 02-29", "renewal_day", "write MM-DD, e.g. 07-31 (29 February is not allowed)"),
            ("mail_class = express", "mail_class", "use one of ordinary, tokutei_kiroku, kani_kakitome"),
            ("issue_lead_days = 40\nissue_lead_days = 41", "issue_lead_days", "keep one line for issue_lead_days"),
        ])
    func errors(_ text: String, _ parameter: String, _ fix: String) {
        let e = #expect(throws: ParameterError.self) { try ParameterFile.parse(text, file: "x.conf") }
        #expect(e?.parameter == parameter)
        #expect(e?.fix == fix)
        #expect(e?.line != nil)
    }

    @Test("a file is valid only for the dates it says")
    func effectiveDates() throws {
        let p = try ParameterFile.parse("effective_from = 2026-04-01\neffective_to = 2027-03-31", file: "x.conf")
        #expect(throws: Never.self) { try ParameterFile.validate(p, for: LocalDate("2026-11-21")!, file: "x.conf") }
        let e = #expect(throws: ParameterError.self) { try ParameterFile.validate(p, for: LocalDate("2027-04-01")!, file: "x.conf") }
        #expect(e?.parameter == "effective_to")
        #expect(throws: ParameterError.self) {
            try ParameterFile.parse("effective_from = 2026-04-01\neffective_to = 2026-03-31", file: "x.conf")
        }
    }
}

@Suite("Insurer parameters: the member letter's contact")
struct ContactParameterTests {
    @Test("contact_phone, contact_hours and contact_languages are optional, read back from the listing, and refuse bad values with the fix")
    func contact() throws {
        let none = try ParameterFile.parse("", file: "x.conf")
        #expect(none.contactPhone == nil && none.contactHours == nil && none.contactLanguages.isEmpty)
        let p = try ParameterFile.parse(
            "contact_phone = 03-1234-5678\ncontact_hours = 平日 8:30–17:15\ncontact_languages = ja, en,PT\n", file: "x.conf")
        #expect(p.contactPhone == "03-1234-5678" && p.contactHours == "平日 8:30–17:15" && p.contactLanguages == ["ja", "en", "pt"])
        let listed = p.listing.filter { !$0.1.isEmpty }.map { "\($0.0) = \($0.1)" }.joined(separator: "\n")
        #expect(try ParameterFile.parse(listed, file: "listing") == p)
        let badPhone = #expect(throws: ParameterError.self) { try ParameterFile.parse("contact_phone = call us", file: "x.conf") }
        #expect(badPhone?.parameter == "contact_phone" && badPhone?.fix.contains("03-1234-5678") == true)
        let badLanguage = #expect(throws: ParameterError.self) { try ParameterFile.parse("contact_languages = ja,fr", file: "x.conf") }
        #expect(badLanguage?.problem.contains("\"fr\"") == true && badLanguage?.fix.contains("ne") == true)
    }

    @Test("example.conf documents the contact parameters")
    func documented() throws {
        let example = try String(
            contentsOfFile: #filePath.replacingOccurrences(
                of: "Tests/KakuninCoreTests/ParameterFileTests.swift", with: "jobs/insurers/example.conf"), encoding: .utf8)
        for name in ["contact_phone", "contact_hours", "contact_languages"] { #expect(example.contains("# \(name) ="), "\(name)") }
    }
}
