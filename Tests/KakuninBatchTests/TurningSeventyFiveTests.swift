import Foundation
import KakuninTesting
import Testing

/// Issue 29 item 1 (SPEC.md 2.5 rule 2, SPEC.md 3): at 75 nhi and employee members move to the
/// elderly scheme of another insurer. Two nights through the CLI: the first certificate ends the
/// day before the 75th birthday; the next night renews nothing (it used to issue an nhi
/// certificate to 2027-07-31, and employee members had no cap at all).
@Suite("Turning 75 over two nights", .serialized)
struct TurningSeventyFiveTests {
    @Test("no nhi or employee certificate is valid on or after the 75th birthday; the next night says MOVES_TO_ELDERLY")
    func twoNights() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("N", ["birth_date": "1951-12-10", "qualified_on": "2000-04-01"]),
                FeedFiles.member("W", ["scheme": "employee", "birth_date": "1951-12-10", "qualified_on": "2000-04-01"]),
                FeedFiles.member("Y", ["birth_date": "1980-04-01"]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)

        var r = try nightly(tdb, "2026-11-01", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        var d = try NightlyRunTests().decisions(tdb, run: 1)
        #expect(d["N"]?[0] == "issue" && d["N"]?[2...3] == ["2026-11-01", "2026-12-09"], "\(d["N"] ?? [])")
        #expect(d["W"]?[0] == "issue" && d["W"]?[2...3] == ["2026-11-01", "2026-12-09"], "\(d["W"] ?? [])")

        r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        d = try NightlyRunTests().decisions(tdb, run: 2)
        #expect(d["N"]?[0...1] == ["none", "MOVES_TO_ELDERLY"], "\(d["N"] ?? [])")
        #expect(d["W"]?[0...1] == ["none", "MOVES_TO_ELDERLY"], "\(d["W"] ?? [])")
        #expect(d["Y"]?[0] == "none", "a younger member is covered")
        let db = try tdb.connect()
        #expect(
            try db.query(
                """
                SELECT count(*) FROM certificate c JOIN member m USING (insurer_number, member_id)
                WHERE m.scheme IN ('nhi', 'employee') AND c.valid_to >= (m.birth_date + interval '75 years')::date
                """
            ).scalar == "0")
        // explain names the rule and its source.
        let e = try runKakunin(
            ["explain", "--insurer", "131016", "--member", "N", "--as-of", "2026-11-21"],
            database: tdb)
        #expect(e.status == 0 && e.stdout.contains("MOVES_TO_ELDERLY") && e.stdout.contains("SPEC 2.5 rule 2"), "\(e.stdout)\(e.stderr)")
    }
}
