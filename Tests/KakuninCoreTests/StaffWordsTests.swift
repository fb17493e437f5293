import Testing

@testable import KakuninCore

/// Issue 32: dates as staff type them, read by one parser beside the era formatter; the
/// operator's status line of an insurer.
@Suite("Dates as typed, status lines")
struct StaffWordsTests {
    @Test("2026-12-06, 20261206, 2026/12/6, 令和8年12月6日 (full-width digits, 元年) are one date; nonsense and dates outside an era are not")
    func parseDates() {
        let d = LocalDate(year: 2026, month: 12, day: 6)!
        for text in ["2026-12-06", "20261206", "2026/12/6", "令和8年12月6日", "令和８年１２月６日", " 令和8年 12月 6日 "] {
            #expect(JapaneseEra.parse(text) == d, "\(text)")
        }
        #expect(JapaneseEra.parse("令和元年5月1日") == LocalDate(year: 2019, month: 5, day: 1))
        #expect(JapaneseEra.parse("平成31年4月30日") == LocalDate(year: 2019, month: 4, day: 30))
        for bad in ["令和1年4月30日", "平成32年1月1日", "20261301", "2026-02-30", "令和8年2月30日", "12/6", "きのう", "", "2026120"] {
            #expect(JapaneseEra.parse(bad) == nil, "\(bad)")
        }
        #expect(JapaneseEra.withWestern("2026-12-06") == "令和8年12月6日（2026-12-06）")
        #expect(JapaneseEra.time("2026-12-06 03:12:10") == "令和8年12月6日 03:12（日本時間）")
        #expect(PostalCode.display("1000001") == "〒100-0001")
    }

    @Test(
        "status line: green when the last run is recent, complete and reconciled; red when old, failed, abandoned or unreconciled; amber for other parameters"
    )
    func health() {
        let today = LocalDate(year: 2026, month: 12, day: 6)!
        func run(_ daysAgo: Int, _ status: RunStatus = .completed, checks: Bool? = true, current: Bool = true) -> RunHealth {
            RunHealth.assess(
                .init(runID: 7, asOf: today.adding(days: -daysAgo), status: status, checksPass: checks, currentParameters: current),
                today: today)
        }
        #expect(run(1).level == .green && run(2).level == .green)
        #expect(run(3).level == .red && run(3).todo.first!.contains("タイマー"))
        #expect(run(0, .failed).level == .red && run(0, .abandoned).level == .red)
        #expect(run(0, checks: false).level == .red && run(0, checks: false).findings.joined().contains("照合"))
        #expect(run(0, current: false).level == .amber && run(0, current: false).level.japanese == "注意")
        #expect(RunHealth.assess(nil, today: today).level == .amber)
    }

    @Test("labels: every stored code of the lists has a Japanese label; a void reason of the database reads in Japanese")
    func labels() {
        #expect(StaffLabel.of(CertificateStatus.self, "voided") == "無効" && StaffLabel.of(MynaRegistration.self, "registered") == "利用登録あり")
        #expect(CertificateStatus.voidReason("replaced by certificate 97 (reissued at the counter)") == "確認書 97 の交付により無効（窓口での再交付）")
        #expect(CertificateStatus.voidReason("誤って交付") == "誤って交付")
        for label in ApplicationKind.allCases.map(\.japanese) + CardState.allCases.map(\.japanese) + RunStatus.allCases.map(\.japanese) {
            #expect(!label.contains { $0.isASCII && $0.isLetter }, "\(label)")
        }
    }
}
