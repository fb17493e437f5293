import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 28 item 3: 「なぜこの判定か」 on a past run's decision explains that decision (its facts and
/// parameters), not today's; today's decision is a separate, labelled page.
@Suite("The console's explanation of a run's decision", .serialized)
struct ExplainPageTests {
    @Test("run 1's apply notice (CARD_RENEWING) is explained as run 1 decided it; today's page says APPLY_NOTICE_RECENT")
    func runsDecision() throws {
        let f = try ConsoleFixture()
        let member = try #require(
            try f.query(
                """
                SELECT member_id FROM decision WHERE run_id = 1 AND outcome = 'apply_notice' AND reasons = '{CARD_RENEWING}' ORDER BY member_id LIMIT 1
                """
            ).first?[0])
        let clerk = try f.login("clerk")
        // The member page links each decision of the history to its run's explanation.
        let page = try clerk.get("/members/131016/\(member)")
        #expect(page.status == 200)
        #expect(page.body.contains("/members/131016/\(member)/explain?run=1"), "the decision row links to run 1's explanation")
        let run = try clerk.get("/members/131016/\(member)/explain?run=1")
        #expect(run.status == 200, "\(run.body)")
        #expect(run.body.contains("実行 1 の判定の説明") && run.body.contains("申請勧奨通知") && run.body.contains("CARD_RENEWING"), "\(run.body)")
        #expect(!run.body.contains("APPLY_NOTICE_RECENT"))
        let today = try clerk.get("/members/131016/\(member)/explain?as_of=2026-12-01")
        #expect(today.status == 200)
        #expect(today.body.contains("今日の判定の説明") && today.body.contains("APPLY_NOTICE_RECENT"), "\(today.body)")
        // The outcome is not an apply notice (the Japanese steps may name the notice sent before).
        let outcome = today.body.components(separatedBy: "id=\"outcome\"").dropFirst().first?.components(separatedBy: "</p>").first ?? ""
        #expect(outcome.contains("送付なし") && !outcome.contains("申請勧奨通知"), "\(outcome)")
        // A run of another insurer, or no such run: not found.
        #expect(try clerk.get("/members/131016/\(member)/explain?run=99").status == 404)
        #expect(try clerk.get("/members/131016/\(member)/explain?run=x").status == 400)
        // The auditors' drill-down links to the run's explanation too.
        let auditor = try f.login("audi")
        let drill = try auditor.get("/runs/1/members?kind=outcome&outcome=apply_notice")
        #expect(drill.status == 200 && drill.body.contains("/explain?run=1\">なぜこの判定か"), "\(drill.body.prefix(3000))")
    }
}
