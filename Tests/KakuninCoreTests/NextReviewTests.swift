import KakuninTesting
import Testing

@testable import KakuninCore

/// next_review_on (issue 34): with unchanged facts, deciding on any day before it gives the
/// decision kept.
@Suite("Next review date of a decision")
struct NextReviewTests {
    private func d(_ s: String) -> LocalDate { LocalDate(s)! }

    /// Decides on `asOf`, then checks the day before the review date decides the same and
    /// returns the review date (nil: none).
    private func review(
        _ f: MemberFacts, _ asOf: String, _ p: InsurerParameters = InsurerParameters(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> LocalDate? {
        let policy = Policy(parameters: p)
        let day = d(asOf)
        let kept = policy.decide(f, asOf: day)
        let next = policy.nextReview(f, asOf: day, decision: kept)
        if let next {
            #expect(next > day, sourceLocation: sourceLocation)
            let before = next.adding(days: -1)
            #expect(
                policy.decide(f, asOf: before) == kept.carried(decidedOn: day, to: before), "the day before \(next)",
                sourceLocation: sourceLocation)
        }
        return next
    }

    private func changes(_ f: MemberFacts, from asOf: String, on next: LocalDate?, _ p: InsurerParameters = InsurerParameters()) -> Bool {
        guard let next else { return false }
        let policy = Policy(parameters: p)
        return policy.decide(f, asOf: next) != policy.decide(f, asOf: d(asOf)).carried(decidedOn: d(asOf), to: next)
    }

    private func covered(_ scheme: Scheme = .employee, to validTo: String = "2027-03-31") -> MemberFacts {
        var f = MemberFacts(scheme: scheme, birthDate: d("1970-05-05"), qualifiedOn: d("2020-04-01"))
        f.latestCertificate = CertificateFacts(number: 1, validFrom: d("2026-04-01"), validTo: d(validTo))
        f.myna = MynaStatus(hasCard: false, registration: nil, cardState: .none)
        return f
    }

    @Test("rule 4: a covered member is reviewed when the mailing horizon reaches S, and decided again then")
    func horizonReachesS() {
        let f = covered()
        let next = review(f, "2026-12-01")
        #expect(next == d("2027-04-01").adding(days: -40))
        #expect(changes(f, from: "2026-12-01", on: next))
    }

    @Test("any outcome but none is reviewed the next day (the run acts on it, or held waits for the next run)")
    func actingOutcomes() {
        var f = covered(to: "2026-12-20")
        #expect(review(f, "2026-12-01") == d("2026-12-02"))
        f.deliverable = false
        #expect(Policy(parameters: InsurerParameters()).decide(f, asOf: d("2026-12-01")).outcome == .held)
        #expect(review(f, "2026-12-01") == d("2026-12-02"))
    }

    @Test("rule 2: a member disqualified in the future is reviewed on the disqualification date")
    func disqualification() {
        var f = covered()
        f.disqualifiedOn = d("2027-01-15")
        // S (2027-04-01) is past the disqualification already: none, NOT_QUALIFIED. On 2027-01-15
        // the reason is the same; the date is reviewed anyway (early is safe).
        let next = review(f, "2026-12-01")
        #expect(next == d("2027-01-15"))
    }

    @Test("rule 2: a member qualifying after the horizon is reviewed when the horizon reaches qualified_on")
    func futureQualification() {
        var f = MemberFacts(scheme: .employee, birthDate: d("1990-01-01"), qualifiedOn: d("2027-03-01"))
        f.myna = MynaStatus(hasCard: false, registration: nil, cardState: .none)
        let next = review(f, "2026-12-01")
        #expect(next == d("2027-03-01").adding(days: -40))
        #expect(changes(f, from: "2026-12-01", on: next))
    }

    @Test("rule 2: the 75th birthday: S past it stays none until S moves")
    func seventyFifth() {
        var f = covered(.nhi, to: "2027-07-31")
        f.birthDate = d("1952-06-10")
        let next = review(f, "2026-12-01")
        #expect(next == d("2027-08-01").adding(days: -40))
    }

    @Test("legacy card: reviewed when the horizon reaches the day after it ends")
    func legacyCard() {
        var f = MemberFacts(scheme: .nhi, birthDate: d("1960-01-01"), qualifiedOn: d("2000-01-01"))
        f.legacyCardExpiry = d("2025-07-31")
        f.myna = MynaStatus(hasCard: false, registration: nil, cardState: .none)
        let next = review(f, "2025-05-01")
        #expect(next == d("2025-08-01").adding(days: -40))
        #expect(changes(f, from: "2025-05-01", on: next))
    }

    @Test("rules 7 and 9: the e-cert grace end reaching the horizon")
    func ecertGrace() {
        var f = MemberFacts(scheme: .employee, birthDate: d("1980-01-01"), qualifiedOn: d("2010-01-01"))
        f.myna = MynaStatus(hasCard: true, registration: .registered, cardState: .active, ecertExpiry: d("2027-02-10"))
        f.eligibilityNoticeSent = true
        let policy = Policy(parameters: InsurerParameters())
        #expect(policy.decide(f, asOf: d("2026-12-01")).reasons.contains(.MYNA_USABLE))
        let next = review(f, "2026-12-01")
        // Usable until the end of May 2027 (3 grace months): lapsed once the horizon passes it.
        #expect(next == d("2027-06-01").adding(days: -40))
        #expect(changes(f, from: "2026-12-01", on: next))
    }

    @Test("rule 8: the apply-notice repeat window")
    func applyNoticeWindow() {
        var f = MemberFacts(scheme: .employee, birthDate: d("1980-01-01"), qualifiedOn: d("2010-01-01"))
        f.myna = MynaStatus(hasCard: true, registration: .registered, cardState: .suspended)
        f.lastApplyNotice = d("2026-11-01")
        let next = review(f, "2026-12-01")
        #expect(next == d("2026-11-01").adding(days: 90))
        #expect(changes(f, from: "2026-12-01", on: next))
    }

    @Test("rule 7: an nhi member aged 70–74: the notice's validity end reaching the horizon")
    func noticeValidity() {
        var f = MemberFacts(scheme: .nhi, birthDate: d("1954-03-03"), qualifiedOn: d("2010-01-01"))
        f.myna = MynaStatus(hasCard: true, registration: .registered, cardState: .active)
        f.eligibilityNoticeSent = true
        f.eligibilityNoticeValidTo = d("2027-07-31")
        let next = review(f, "2026-12-01")
        #expect(next == d("2027-08-01").adding(days: -40))
        #expect(changes(f, from: "2026-12-01", on: next))
    }

    @Test("08-01 elderly rules: an elderly member covered to 07-31 is reviewed when the horizon reaches 08-01")
    func elderlyRenewal() {
        var f = covered(.elderly, to: "2026-07-31")
        f.birthDate = d("1940-01-01")
        f.latestCertificate!.validFrom = d("2025-08-01")
        let next = review(f, "2026-05-01")
        #expect(next == d("2026-08-01").adding(days: -40))
        #expect(changes(f, from: "2026-05-01", on: next))
    }

    @Test("no document covers the as-of date: S moves with it; a former member's decision never changes")
    func uncovered() {
        var f = MemberFacts(scheme: .employee, birthDate: d("1980-01-01"), qualifiedOn: d("2010-01-01"))
        f.disqualifiedOn = d("2020-01-01")
        // Not every day: only the yearly 08-01 (elderly_85_reference) is looked at again.
        #expect(review(f, "2026-12-01") == d("2027-08-01"))
        let kept = Policy(parameters: InsurerParameters()).decide(f, asOf: d("2026-12-01"))
        #expect(kept.carried(decidedOn: d("2026-12-01"), to: d("2027-06-01")).s == d("2027-06-01"))
    }

    @Test("S moving with the as-of date reaches the 75th birthday: reviewed on it")
    func movingSReaches75() {
        var f = MemberFacts(scheme: .employee, birthDate: d("1952-02-10"), qualifiedOn: d("2010-01-01"))
        f.myna = MynaStatus(hasCard: true, registration: .registered, cardState: .active)
        f.eligibilityNoticeSent = true
        let next = review(f, "2026-12-01")
        #expect(next == JapaneseAge.attains(75, bornOn: f.birthDate))
        #expect(changes(f, from: "2026-12-01", on: JapaneseAge.anniversary(of: f.birthDate, years: 75)))
    }

    @Test("S moving with the as-of date reaches 08-01: the elderly rules of 2026-08-01 are reviewed on it")
    func movingSReachesAugust() {
        var f = MemberFacts(scheme: .elderly, birthDate: d("1945-01-01"), qualifiedOn: d("2010-01-01"))
        f.myna = MynaStatus(
            hasCard: true, registration: .registered, cardState: .active, statusAsOf: d("2026-07-01"), uses12m: 20,
            lastUsedOn: d("2026-06-30"))
        f.eligibilityNoticeSent = true
        #expect(review(f, "2026-07-10") ?? d("2100-01-01") <= d("2026-08-01"))
    }

    @Test("property: over random members, dates and parameters, every day before the review date decides the same")
    func property() {
        var r = RandomFacts(state: 34_2026_12_06)
        var reviewed = 0
        var far = 0
        for i in 0..<40_000 {
            let asOf = LocalDate("2024-10-01")!.adding(days: r.int(0...1500))
            var p = InsurerParameters()
            if i % 3 == 0 {
                p.issueLeadDays = r.int(1...120)
                p.applyNoticeRepeatDays = r.int(1...400)
            }
            if i % 4 == 1 {
                p.elderly85Reference = .renewal
                p.ecertGraceMonths = r.int(0...12)
            }
            if i % 5 == 2 {
                p.residenceCap = .dayAfter
                p.employeeValidity = .yearEnd
            }
            var f = r.facts(asOf: asOf)
            if r.chance(20) { f.eligibilityNoticeValidTo = asOf.adding(days: r.int(-100...500)) }
            if r.chance(10) { f.coveringCertificateEnd = asOf.adding(days: r.int(-30...400)) }
            if r.chance(5) { f.mailReturned = true }
            let policy = Policy(parameters: p)
            let kept = policy.decide(f, asOf: asOf)
            let next = policy.nextReview(f, asOf: asOf, decision: kept)
            let end = next ?? asOf.adding(days: 2000)
            reviewed += 1
            if asOf.days(until: end) > 30 { far += 1 }
            var days = [end.adding(days: -1)]
            for _ in 0..<4 where asOf.days(until: end) > 1 { days.append(asOf.adding(days: r.int(1...(asOf.days(until: end) - 1)))) }
            for day in days where day > asOf {
                let again = policy.decide(f, asOf: day)
                #expect(
                    again == kept.carried(decidedOn: asOf, to: day),
                    "member \(i) decided \(asOf), review \(next?.description ?? "never"), differs on \(day): \(f)")
                if again != kept.carried(decidedOn: asOf, to: day) { return }
            }
        }
        // Not a trivial "the next day": many decisions keep for over a month.
        #expect(far > 5000, "\(reviewed) reviewed, \(far) kept over 30 days")
    }
}
