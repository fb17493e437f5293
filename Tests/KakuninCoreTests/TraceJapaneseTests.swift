import KakuninTesting
import Testing

@testable import KakuninCore

/// Issue 32: the steps of a decision, as the console shows them, are Japanese. Every step the
/// policy takes has a Japanese text beside its English one; outside identifiers (between
/// backticks, shown in `<code>`) it holds no ASCII letter.
@Suite("Decision steps in Japanese")
struct TraceJapaneseTests {
    /// ASCII letters in the Japanese text outside its identifiers.
    static func latinOutsideIdentifiers(_ step: TraceStep) -> String {
        String(step.japaneseWithoutIdentifiers.filter { $0.isASCII && $0.isLetter })
    }

    @Test("every step over 30,000 random members and varied parameters has a Japanese text with no ASCII letter outside identifiers")
    func everyStepJapanese() {
        var r = RandomFacts(state: 20_261_206)
        let dates = ["2024-12-01", "2025-07-31", "2025-11-20", "2026-07-15", "2026-08-01", "2026-11-21", "2027-07-20", "2028-02-29"].map {
            LocalDate($0)!
        }
        var english: Set<String> = []
        var bad: [String] = []
        var steps = 0
        for i in 0..<30_000 {
            let asOf = dates[i % dates.count]
            var p = InsurerParameters()
            if i % 3 == 0 {
                p.elderly85Continuation = true
                p.issueLeadDays = r.int(1...120)
            }
            if i % 4 == 1 {
                p.elderlyUsageTest = i % 8 == 1
                p.elderly85Reference = .renewal
            }
            if i % 5 == 1 {
                p.residenceCap = .dayAfter
                p.employeeValidity = i % 2 == 0 ? .yearEnd : .fixed(asOf.adding(days: r.int(-30...2000)))
            }
            let f = r.facts(asOf: asOf)
            let policy = Policy(parameters: p)
            let (decision, trace) = policy.trace(f, asOf: asOf)
            #expect(decision == policy.decide(f, asOf: asOf))
            #expect(trace.map(\.english) == policy.explain(f, asOf: asOf).1, "the CLI's English steps are unchanged")
            for step in trace {
                steps += 1
                english.insert(String(step.english.prefix(30)))
                let latin = Self.latinOutsideIdentifiers(step)
                let iso = step.japaneseWithoutIdentifiers.range(of: "[0-9]{4}-[0-9]{2}-[0-9]{2}", options: .regularExpression) != nil
                if !latin.isEmpty || iso || step.japanese.isEmpty || !step.japanese.contains(where: { !$0.isASCII })
                    || step.japanese.filter({ $0 == "`" }).count % 2 != 0
                {
                    bad.append(step.japanese)
                }
            }
        }
        #expect(bad.isEmpty, "steps with English outside identifiers:\n\(Set(bad).prefix(10).joined(separator: "\n"))")
        // The random members reach most kinds of step (the policy has ~48).
        #expect(english.count >= 30, "\(english.count) kinds of step reached in \(steps) steps")
    }

    @Test("rule names and validity caps read in Japanese")
    func namesJapanese() {
        for rule in PolicyRule.allCases {
            #expect(Self.latinOutsideIdentifiers(TraceStep(english: "", japanese: rule.japanese)).isEmpty, "\(rule)")
        }
        for cap in ValidityCap.allCases {
            #expect(Self.latinOutsideIdentifiers(TraceStep(english: "", japanese: cap.japanese)).isEmpty, "\(cap)")
        }
    }

    @Test("the check itself: English outside backticks is found, identifiers are not; dates outside them read in era form")
    func checkFindsEnglish() {
        #expect(Self.latinOutsideIdentifiers(TraceStep(english: "", japanese: "規則：card active")) == "cardactive")
        #expect(Self.latinOutsideIdentifiers(TraceStep(english: "", japanese: "`issue_lead_days = 60` のため 2026-08-01 まで")).isEmpty)
        let parts = TraceStep(english: "", japanese: "前`a`中`b`").japaneseParts
        #expect(parts.map(\.text) == ["前", "a", "中", "b"] && parts.map(\.isCode) == [false, true, false, true])
        // Dates read in era form outside identifiers; an identifier is left as it is.
        let dated = TraceStep(english: "", japanese: "基準日 2026-12-01。`legacy-cards-end 2026-07-31` のため 2027-01-10 まで（1900-01-01 から）")
            .japaneseParts
        #expect(dated.map(\.text) == ["基準日 令和8年12月1日。", "legacy-cards-end 2026-07-31", " のため 令和9年1月10日 まで（明治33年1月1日 から）"])
    }
}
