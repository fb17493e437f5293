import Testing

@testable import KakuninCore

/// Myna statuses with the usage columns of myna_status.csv [2026-12] (SPEC.md 4).
enum Usage {
    static func status(_ asOf: String = "2026-07-31", uses: Int? = 12, last: String? = "2026-07-20") -> MynaStatus {
        var m = Myna.usable
        m.statusAsOf = d(asOf)
        m.uses12m = uses
        m.lastUsedOn = last.map(d)
        return m
    }
    /// Used every month: passes the usage test with the default parameters.
    static let regular = status()
}

/// SPEC.md 2.4 [2026-12]: from 2026-08-01 the 85 test takes the age on the reference date of
/// `elderly_85_reference`, and elderly members aged 84 or under on it whose Myna card is usable
/// get a certificate unless the latest Myna status shows enough use (the usage test).
@Suite("Policy: SPEC.md 2.4 — elderly from 2026-08-01: 85 reference and usage test")
struct ElderlyUsageCaseTests {
    /// Born 1950-03-03 (76 on 2026-08-01), no certificate: S = D.
    static func elderly(_ myna: MynaStatus?, born: String = "1950-03-03", _ edit: (inout MemberFacts) -> Void = { _ in }) -> MemberFacts {
        member(.elderly, born: born, qualified: "2025-03-02", myna: myna, edit)
    }
    static let renewal = params { $0.elderly85Reference = .renewal }

