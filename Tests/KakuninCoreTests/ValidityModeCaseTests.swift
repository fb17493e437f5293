import Testing

@testable import KakuninCore

/// An nhi member born 1955-06-10: attained 70 on 2025-06-09, 75th birthday 2030-06-10.
private func seventyOne(myna: MynaStatus? = Myna.noCard, _ edit: (inout MemberFacts) -> Void = { _ in }) -> MemberFacts {
    member(born: "1955-06-10", qualified: "2000-01-01", myna: myna, edit)
}

@Suite("Policy: SPEC.md 3 [2026-12] — nhi members aged 70–74")
struct SeventyToSeventyFourCaseTests {
    static let cases: [Case] = [
        // Certificates: the first renewal day on or after valid_from, never extended.
        Case(
            name: "70–74: the renewal day 51 days away is kept (min_validity_days does not extend)",
            facts: seventyOne(), asOf: "2027-06-10", outcome: .issue, reasons: [.NO_CARD], from: "2027-06-10", to: "2027-07-31"),
        Case(
            name: "under 70, same dates: min_validity_days moves the end a year on",
            facts: member(born: "1960-06-10", qualified: "2000-01-01"), asOf: "2027-06-10", outcome: .issue, reasons: [.NO_CARD],
            from: "2027-06-10", to: "2028-07-31"),
        Case(
            name: "70–74: min_validity_days = 364 does not extend either",
            facts: seventyOne(), asOf: "2027-07-01", parameters: params { $0.minValidityDays = 364 },
            outcome: .issue, reasons: [.NO_CARD], from: "2027-07-01", to: "2027-07-31"),
        Case(
            name: "70–74: validity_years.nhi = 3 does not extend",
            facts: seventyOne(), asOf: "2026-11-21", parameters: params { $0.validityYearsNHI = 3 },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "70–74: S = 07-31 gives one day", facts: seventyOne(), asOf: "2027-07-31",
            outcome: .issue, reasons: [.NO_CARD], from: "2027-07-31", to: "2027-07-31"),
        Case(
            name: "70–74: S = 08-01 runs to the next 07-31", facts: seventyOne(), asOf: "2027-08-01",
            outcome: .issue, reasons: [.NO_CARD], from: "2027-08-01", to: "2028-07-31"),
        Case(
            name: "70–74: renewal of a certificate ending 07-31 is due when 08-01 is within the horizon",
            facts: seventyOne { $0.latestCertificate = cert("2026-08-01", "2027-07-31") }, asOf: "2027-06-22",
            outcome: .renew, reasons: [.NO_CARD], from: "2027-08-01", to: "2028-07-31"),
        Case(
            name: "70–74: one day earlier it is not due yet",
            facts: seventyOne { $0.latestCertificate = cert("2026-08-01", "2027-07-31") }, asOf: "2027-06-21",
            outcome: .none, reasons: [.COVERED]),
        Case(
            name: "70–74: the 75th birthday still caps (day before)",
            facts: member(born: "1953-03-10", qualified: "2000-01-01"), asOf: "2027-08-01", outcome: .issue, reasons: [.NO_CARD],
            from: "2027-08-01", to: "2028-03-09"),
        // Around the 70th-birthday month: born on the 1st attains 70 in the previous month.
        Case(
            name: "born 09-01: attains 70 on 08-31; S = 08-31 ends with that month (turning 70)",
            facts: member(born: "1956-09-01", qualified: "2000-01-01"), asOf: "2026-08-31", outcome: .issue, reasons: [.NO_CARD],
            from: "2026-08-31", to: "2026-08-31"),
        Case(
            name: "born 09-01: S = 09-01, attained 70: to the first renewal day",
            facts: member(born: "1956-09-01", qualified: "2000-01-01"), asOf: "2026-09-01", outcome: .issue, reasons: [.NO_CARD],
            from: "2026-09-01", to: "2027-07-31"),
        Case(
            name: "born 09-02: attains 70 on 09-01; S = 09-01 ends with September (turning 70)",
            facts: member(born: "1956-09-02", qualified: "2000-01-01"), asOf: "2026-09-01", outcome: .issue, reasons: [.NO_CARD],
            from: "2026-09-01", to: "2026-09-30"),
        Case(
            name: "born 09-02: S = 10-01, attained 70: to the first renewal day",
            facts: member(born: "1956-09-02", qualified: "2000-01-01"), asOf: "2026-10-01", outcome: .issue, reasons: [.NO_CARD],
            from: "2026-10-01", to: "2027-07-31"),
        Case(
            name: "born 08-01: attains 70 on 07-31; S = 07-31 gives one day, the renewal day",
            facts: member(born: "1956-08-01", qualified: "2000-01-01"), asOf: "2026-07-31", outcome: .issue, reasons: [.NO_CARD],
            from: "2026-07-31", to: "2026-07-31"),
        Case(
            name: "born 08-02: attains 70 on 08-01; S = 08-01 ends with August (turning 70), not at 07-31",
            facts: member(born: "1956-08-02", qualified: "2000-01-01"), asOf: "2026-08-01", outcome: .issue, reasons: [.NO_CARD],
            from: "2026-08-01", to: "2026-08-31"),
        Case(
            name: "employee aged 71: no 70–74 cap", facts: member(.employee, born: "1955-06-10", qualified: "2000-01-01"),
            asOf: "2027-06-10",
            outcome: .issue, reasons: [.NO_CARD], from: "2027-06-10", to: "2030-06-09"),
        // Eligibility notices with 有効期限.
        Case(
            name: "notice to a member aged 70–74 carries 有効期限 (the certificate's valid_to)",
            facts: seventyOne(myna: Myna.usable), outcome: .eligibilityNotice, reasons: [.MYNA_USABLE], from: "2026-11-21", to: "2027-07-31"
        ),
        Case(
            name: "notice 有効期限 not extended by min_validity_days",
            facts: seventyOne(myna: Myna.usable), asOf: "2027-06-10", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE],
            from: "2027-06-10", to: "2027-07-31"),
        Case(
            name: "notice valid to 07-31, horizon 07-31: still current",
            facts: seventyOne(myna: Myna.usable) {
                $0.eligibilityNoticeSent = true
                $0.eligibilityNoticeValidTo = d("2027-07-31")
            },
            asOf: "2027-06-21", outcome: .none, reasons: [.MYNA_USABLE]),
        Case(
            name: "notice valid to 07-31, horizon 08-01: lapsed, a new one from 08-01",
            facts: seventyOne(myna: Myna.usable) {
                $0.eligibilityNoticeSent = true
                $0.eligibilityNoticeValidTo = d("2027-07-31")
            },
            asOf: "2027-06-22", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE], from: "2027-08-01", to: "2028-07-31"),
        Case(
            name: "a notice with the current details but no 有効期限 (sent before 70): a dated one now",
            facts: seventyOne(myna: Myna.usable) { $0.eligibilityNoticeSent = true }, outcome: .eligibilityNotice, reasons: [.MYNA_USABLE],
            from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "a dated notice that ended before the as-of date: a new one from S",
            facts: seventyOne(myna: Myna.usable) {
                $0.eligibilityNoticeSent = true
                $0.eligibilityNoticeValidTo = d("2026-07-31")
            },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "a dated notice ending the day before the 75th birthday: nothing more",
            facts: member(born: "1952-02-10", qualified: "2000-01-01", myna: Myna.usable) {
                $0.eligibilityNoticeSent = true
                $0.eligibilityNoticeValidTo = d("2027-02-09")
            },
            asOf: "2027-01-05", outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "born 12-02, attains 70 on 12-01 after S = 11-21: a notice without 有効期限",
            facts: member(born: "1956-12-02", qualified: "2000-01-01", myna: Myna.usable), outcome: .eligibilityNotice,
            reasons: [.MYNA_USABLE]),
        Case(
            name: "under 70 with a notice sent: none, no validity date (unchanged)",
            facts: member(myna: Myna.usable) { $0.eligibilityNoticeSent = true }, outcome: .none, reasons: [.MYNA_USABLE]),
        Case(
            name: "employee aged 71: notice without 有効期限, sent once",
            facts: member(.employee, born: "1955-06-10", qualified: "2000-01-01", myna: Myna.usable) { $0.eligibilityNoticeSent = true },
            outcome: .none, reasons: [.MYNA_USABLE]),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("the cap that set the date is named: 70–74 first renewal day, turning 70")
    func caps() {
        let p = Policy(parameters: InsurerParameters())
        #expect(p.decide(seventyOne(), asOf: d("2027-06-10")).validityCap == .nhi70to74)
        #expect(p.decide(seventyOne(myna: Myna.usable), asOf: d("2027-06-10")).validityCap == .nhi70to74)
        #expect(p.decide(member(born: "1956-09-02", qualified: "2000-01-01"), asOf: d("2026-09-01")).validityCap == .turning70)
        let (_, steps) = p.explain(
            seventyOne(myna: Myna.usable) {
                $0.eligibilityNoticeSent = true
                $0.eligibilityNoticeValidTo = d("2027-07-31")
            },
            asOf: d("2027-06-22"))
        #expect(steps.contains { $0.contains("a new one is due") && $0.contains("SPEC.md 3 [2026-12]") })
    }
}

