import Foundation
import Testing
import KakuninCore
import KakuninTesting

@Suite("kakunin explain against the database")
struct ExplainTests {
    /// Two members: M1 (no Myna status, no card → issue), M2 (usable card → notice); household H1 headed by M1.
    func load(_ tdb: TestDatabase, _ dir: URL) throws {
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader,
            FeedFiles.member("M1", ["household_id": "H1"]),
            FeedFiles.member("M2", ["household_id": "H1", "household_head": "false", "postal_code": "", "address": ""])])
        let s = try FeedFiles.write(dir, "s.csv", [FeedFormat.mynaStatus.columns.map(\.name).joined(separator: ","),
            "131016,M1,2026-11-01,false,,none,,",
            "131016,M2,2026-11-01,true,registered,active,2030-01-31,"])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try runKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb).status == 0)
    }

    @Test("text: decision, reasons in plain words, the steps, parameters and sources")
    func text() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try load(tdb, dir)
        let r = try runKakunin(["explain", "--insurer", "131016", "--member", "M1", "--as-of", "2026-11-21",
                                "--params-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Member M1 of insurer 131016 (no insurer_name in the parameters), as of 2026-11-21 (令和8年11月21日)"))
        #expect(r.stdout.contains("Decision: issue, valid 2026-11-21 … 2027-07-31 (令和8年11月21日 … 令和9年7月31日); ends at the scheme end"))
        #expect(r.stdout.contains("NO_CARD: has no My Number card"))
        #expect(r.stdout.contains("Rule 2.5-9 issued without application"))
        #expect(r.stdout.contains("Parameters: defaults (no parameter file"))
        #expect(r.stdout.contains("legacy-cards-end"))
    }

    @Test("json, with the household head's address deciding delivery and a parameter file's hash")
    func json() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try load(tdb, dir)
        try "issue_lead_days = 45\n".write(to: dir.appendingPathComponent("131016.conf"), atomically: true, encoding: .utf8)
        let r = try runKakunin(["explain", "--insurer", "131016", "--member", "M2", "--as-of", "2026-11-21", "--format", "json",
                                "--params-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        // M2 has no address of its own, but nhi mail goes to the head (M1), who has one.
        #expect(obj["outcome"] as? String == "eligibility_notice")
        #expect(obj["reasons"] as? [String] == ["MYNA_USABLE"])
        #expect((obj["parameters"] as? [String: String])?["issue_lead_days"] == "45")
        #expect((obj["parameters_source"] as? String)?.hasSuffix("131016.conf") == true)
        #expect((obj["parameters_sha256"] as? String)?.count == 64)
        #expect((obj["steps"] as? [String])?.isEmpty == false)
    }

    @Test("a bad parameter file stops with the parameter, the fix and exit 78")
    func badParameters() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try load(tdb, dir)
        try "issue_lead_days = 0\n".write(to: dir.appendingPathComponent("131016.conf"), atomically: true, encoding: .utf8)
        let r = try runKakunin(["explain", "--insurer", "131016", "--member", "M1", "--as-of", "2026-11-21", "--params-dir", dir.path], database: tdb)
        #expect(r.status == 78)
        #expect(r.stderr.contains("131016.conf:1: issue_lead_days"))
        #expect(r.stderr.contains("fix: set issue_lead_days to a value from 1 to 365"))
    }

    @Test("an unknown member says so")
    func unknownMember() throws {
        let tdb = try TestDatabase()
        let r = try runKakunin(["explain", "--insurer", "131016", "--member", "NOPE", "--as-of", "2026-11-21"], database: tdb)
        #expect(r.status == 64)
        #expect(r.stderr.contains("no member NOPE for insurer 131016"))
    }
}
