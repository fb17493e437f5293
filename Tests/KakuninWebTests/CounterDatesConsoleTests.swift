import Foundation
import KakuninBatch
import KakuninCore
import KakuninTesting
import Testing

/// Issue 28 item 14 over HTTP: the console refuses the dates the CLI refuses (one rule,
/// `CounterDates`), in Japanese, dates in era form, naming the range. (Issue 32: the posts carry
/// `confirm=1`, the confirmation step's answer; a future received_on is refused before it.)
@Suite("Counter dates in the console (issue 28 item 14)", .serialized)
struct CounterDatesConsoleTests {
    let f: ConsoleFixture

    init() throws { f = try ConsoleFixture(members: 200) }

    @Test(
        "a return before the issue date or in the future, and a future received_on, are refused in Japanese naming the range; nothing is recorded"
    )
    func refusedDates() throws {
        let today = LocalDate.todayInJapan()
        let era = { (d: LocalDate) in JapaneseEra.format(d)! }
        let cert = try #require(
            try f.query(
                """
                SELECT certificate_number::text, member_id, issued_on::text FROM certificate
                WHERE insurer_number = '131016' AND run_id IS NOT NULL AND mail_exception IS NULL AND status = 'active'
                ORDER BY certificate_number LIMIT 1
                """
            ).first)
        let (number, member, issued) = (cert[0]!, cert[1]!, LocalDate(cert[2]!)!)
        let page = "/members/131016/\(member)"
        let clerk = try f.login("clerk")

        let range = "返戻日（%@）は、資格確認書の交付日（\(era(issued))）から本日（\(era(today))）までの日付で入力してください。"
        for bad in [issued.adding(days: -1), today.adding(days: 1)] {
            let r = try clerk.post(
                "/certificates/131016/\(number)/return", from: page, [("on", bad.description), ("note", ""), ("confirm", "1")])
            #expect(r.status == 400, "\(bad): \(r.status)")
            #expect(r.body.contains(range.replacingOccurrences(of: "%@", with: era(bad))), "\(bad): \(r.body)")
            #expect(!r.body.contains("outside"), "no English on a clerk's page")
        }
        #expect(try f.query("SELECT count(*) FROM mail_return")[0][0] == "0")
        #expect(
            try clerk.post("/certificates/131016/\(number)/return", from: page, [("on", issued.description), ("confirm", "1")]).status
                == 303)
        #expect(try f.query("SELECT returned_on::text FROM mail_return")[0][0] == issued.description)

        let tomorrow = today.adding(days: 1)
        let before = try f.query("SELECT count(*) FROM application")[0][0]
        let r = try clerk.post(
            "\(page)/applications", from: page, [("kind", "card_lost"), ("received_on", tomorrow.description), ("status", "pending")])
        #expect(r.status == 400)
        #expect(
            r.body.contains("id=\"received_on-error\">受付日（\(era(tomorrow))）は未来の日付です。本日（\(era(today))）以前の日付を入力してください。"),
            "\(r.body)")
        #expect(try f.query("SELECT count(*) FROM application")[0][0] == before)
        #expect(
            try clerk.post(
                "\(page)/applications", from: page,
                [
                    ("kind", "card_lost"), ("received_on", today.description), ("status", "pending"),
                    ("confirm", "1"),
                ]
            ).status == 303)
    }
}