@Suite("Policy: SPEC.md 2.6, 3 [2026-12] — employee_validity and residence_cap")
struct ValidityModeCaseTests {
    static func fixed(_ s: String) -> InsurerParameters { params { $0.employeeValidity = .fixed(d(s)) } }
    static let yearEnd = params { $0.employeeValidity = .yearEnd }
    static let dayAfter = params { $0.residenceCap = .dayAfter }

    static let cases: [Case] = [
        Case(
            name: "rolling (default): valid_from + 5 years − 1 day", facts: member(.employee), outcome: .issue, reasons: [.NO_CARD],
            from: "2026-11-21", to: "2031-11-20"),
        Case(
            name: "fixed: the common end date", facts: member(.employee), parameters: fixed("2030-11-30"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2030-11-30"),
        Case(
            name: "fixed on valid_from: one day", facts: member(.employee), parameters: fixed("2026-11-21"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2026-11-21"),
        Case(
            name: "fixed before valid_from (passed, no next date set): the rolling end", facts: member(.employee),
            parameters: fixed("2026-11-20"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2031-11-20"),
        Case(
            name: "fixed beyond the legal maximum: capped at valid_from + 5 years − 1 day", facts: member(.employee),
            parameters: fixed("2031-11-21"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2031-11-20"),
        Case(
            name: "fixed on the legal maximum exactly", facts: member(.employee), parameters: fixed("2031-11-20"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2031-11-20"),
        Case(
            name: "fixed: the 75th birthday still caps", facts: member(.employee, born: "1953-03-10", qualified: "2000-01-01"),
            parameters: fixed("2030-11-30"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2028-03-09"),
        Case(
            name: "fixed does not apply to nhi", facts: member(), parameters: fixed("2030-11-30"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "year_end: S 12-31, 5 years → 31 December four years on", facts: member(.employee), asOf: "2026-12-31",
            parameters: yearEnd,
            outcome: .issue, reasons: [.NO_CARD], from: "2026-12-31", to: "2030-12-31"),
        Case(
            name: "year_end: S 01-01 → 31 December four years on (= the legal maximum)", facts: member(.employee), asOf: "2027-01-01",
            parameters: yearEnd,
            outcome: .issue, reasons: [.NO_CARD], from: "2027-01-01", to: "2031-12-31"),
        Case(
            name: "year_end, validity_years 1: S 12-31 gives one day", facts: member(.employee), asOf: "2026-12-31",
            parameters: params {
                $0.employeeValidity = .yearEnd
                $0.validityYearsEmployee = 1
            },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-12-31", to: "2026-12-31"),
        Case(
            name: "year_end, validity_years 1: S 01-01 runs the whole year", facts: member(.employee), asOf: "2027-01-01",
            parameters: params {
                $0.employeeValidity = .yearEnd
                $0.validityYearsEmployee = 1
            },
            outcome: .issue, reasons: [.NO_CARD], from: "2027-01-01", to: "2027-12-31"),
        Case(
            name: "year_end: disqualification still caps", facts: member(.employee) { $0.disqualifiedOn = d("2027-02-01") },
            parameters: yearEnd,
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-01-31"),
        Case(
            name: "residence_cap = expiry (default): valid_to is the expiry", facts: member { $0.residenceExpiry = d("2027-03-15") },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-03-15"),
        Case(
            name: "residence_cap = day_after: the day after the expiry", facts: member { $0.residenceExpiry = d("2027-03-15") },
            parameters: dayAfter,
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-03-16"),
        Case(
            name: "day_after: expiry = S gives two days", facts: member { $0.residenceExpiry = d("2026-11-21") }, parameters: dayAfter,
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2026-11-22"),
        Case(
            name: "expiry: expiry = S gives one day", facts: member { $0.residenceExpiry = d("2026-11-21") },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2026-11-21"),
        Case(
            name: "day_after: never starts after the period of stay (expiry = S − 1: held)",
            facts: member { $0.residenceExpiry = d("2026-11-20") },
            parameters: dayAfter, outcome: .held, reasons: [.NO_CARD, .RESIDENCE_EXPIRED]),
        Case(
            name: "day_after: the renewal day 07-31 still caps an expiry of 07-31", facts: member { $0.residenceExpiry = d("2027-07-31") },
            parameters: dayAfter, outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "day_after: an employee's disqualification the day after the expiry caps first",
            facts: member(.employee) {
                $0.residenceExpiry = d("2027-03-15")
                $0.disqualifiedOn = d("2027-03-16")
            }, parameters: dayAfter,
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-03-15"),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("explanations name the mode that set the date")
    func modesNamed() {
        func steps(_ p: InsurerParameters, _ f: MemberFacts) -> (ValidityCap?, String) {
            let (decision, steps) = Policy(parameters: p).explain(f, asOf: d("2026-11-21"))
            return (decision.validityCap, steps.joined(separator: "\n"))
        }
        let fixed = steps(Self.fixed("2030-11-30"), member(.employee))
        #expect(fixed.0 == .employeeFixed && fixed.1.contains("employee_validity = fixed"))
        let yearEnd = steps(Self.yearEnd, member(.employee))
        #expect(yearEnd.0 == .employeeYearEnd && yearEnd.1.contains("employee_validity = year_end"))
        let rolling = steps(InsurerParameters(), member(.employee))
        #expect(rolling.0 == .schemeEnd && rolling.1.contains("employee_validity = rolling"))
        let passed = steps(Self.fixed("2026-11-20"), member(.employee))
        #expect(passed.0 == .schemeEnd && passed.1.contains("employee_validity = rolling"))
        let dayAfter = steps(Self.dayAfter, member { $0.residenceExpiry = d("2027-03-15") })
        #expect(dayAfter.0 == .residenceDayAfter && dayAfter.1.contains("residence_cap = day_after"))
    }
}

@Suite("Parameters: employee_validity and residence_cap [2026-12]")
struct ValidityModeParameterTests {
    @Test("defaults, values and the listing")
    func values() throws {
        let defaults = try ParameterFile.parse("", file: "x.conf")
        #expect(defaults.employeeValidity == .rolling && defaults.residenceCap == .expiry)
        #expect(defaults.listing.contains { $0 == ("employee_validity", "rolling") })
        #expect(defaults.listing.contains { $0 == ("residence_cap", "expiry") })
        let p = try ParameterFile.parse("employee_validity = fixed:2030-11-30\nresidence_cap = day_after", file: "x.conf")
        #expect(p.employeeValidity == .fixed(d("2030-11-30")) && p.residenceCap == .dayAfter)
        #expect(p.listing.contains { $0 == ("employee_validity", "fixed:2030-11-30") })
        // The listing reads back to the same parameters (versions are stored as listings).
        let text = p.listing.filter { !$0.1.isEmpty }.map { "\($0.0) = \($0.1)" }.joined(separator: "\n")
        #expect(try ParameterFile.parse(text, file: "x.conf").employeeValidity == .fixed(d("2030-11-30")))
        #expect(try ParameterFile.parse("employee_validity = year_end", file: "x.conf").employeeValidity == .yearEnd)
    }

    @Test(
        "bad values name the file, the line, the parameter and the fix",
        arguments: [
            ("employee_validity = fixed:2030-02-30", "employee_validity", "is not a valid date"),
            ("employee_validity = fixed:2030-11", "employee_validity", "is not a valid date"),
            ("employee_validity = fixed:2100-01-01", "employee_validity", "is not a valid date"),
            ("employee_validity = monthly", "employee_validity", "unknown value"),
            ("# c\nresidence_cap = before", "residence_cap", "unknown value"),
        ])
    func errors(_ text: String, _ parameter: String, _ problem: String) {
        let e = #expect(throws: ParameterError.self) { try ParameterFile.parse(text, file: "x.conf") }
        #expect(e?.parameter == parameter)
        #expect(e?.problem.contains(problem) == true)
        #expect(e?.line == text.split(separator: "\n").count)
        #expect(e?.description.hasPrefix("x.conf:") == true)
        #expect(e?.fix.isEmpty == false)
    }

    @Test("a version whose common end date is before it applies is refused")
    func fixedBeforeVersion() throws {
        let p = try ParameterFile.parse("employee_validity = fixed:2030-11-30", file: "x.conf")
        #expect(throws: Never.self) { try ParameterFile.validateVersion(p, from: d("2030-11-30"), file: "x.conf") }
        let e = #expect(throws: ParameterError.self) { try ParameterFile.validateVersion(p, from: d("2030-12-01"), file: "x.conf") }
        #expect(e?.parameter == "employee_validity")
    }
}
