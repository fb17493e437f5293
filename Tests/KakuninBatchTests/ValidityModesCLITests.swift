import Foundation
import KakuninTesting
import Testing

/// Issue 29 item 3 (SPEC.md 2.6, 3 [2026-12]): employee_validity and residence_cap as a dated
/// parameter version, through the CLI: refused when wrong, used by the run, named by explain.
@Suite("Validity modes through the CLI", .serialized)
struct ValidityModesCLITests {
    @Test(
        "employee_validity = fixed and residence_cap = day_after set the dates of a run; bad values are refused with the line and the fix")
    func modes() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("W", ["scheme": "employee"]),
                FeedFiles.member("R", ["residence_expiry": "2027-03-15"]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)

        var r = try setParameters(tdb, from: "2026-11-01", ["insurer_name = テスト保険者131016", "employee_validity = fixed:2030-02-30"])
        #expect(
            r.status == 78 && r.stderr.contains(":2: employee_validity") && r.stderr.contains("not a valid date")
                && r.stderr.contains("fixed:YYYY-MM-DD"), "\(r.stdout)\(r.stderr)")
        r = try setParameters(tdb, from: "2026-11-01", ["insurer_name = テスト保険者131016", "residence_cap = later"])
        #expect(
            r.status == 78 && r.stderr.contains(":2: residence_cap") && r.stderr.contains("expiry or day_after"), "\(r.stdout)\(r.stderr)")
        r = try setParameters(tdb, from: "2026-11-01", ["insurer_name = テスト保険者131016", "employee_validity = fixed:2026-10-31"])
        #expect(
            r.status == 78 && r.stderr.contains("employee_validity") && r.stderr.contains("before the version applies"),
            "\(r.stdout)\(r.stderr)")
        r = try setParameters(
            tdb, from: "2026-11-01",
            [
                "insurer_name = テスト保険者131016", "employee_validity = fixed:2030-11-30",
                "residence_cap = day_after",
            ])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")

        r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let shown = try runKakunin(["insurer", "params", "show", "--insurer", "131016", "--on", "2026-11-21"], database: tdb)
        #expect(
            shown.stdout.contains("employee_validity = fixed:2030-11-30") && shown.stdout.contains("residence_cap = day_after"),
            "\(shown.stdout)\(shown.stderr)")
        let d = try NightlyRunTests().decisions(tdb, run: 1)
        #expect(d["W"]?[0...3] == ["issue", "MYNA_STATUS_UNKNOWN", "2026-11-21", "2030-11-30"], "\(d["W"] ?? [])")
        #expect(d["R"]?[0...3] == ["issue", "MYNA_STATUS_UNKNOWN", "2026-11-21", "2027-03-16"], "\(d["R"] ?? [])")
        let e = try runKakunin(["explain", "--insurer", "131016", "--member", "W", "--as-of", "2026-11-21"], database: tdb)
        #expect(e.status == 0 && e.stdout.contains("employee_validity = fixed"), "\(e.stdout)\(e.stderr)")
    }
}
