import KakuninTesting
import Testing

@testable import KakuninCore

@Suite("Policy properties over random members")
struct PolicyPropertyTests {
    @Test("valid_from ≤ valid_to ≤ valid_from + 5 years − 1 day; every decision has a reason; same facts, same decision")
    func properties() {
        var r = RandomFacts(state: 20_261_121)
        let dates = ["2024-12-01", "2025-03-01", "2025-07-31", "2025-11-20", "2026-07-15", "2026-11-21", "2028-02-29"].map {
            LocalDate($0)!
        }
        var counts: [Outcome: Int] = [:]
        for i in 0..<60_000 {
            let asOf = dates[i % dates.count]
            var p = InsurerParameters()
            if i % 3 == 0 {
                p.elderly85Continuation = true
                p.issueLeadDays = r.int(1...120)
                p.validityYearsEmployee = r.int(1...5)
            }
            if i % 5 == 1 {
                p.residenceCap = .dayAfter
                p.employeeValidity = i % 2 == 0 ? .yearEnd : .fixed(asOf.adding(days: r.int(-30...2000)))
            }
            let policy = Policy(parameters: p)
            let f = r.facts(asOf: asOf)
            let decision = policy.decide(f, asOf: asOf)
            counts[decision.outcome, default: 0] += 1
            #expect(!decision.reasons.isEmpty, "every decision has at least one reason")
            if decision.outcome.issuesCertificate {
                guard let from = decision.validFrom, let to = decision.validTo else {
                    Issue.record("certificate without dates: \(decision)")
                    continue
                }
                #expect(from <= to)
                #expect(to <= from.adding(years: 5).adding(days: -1))
                if decision.replacesCertificate == nil { #expect(from >= asOf || from == decision.s) }
            } else if decision.outcome == .eligibilityNotice && f.scheme == .nhi, let from = decision.validFrom, let to = decision.validTo {
                // A notice to an nhi member aged 70–74 carries 有効期限: to the first renewal day.
                #expect(from <= to && to <= Validity.firstRenewalDay(onOrAfter: from, parameters: p))
                #expect(JapaneseAge.attains(70, bornOn: f.birthDate) <= from)
            } else {
                #expect(decision.validFrom == nil && decision.validTo == nil)
            }
            #expect(policy.decide(f, asOf: asOf) == decision)
            if decision.outcome == .held && decision.heldFrom != nil {
                #expect(
                    decision.reasons.contains(.MISSING_ADDRESS) || decision.reasons.contains(.NO_HOUSEHOLD_HEAD)
                        || decision.reasons.contains(.RESIDENCE_EXPIRED))
            }
        }
        // The random members reach every outcome.
        #expect(Set(counts.keys) == Set(Outcome.allCases), "\(counts)")
    }
}
