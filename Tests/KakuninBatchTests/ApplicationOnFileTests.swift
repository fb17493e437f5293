import Foundation
import KakuninTesting
import Testing

/// Issue 29 item 5 (SPEC.md 2.3 [2026-12]): a member whose card is suspended or renewing and who
/// has an application of any kind on file (pending, or approved and not yet fulfilled) gets
/// `none` with APPLICATION_PENDING and the card's code, not an application guidance notice.
/// Rejected and fulfilled applications do not count. Two nights through the CLI.
@Suite("An application on file through kakunin run", .serialized)
struct ApplicationOnFileTests {
    @Test("pending of any kind and approved-unfulfilled count; rejected and fulfilled do not; explain cites SPEC 2.3")
    func twoNights() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        // P: pending card_lost. S: pending special_consideration. R: approved reissue, no
        // certificate to replace (card renewing). J: rejected card_lost. F: approved card_lost
        // (fulfilled on the first night). N: nothing.
        let ids = ["P", "S", "R", "J", "F", "N"]
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + ids.map { FeedFiles.member($0) })
        let s = try FeedFiles.write(
            dir, "s.csv",
            [NightlyRunTests.mynaHeader]
                + ids.map {
                    "131016,\($0),2026-11-01,true,registered,\($0 == "R" ? "renewing" : "suspended"),2030-01-31,"
                })
        let a = try FeedFiles.write(
            dir, "a.csv",
            [
                NightlyRunTests.appHeader,
                "131016,P,card_lost,2026-11-10,,pending",
                "131016,S,special_consideration,2026-11-10,disability,pending",
                "131016,R,reissue,2026-11-10,,approved",
                "131016,J,card_lost,2026-11-10,,rejected",
                "131016,F,card_lost,2026-11-10,,approved",
            ])
        for (feed, file) in [("members", m), ("myna-status", s), ("applications", a)] {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(feed): \(r.stdout)\(r.stderr)")
        }

        // Night 1.
        var r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        var d = try NightlyRunTests().decisions(tdb, run: 1)
        #expect(d["P"]?[0...1] == ["none", "APPLICATION_PENDING;CARD_SUSPENDED"], "\(d["P"] ?? [])")
        #expect(d["S"]?[0...1] == ["none", "APPLICATION_PENDING;CARD_SUSPENDED"], "pending special consideration: \(d["S"] ?? [])")
        #expect(d["R"]?[0...1] == ["none", "APPLICATION_PENDING;CARD_RENEWING"], "approved reissue, nothing to replace: \(d["R"] ?? [])")
        #expect(d["J"]?[0...1] == ["apply_notice", "CARD_SUSPENDED"], "a rejected application is not on file: \(d["J"] ?? [])")
        #expect(d["F"]?[0...1] == ["issue_on_application", "APP_CARD_LOST"], "\(d["F"] ?? [])")
        #expect(d["N"]?[0...1] == ["apply_notice", "CARD_SUSPENDED"], "\(d["N"] ?? [])")
        let db = try tdb.connect()
        #expect(try db.query("SELECT member_id FROM notice WHERE kind = 'apply_notice' ORDER BY member_id").rows == [["J"], ["N"]])
        #expect(try db.query("SELECT fulfilled_on::text FROM application WHERE member_id = 'F'").scalar == "2026-11-21")

        // explain names the application on file and the section of SPEC.md.
        let e = try runKakunin(["explain", "--insurer", "131016", "--member", "R", "--as-of", "2026-11-21"], database: tdb)
        #expect(e.status == 0 && e.stdout.contains("APPLICATION_PENDING") && e.stdout.contains("SPEC 2.3"), "\(e.stdout)\(e.stderr)")

        // Staff approve S's application between the nights.
        let sID = try #require(try db.query("SELECT application_id FROM application WHERE member_id = 'S'").scalar)
        let approve = try runKakunin(["application", "decide", "--insurer", "131016", "--application", sID, "--approve"], database: tdb)
        #expect(approve.status == 0, "\(approve.stderr)")

        // Night 2, 2027-01-01: F's short-term certificate runs out with the card still suspended;
        // its application is fulfilled, so F is sent guidance. P and R are still on file.
        r = try nightly(tdb, "2027-01-01", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        d = try NightlyRunTests().decisions(tdb, run: 2)
        #expect(d["F"]?[0...1] == ["apply_notice", "CARD_SUSPENDED"], "a fulfilled application is not on file: \(d["F"] ?? [])")
        #expect(d["P"]?[0...1] == ["none", "APPLICATION_PENDING;CARD_SUSPENDED"], "\(d["P"] ?? [])")
        #expect(d["R"]?[0...1] == ["none", "APPLICATION_PENDING;CARD_RENEWING"], "\(d["R"] ?? [])")
        #expect(d["S"]?[0...1] == ["issue_on_application", "APP_SPECIAL_CONSIDERATION"], "\(d["S"] ?? [])")
        #expect(d["J"]?[0...1] == ["none", "APPLY_NOTICE_RECENT"], "\(d["J"] ?? [])")
        #expect(try db.query("SELECT count(*) FROM notice WHERE kind = 'apply_notice' AND member_id IN ('P', 'S', 'R')").scalar == "0")
    }
}
