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
        #expect(p.mailClass == .ordinary && p.vendorEncoding == .utf8)
    }

    @Test("values, comments and blank lines")
    func values() throws {
        let p = try ParameterFile.parse("""
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
        #expect(!p.elderly85Continuation && p.vendorEncoding == .cp932 && p.mailClass == .tokuteiKiroku)
        #expect(p.insurerName == "千代田区国民健康保険")
        #expect(p.effectiveFrom == LocalDate("2026-04-01"))
    }

    @Test("bad files name the parameter, the line and the fix", arguments: [
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
        #expect(throws: ParameterError.self) { try ParameterFile.parse("effective_from = 2026-04-01\neffective_to = 2026-03-31", file: "x.conf") }
    }
}
