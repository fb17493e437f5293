import Foundation
import KakuninCore
import KakuninRuntime
import KakuninTesting
import Testing

@Suite("kakunin explain against the database")
struct ExplainTests {
    /// Two members: M1 (no Myna status, no card → issue), M2 (usable card → notice); household H1 headed by M1.
    func load(_ tdb: TestDatabase, _ dir: URL) throws {
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("M1", ["household_id": "H1"]),
                FeedFiles.member("M2", ["household_id": "H1", "household_head": "false", "postal_code": "", "address": ""]),
            ])
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                FeedFormat.mynaStatus.columns.filter { !$0.optional }.map(\.name).joined(separator: ","),
                "131016,M1,2026-11-01,false,,none,,",
                "131016,M2,2026-11-01,true,registered,active,2030-01-31,",
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try runKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb).status == 0)
    }

    @Test("text: decision, reasons in plain words, the steps, parameters and sources")
    func text() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try load(tdb, dir)
        let r = try runKakunin(["explain", "--insurer", "131016", "--member", "M1", "--as-of", "2026-11-21"], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Member M1 of insurer 131016 (テスト保険者131016), as of 2026-11-21 (令和8年11月21日)"))
        #expect(r.stdout.contains("Explains: today's decision, from the data in the database now"))
        #expect(r.stdout.contains("Decision: issue, valid 2026-11-21 … 2027-07-31 (令和8年11月21日 … 令和9年7月31日); ends at the scheme end"))
        #expect(r.stdout.contains("NO_CARD: has no My Number card"))
        #expect(r.stdout.contains("Rule 2.5-9 issued without application"))
        #expect(r.stdout.contains("Parameters: parameter version 1 of insurer 131016, effective from 1900-01-01"), "\(r.stdout)")
        #expect(r.stdout.contains("legacy-cards-end"))
    }

    @Test("json, with the household head's address deciding delivery and a parameter file's hash")
    func json() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try load(tdb, dir)
        #expect(try setParameters(tdb, from: "2026-04-01", ["insurer_name = 千代田区", "issue_lead_days = 45"]).status == 0)
        let r = try runKakunin(
            ["explain", "--insurer", "131016", "--member", "M2", "--as-of", "2026-11-21", "--format", "json"], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        // M2 has no address of its own, but nhi mail goes to the head (M1), who has one.
        #expect(obj["outcome"] as? String == "eligibility_notice")
        #expect(obj["reasons"] as? [String] == ["MYNA_USABLE"])
        #expect((obj["parameters"] as? [String: String])?["issue_lead_days"] == "45")
        #expect((obj["parameters_source"] as? String)?.hasSuffix("effective from 2026-04-01") == true)
        #expect(obj["explains"] as? String == "today")
        #expect((obj["parameters_sha256"] as? String)?.count == 64)
        #expect((obj["steps"] as? [String])?.isEmpty == false)
    }

    @Test("a bad parameter file is refused with the parameter, the fix and exit 78, and nothing is stored")
    func badParameters() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try load(tdb, dir)
        let file = dir.appendingPathComponent("131016.conf")
        try "issue_lead_days = 0\ninsurer_name = 千代田区\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try runKakunin(["insurer", "params", "set", "--insurer", "131016", "--from", "2026-04-01", file.path], database: tdb)
        #expect(r.status == 78)
        #expect(try tdb.connect().query("SELECT count(*) FROM insurer_parameter_version").scalar == "1", "only the fixture's version")
        #expect(r.stderr.contains("131016.conf:1: issue_lead_days"))
        #expect(r.stderr.contains("fix: set issue_lead_days to a value from 1 to 365"))
    }

    @Test("an unknown member says so; so does an unknown insurer")
    func unknownMember() throws {
        let tdb = try TestDatabase()
        var r = try runKakunin(["explain", "--insurer", "131016", "--member", "NOPE", "--as-of", "2026-11-21"], database: tdb)
        // Nothing imported: the insurer itself is unknown (its parameters are looked up first).
        #expect(r.status == 66)
        #expect(r.stderr.contains("unknown insurer 131016"), "\(r.stderr)")
        try load(tdb, try temporaryDirectory())
        r = try runKakunin(["explain", "--insurer", "131016", "--member", "NOPE", "--as-of", "2026-11-21"], database: tdb)
        #expect(r.status == 66)
        #expect(r.stderr.contains("no member NOPE for insurer 131016"))
    }

    /// Issue 28 item 3: run 1 sends R an apply notice (card renewing); asked today, the notice
    /// run 1 itself sent makes the decision "none, APPLY_NOTICE_RECENT".
    @Test("explain --run explains that run's decision from its facts and parameters; without --run, today's decision, labelled so")
    func explainsTheRunsDecision() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("R")])
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                FeedFormat.mynaStatus.columns.filter { !$0.optional }.map(\.name).joined(separator: ","),
                "131016,R,2026-11-01,true,registered,renewing,2030-01-31,",
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try runKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try setParameters(tdb, from: "2026-11-01", ["insurer_name = 千代田区国民健康保険"]).status == 0)
        let run = try runKakunin(
            ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path, "--quiet"],
            database: tdb)
        #expect(run.status == 0, "\(run.stderr)")
        // Parameters changed since: the run's explanation still names the run's own.
        #expect(try setParameters(tdb, from: "2026-11-15", ["insurer_name = 改名後の保険者"]).status == 0)
        var r = try runKakunin(["explain", "--run", "1", "--member", "R"], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Decision: apply_notice") && r.stdout.contains("CARD_RENEWING"), "\(r.stdout)")
        #expect(r.stdout.contains("Explains: the decision of run 1, from the facts that run read and its parameters"))
        #expect(r.stdout.contains("(千代田区国民健康保険), as of 2026-11-21") && !r.stdout.contains("APPLY_NOTICE_RECENT"), "\(r.stdout)")
        r = try runKakunin(["explain", "--run", "1", "--member", "R", "--format", "json"], database: tdb)
        let obj = try #require(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        #expect(
            obj["outcome"] as? String == "apply_notice" && obj["reasons"] as? [String] == ["CARD_RENEWING"] && obj["run_id"] as? Int == 1)
        #expect(obj["explains"] as? String == "run 1" && obj["stored_decision"] == nil)
        // Today's decision, a separate command: the notice run 1 sent counts now.
        r = try runKakunin(["explain", "--insurer", "131016", "--member", "R", "--as-of", "2026-11-21"], database: tdb)
        #expect(r.stdout.contains("Explains: today's decision") && r.stdout.contains("APPLY_NOTICE_RECENT"), "\(r.stdout)")
        #expect(r.stdout.contains("(改名後の保険者)"))
        r = try runKakunin(["explain", "--run", "1", "--member", "NOPE"], database: tdb)
        #expect(r.status == 66 && r.stderr.contains("run 1 made no decision for member NOPE"), "\(r.stderr)")
        r = try runKakunin(["explain", "--run", "1", "--insurer", "39131015", "--member", "R"], database: tdb)
        #expect(r.status == 64, "\(r.stderr)")
    }
}