    static let usageCases: [Case] = [
        // Use known and enough: the other rules decide (an eligibility notice).
        Case(
            name: "6 uses in 12 months and a use 11 days before status_as_of: passes, eligibility notice",
            facts: elderly(Usage.status(uses: 6)), asOf: "2026-09-01", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "passes, notice with the current details already sent: none",
            facts: elderly(Usage.regular) { $0.eligibilityNoticeSent = true }, asOf: "2026-09-01", outcome: .none, reasons: [.MYNA_USABLE]),
        Case(
            name: "5 uses in 12 months (one fewer than elderly_min_uses_12m = 6): certificate",
            facts: elderly(Usage.status(uses: 5)), asOf: "2026-09-01",
            outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE], from: "2026-09-01", to: "2027-07-31"),
        Case(
            name: "0 uses: certificate", facts: elderly(Usage.status(uses: 0, last: nil)), asOf: "2026-09-01",
            outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        // Unknown use fails safe.
        Case(
            name: "today's myna_status without the usage columns: use unknown, certificate",
            facts: elderly(Myna.usable), asOf: "2026-09-01", outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        Case(
            name: "uses_12m blank, a recent use: unknown count, certificate",
            facts: elderly(Usage.status(uses: nil)), asOf: "2026-09-01", outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        Case(
            name: "12 uses, last_used_on blank: no recent use on record, certificate",
            facts: elderly(Usage.status(uses: 12, last: nil)), asOf: "2026-09-01", outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        // 3 months before status_as_of: last_used_on ≥ status_as_of − 3 months.
        Case(
            name: "last use exactly 3 months before status_as_of (2026-04-30 for 2026-07-31): passes",
            facts: elderly(Usage.status(last: "2026-04-30")), asOf: "2026-09-01", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "last use one day earlier (2026-04-29): certificate",
            facts: elderly(Usage.status(last: "2026-04-29")), asOf: "2026-09-01", outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        Case(
            name: "status of 2026-05-31: 3 months before is 2026-02-28 (month end), a use on it passes",
            facts: elderly(Usage.status("2026-05-31", last: "2026-02-28")), asOf: "2026-09-01", outcome: .eligibilityNotice,
            reasons: [.MYNA_USABLE]),
        Case(
            name: "status of 2026-05-31, last use 2026-02-27: certificate",
            facts: elderly(Usage.status("2026-05-31", last: "2026-02-27")), asOf: "2026-09-01", outcome: .issue,
            reasons: [.ELDERLY_LOW_MYNA_USE]),
        Case(
            name: "status of 2028-05-31 (leap year): 3 months before is 2028-02-29, a use on it passes",
            facts: elderly(Usage.status("2028-05-31", last: "2028-02-29")), asOf: "2028-06-10", outcome: .eligibilityNotice,
            reasons: [.MYNA_USABLE]),
        Case(
            name: "the 3 months count back from status_as_of, not from the as-of date",
            facts: elderly(Usage.status("2026-06-30", last: "2026-04-01")), asOf: "2026-11-21", outcome: .eligibilityNotice,
            reasons: [.MYNA_USABLE]),
        // Parameters.
        Case(
            name: "elderly_min_uses_3m = 0: no recent use needed, last_used_on blank passes",
            facts: elderly(Usage.status(uses: 6, last: nil)), asOf: "2026-09-01", parameters: params { $0.elderlyMinUses3m = 0 },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "elderly_min_uses_12m = 0: the count is not needed, a blank one passes with a recent use",
            facts: elderly(Usage.status(uses: nil)), asOf: "2026-09-01", parameters: params { $0.elderlyMinUses12m = 0 },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "elderly_min_uses_12m = 10: 9 uses fail",
            facts: elderly(Usage.status(uses: 9)), asOf: "2026-09-01", parameters: params { $0.elderlyMinUses12m = 10 },
            outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        Case(
            name: "elderly_usage_test off: use unknown, eligibility notice as before 2026-12",
            facts: elderly(Myna.usable), asOf: "2026-09-01", parameters: params { $0.elderlyUsageTest = false },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        // Only members whose card is usable are tested; the others keep their rules.
        Case(
            name: "no card: NO_CARD, not the usage test", facts: elderly(Myna.noCard), asOf: "2026-09-01",
            outcome: .issue, reasons: [.NO_CARD]),
        Case(
            name: "card suspended: application guidance, not the usage test",
            facts: elderly(Myna.card(.registered, .suspended)), asOf: "2026-09-01", outcome: .applyNotice, reasons: [.CARD_SUSPENDED]),
        Case(
            name: "e-cert lapsing before the horizon: ECERT_EXPIRED (the card is not usable)",
            facts: elderly(Myna.card(ecert: "2026-05-31")), asOf: "2026-09-01", outcome: .issue, reasons: [.ECERT_EXPIRED]),
        Case(
            name: "nhi members are not tested", facts: member(.nhi, born: "1960-03-03", myna: Myna.usable), asOf: "2026-09-01",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "undeliverable: held with ELDERLY_LOW_MYNA_USE and MISSING_ADDRESS",
            facts: elderly(Myna.usable) { $0.deliverable = false }, asOf: "2026-09-01", outcome: .held,
            reasons: [.ELDERLY_LOW_MYNA_USE, .MISSING_ADDRESS]),
        // 07-31 / 08-01: phase 2 until 2026-07-31, the usage test from 2026-08-01 (decided on S).
        Case(
            name: "S = 2026-07-31: phase 2, every elderly member (ELDERLY_TRANSITIONAL)",
            facts: elderly(Myna.usable), asOf: "2026-07-31", outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-07-31",
            to: "2027-07-31"),
        Case(
            name: "renewal from S = 2026-08-01, decided in July: usage test, little use → renewed",
            facts: elderly(Usage.status("2026-06-30", uses: 2, last: "2026-06-20")) {
                $0.latestCertificate = cert("2025-08-01", "2026-07-31")
            }, asOf: "2026-07-15",
            outcome: .renew, reasons: [.ELDERLY_LOW_MYNA_USE], from: "2026-08-01", to: "2027-07-31"),
        Case(
            name: "renewal from S = 2026-08-01, regular use: eligibility notice instead",
            facts: elderly(Usage.status("2026-06-30", last: "2026-06-20")) { $0.latestCertificate = cert("2025-08-01", "2026-07-31") },
            asOf: "2026-07-15",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "a usage-test certificate is not renewed before its end comes within the lead",
            facts: elderly(Myna.usable) { $0.latestCertificate = cert("2026-08-01", "2027-07-31") }, asOf: "2027-06-21",
            outcome: .none, reasons: [.COVERED]),
        Case(
            name: "its renewal, still no use on record: renewed from 2027-08-01",
            facts: elderly(Myna.usable) { $0.latestCertificate = cert("2026-08-01", "2027-07-31") }, asOf: "2027-06-22",
            outcome: .renew, reasons: [.ELDERLY_LOW_MYNA_USE], from: "2027-08-01", to: "2028-07-31"),
        Case(
            name: "its renewal after the member took to the card: eligibility notice",
            facts: elderly(Usage.status("2027-05-31", uses: 10, last: "2027-05-20")) {
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            asOf: "2027-06-22", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
    ]

    static let referenceCases: [Case] = [
        // 85 on the reference date: ELDERLY_TRANSITIONAL whatever the use; 84: the usage test.
        Case(
            name: "fixed: born 1941-08-02 attains 85 on 2026-08-01, no use on record: ELDERLY_TRANSITIONAL",
            facts: elderly(Myna.usable, born: "1941-08-02"), asOf: "2026-09-01", outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL]),
        Case(
            name: "fixed: born 1941-08-03 is 84 on 2026-08-01, no use on record: ELDERLY_LOW_MYNA_USE",
            facts: elderly(Myna.usable, born: "1941-08-03"), asOf: "2026-09-01", outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        Case(
            name: "elderly_85_continuation off: a member of 85 is not usage-tested (84 or under only): notice",
            facts: elderly(Myna.usable, born: "1941-08-02"), asOf: "2026-09-01", parameters: params { $0.elderly85Continuation = false },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        // Born 1942-08-02: attains 85 on 2027-08-01, the first day of the 2027 certificate period.
        Case(
            name: "fixed: born 1942-08-02, renewal from 2027-08-01, regular use: still 84 on 2026-08-01, notice",
            facts: elderly(Usage.status("2027-06-30", last: "2027-06-20"), born: "1942-08-02") {
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            asOf: "2027-07-01", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "renewal: born 1942-08-02 attains 85 on 2027-08-01, the period's first day: ELDERLY_TRANSITIONAL",
            facts: elderly(Usage.status("2027-06-30", last: "2027-06-20"), born: "1942-08-02") {
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            asOf: "2027-07-01", parameters: renewal, outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2027-08-01", to: "2028-07-31"
        ),
        Case(
            name: "renewal: born 1942-08-03 attains 85 on 2027-08-02, one day late: usage test, notice",
            facts: elderly(Usage.status("2027-06-30", last: "2027-06-20"), born: "1942-08-03") {
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            asOf: "2027-07-01", parameters: renewal, outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "renewal: born 1942-08-03, no use on record: ELDERLY_LOW_MYNA_USE",
            facts: elderly(Myna.usable, born: "1942-08-03") { $0.latestCertificate = cert("2026-08-01", "2027-07-31") },
            asOf: "2027-07-01", parameters: renewal, outcome: .renew, reasons: [.ELDERLY_LOW_MYNA_USE], from: "2027-08-01"),
        Case(
            name: "renewal: a certificate starting mid-period (S = 2027-03-15) takes the age on that period's 2026-08-01",
            facts: member(.elderly, born: "1942-03-16", qualified: "2027-03-15", myna: Myna.usable),
            asOf: "2027-03-15", parameters: renewal, outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE], from: "2027-03-15", to: "2027-07-31"
        ),
        Case(
            name: "renewal: S = 2026-09-01 takes the age on 2026-08-01, as fixed does",
            facts: elderly(Myna.usable, born: "1941-08-03"), asOf: "2026-09-01", parameters: renewal,
            outcome: .issue, reasons: [.ELDERLY_LOW_MYNA_USE]),
        // Born 29 February: the age is attained on 28 February in a common year.
        Case(
            name: "renewal: born 1944-02-29 is 84 on 2028-08-01 (85 on 2029-02-28): usage test, notice",
            facts: elderly(Usage.status("2028-06-30", last: "2028-06-20"), born: "1944-02-29") {
                $0.latestCertificate = cert("2027-08-01", "2028-07-31")
            },
            asOf: "2028-07-01", parameters: renewal, outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "renewal: born 1944-02-29 is 85 on 2029-08-01: ELDERLY_TRANSITIONAL",
            facts: elderly(Usage.status("2029-06-30", last: "2029-06-20"), born: "1944-02-29") {
                $0.latestCertificate = cert("2028-08-01", "2029-07-31")
            },
            asOf: "2029-07-01", parameters: renewal, outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2029-08-01", to: "2030-07-31"
        ),
        Case(
            name: "fixed: born 1944-02-29 is 82 on 2026-08-01 for ever: usage test in 2029 too",
            facts: elderly(Usage.status("2029-06-30", last: "2029-06-20"), born: "1944-02-29") {
                $0.latestCertificate = cert("2028-08-01", "2029-07-31")
            },
            asOf: "2029-07-01", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        // Born 29 February 1944: the 85th anniversary falls in the common year 2029, so it is 1 March
        // and 85 is attained on 2029-02-28. renewal_day 02-27 starts periods on 28 February.
        Case(
            name: "renewal, renewal_day 02-27: born 1944-02-29 attains 85 on 2029-02-28, the period's first day",
            facts: elderly(Myna.usable, born: "1944-02-29") { $0.latestCertificate = cert("2028-02-28", "2029-02-27") },
            asOf: "2029-02-01",
            parameters: params {
                $0.elderly85Reference = .renewal
                $0.renewalMonth = 2
                $0.renewalDay = 27
            },
            outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2029-02-28", to: "2030-02-27"),
        Case(
            name: "renewal, renewal_day 02-26: born 1944-02-29 is still 84 on 2029-02-27: usage test",
            facts: elderly(Myna.usable, born: "1944-02-29") { $0.latestCertificate = cert("2028-02-27", "2029-02-26") },
            asOf: "2029-02-01",
            parameters: params {
                $0.elderly85Reference = .renewal
                $0.renewalMonth = 2
                $0.renewalDay = 26
            },
            outcome: .renew, reasons: [.ELDERLY_LOW_MYNA_USE], from: "2029-02-27", to: "2030-02-26"),
    ]

    /// SPEC.md 2.2 [2026-12]: an elderly member's application without a basis serves a certificate
    /// period starting on or after 2026-08-01, whenever it was received.
    static func noBasis(_ received: String) -> OpenApplication {
        OpenApplication(id: 9, kind: .specialConsideration, receivedOn: d(received), hasBasis: false)
    }
    static let withoutBasisCases: [Case] = [
        Case(
            name: "received 2026-05-20, S = 2026-06-01: stays open, phase 2 decides",
            facts: elderly(Myna.usable) { $0.application = noBasis("2026-05-20") }, asOf: "2026-06-01",
            outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-06-01", to: "2026-07-31"),
        Case(
            name: "received 2026-05-20, S = 2026-07-31 (the day before): stays open",
            facts: elderly(Usage.status("2026-06-30", last: "2026-06-20")) {
                $0.application = noBasis("2026-05-20")
                $0.latestCertificate = cert("2025-08-01", "2026-07-30")
            },
            asOf: "2026-07-15", outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-07-31"),
        Case(
            name: "received 2026-05-20, S = 2026-08-01: issued on application",
            facts: elderly(Usage.status("2026-06-30", last: "2026-06-20")) {
                $0.application = noBasis("2026-05-20")
                $0.latestCertificate = cert("2025-08-01", "2026-07-31")
            },
            asOf: "2026-07-15", outcome: .issueOnApplication, reasons: [.APP_SPECIAL_CONSIDERATION], from: "2026-08-01", to: "2027-07-31"),
        Case(
            name: "received 2026-05-20, certificate to 2027-07-31, not due: recorded on it for its renewal",
            facts: elderly(Myna.usable) {
                $0.application = noBasis("2026-05-20")
                $0.latestCertificate = cert("2026-06-01", "2027-07-31")
            },
            asOf: "2026-06-10", outcome: .none, reasons: [.APP_SPECIAL_CONSIDERATION]),
        Case(
            name: "with a basis, received and due before 2026-08-01: issued on application as always",
            facts: elderly(Myna.usable) {
                $0.application = OpenApplication(id: 9, kind: .specialConsideration, receivedOn: d("2026-05-20"))
            },
            asOf: "2026-06-01", outcome: .issueOnApplication, reasons: [.APP_SPECIAL_CONSIDERATION], from: "2026-06-01"),
    ]

    @Test(arguments: withoutBasisCases) func withoutBasis(_ c: Case) { verify(c) }

    @Test(arguments: usageCases) func usage(_ c: Case) { verify(c) }
    @Test(arguments: referenceCases) func reference(_ c: Case) { verify(c) }

    @Test("the reference date: fixed 2026-08-01; renewal the latest renewal_day + 1 on or before S, never before 2026-08-01")
    func referenceDate() {
        let fixed = d("2026-08-01")
        let f = Policy(parameters: InsurerParameters())
        #expect(f.elderlyReferenceDate(s: d("2029-08-01"), fixed: fixed) == fixed)
        let r = Policy(parameters: Self.renewal)
        #expect(r.elderlyReferenceDate(s: d("2026-08-01"), fixed: fixed) == d("2026-08-01"))
        #expect(r.elderlyReferenceDate(s: d("2027-07-31"), fixed: fixed) == d("2026-08-01"))
        #expect(r.elderlyReferenceDate(s: d("2027-08-01"), fixed: fixed) == d("2027-08-01"))
        let dec = Policy(
            parameters: params {
                $0.elderly85Reference = .renewal
                $0.renewalMonth = 12
                $0.renewalDay = 31
            })
        #expect(dec.elderlyReferenceDate(s: d("2027-12-31"), fixed: fixed) == d("2027-01-01"))
        #expect(dec.elderlyReferenceDate(s: d("2026-09-01"), fixed: fixed) == fixed)
    }

    @Test("a special consideration staff have not ended goes on through a usage-test certificate")
    func considerationKept() {
        let facts = Self.elderly(Myna.usable) { $0.latestCertificate = cert("2026-08-10", "2027-07-31", special: true) }
        let decision = Policy(parameters: InsurerParameters()).decide(facts, asOf: d("2027-07-10"))
        #expect(decision.outcome == .renew && decision.reasons.sorted == [.ELDERLY_LOW_MYNA_USE])
        #expect(decision.specialConsideration)
        // With regular use no measure applies and rule 6 renews it.
        let used = Self.elderly(Usage.status("2027-06-30", last: "2027-06-20")) {
            $0.latestCertificate = cert("2026-08-10", "2027-07-31", special: true)
        }
        #expect(
            Policy(parameters: InsurerParameters()).decide(used, asOf: d("2027-07-10")).reasons.sorted == [.SPECIAL_CONSIDERATION_CONTINUES]
        )
    }

    @Test("explain cites the measure, the parameters and the source")
    func explained() {
        let (decision, steps) = Policy(parameters: InsurerParameters()).explain(Self.elderly(Usage.status(uses: 2)), asOf: d("2026-09-01"))
        #expect(decision.reasons.sorted == [.ELDERLY_LOW_MYNA_USE])
        let text = steps.joined(separator: "\n")
        #expect(text.contains("elderly-usage-test") && text.contains("elderly_min_uses_12m = 6") && text.contains("三種町"))
        #expect(ReasonCode.ELDERLY_LOW_MYNA_USE.explanation.source.contains("SPEC 2.4"))
        #expect(!ReasonCode.ELDERLY_LOW_MYNA_USE.japanese.isEmpty)
    }

    @Test("the parameters: defaults, listing, file values, and a 3-month count the feed cannot give")
    func parameters() throws {
        let p = InsurerParameters()
        #expect(
            p.elderly85Reference == .fixed && p.elderlyUsageTest && p.elderlyMinUses12m == 6 && p.elderlyMinUses3m == 1
                && p.elderlyApplyWithoutBasis)
        let listed = Dictionary(uniqueKeysWithValues: p.listing)
        #expect(
            listed["elderly_85_reference"] == "fixed" && listed["elderly_usage_test"] == "on" && listed["elderly_min_uses_12m"] == "6"
                && listed["elderly_min_uses_3m"] == "1" && listed["elderly_apply_without_basis"] == "on")
        let q = try ParameterFile.parse(
            """
            elderly_85_reference = renewal
            elderly_usage_test = off
            elderly_min_uses_12m = 4
            elderly_min_uses_3m = 0
            elderly_apply_without_basis = off
            """, file: "t.conf")
        #expect(
            q.elderly85Reference == .renewal && !q.elderlyUsageTest && q.elderlyMinUses12m == 4 && q.elderlyMinUses3m == 0
                && !q.elderlyApplyWithoutBasis)
        #expect(throws: ParameterError.self) { try ParameterFile.parse("elderly_min_uses_3m = 2", file: "t.conf") }
        #expect(throws: ParameterError.self) { try ParameterFile.parse("elderly_85_reference = birthday", file: "t.conf") }
        #expect(throws: ParameterError.self) { try ParameterFile.parse("elderly_min_uses_12m = -1", file: "t.conf") }
    }
}
