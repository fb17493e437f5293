import Foundation
import KakuninCore
import KakuninTesting
import Testing

/// Issue 34: incremental nights through the CLI. A night decides only the members whose facts
/// changed or whose review date came and carries every other decision in force forward; a full
/// run (--full, or automatically) decides everyone and checks the carried decisions.
@Suite("Incremental nights", .serialized)
struct IncrementalNightTests {
    static let mynaHeader = NightlyRunTests.mynaHeader

    /// A: no card, certificate to 07-31. B: usable card. C: card suspended. Z1…Z(n): no card.
    static func members(_ n: Int, changed: [String: [String: String]] = [:]) -> [String] {
        var lines = [FeedFiles.memberHeader]
        for i in 0..<n {
            let id = String(format: "M%03d", i)
            var fields: [String: String] = ["birth_date": "19\(50 + i % 45)-0\(1 + i % 9)-1\(i % 10)", "household_id": "H\(id)"]
            if i % 5 == 1 { fields["scheme"] = "employee" }
            if i % 7 == 3 {
                fields["scheme"] = "elderly"
                fields["birth_date"] = "194\(i % 10)-05-05"
            }
            for (k, v) in changed[id] ?? [:] { fields[k] = v }
            lines.append(FeedFiles.member(id, fields))
        }
        return lines
    }

    static func myna(_ n: Int, asOf: String) -> [String] {
        [mynaHeader]
            + (0..<n).map { i in
                let id = String(format: "M%03d", i)
                switch i % 4 {
                case 0: return "131016,\(id),\(asOf),false,,none,,"
                case 1: return "131016,\(id),\(asOf),true,registered,active,2031-01-31,"
                case 2: return "131016,\(id),\(asOf),true,registered,suspended,2031-01-31,"
                default: return "131016,\(id),\(asOf),true,not_registered,active,2031-01-31,"
                }
            }
    }

    private func k(_ tdb: TestDatabase, _ args: [String]) throws -> CommandResult {
        let r = try runKakunin(args, database: tdb)
        #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        return r
    }

    private func importMembers(_ tdb: TestDatabase, _ dir: URL, _ lines: [String], _ name: String) throws {
        _ = try k(tdb, ["import", "members", try FeedFiles.write(dir, name, lines).path, "--report-dir", dir.path])
    }

    private func runInfo(_ tdb: TestDatabase, _ run: Int) throws -> [String?] {
        try tdb.connect().query(
            """
            SELECT counts->>'full_run', counts->>'carried_forward', (SELECT count(*) FROM decision WHERE run_id = $1)::text,
                   counts->>'members_read'
            FROM run WHERE run_id = $1
            """, [String(run)]
        ).rows[0]
    }

    /// base_run (the run stores every member), base_run_id, last_full_run_id.
    private func baseInfo(_ tdb: TestDatabase, _ run: Int) throws -> [String?] {
        try tdb.connect().query(
            "SELECT counts->>'base_run', counts->>'base_run_id', counts->>'last_full_run_id' FROM run WHERE run_id = $1", [String(run)]
        ).rows[0]
    }

    @Test("an incremental night decides only changed members and those due for review; every read shows all decisions in force")
    func incrementalNight() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        try importMembers(tdb, dir, Self.members(20), "m1.csv")
        _ = try k(
            tdb,
            ["import", "myna-status", try FeedFiles.write(dir, "s.csv", Self.myna(20, asOf: "2026-11-01")).path, "--report-dir", dir.path])
        #expect(try nightly(tdb, "2026-11-20", out: out, params: dir).status == 0)
        #expect(try runInfo(tdb, 1) == ["true", "0", "20", "20"])
        let full = try NightlyRunTests().decisions(tdb, run: 1)

        // M004's address changes: it and the members whose review date came are decided.
        try importMembers(tdb, dir, Self.members(20, changed: ["M004": ["address": "東京都港区芝公園4丁目2番8号"]]), "m2.csv")
        let r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let info = try runInfo(tdb, 2)
        #expect(info[0] == "false" && Int(info[1]!)! > 0 && Int(info[1]!)! + Int(info[2]!)! == 20, "\(info)")
        #expect(r.stdout.contains("members = decided + carried forward"), "\(r.stdout)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM decision WHERE run_id = 2 AND member_id = 'M004'").scalar == "1")
        let carried = try db.query(
            """
            SELECT m.member_id FROM member m WHERE NOT EXISTS (SELECT 1 FROM decision d WHERE d.run_id = 2 AND d.member_id = m.member_id)
            ORDER BY 1 LIMIT 1
            """
        ).scalar!
        // The export names every member, as run 2's.
        let second = try NightlyRunTests().decisions(tdb, run: 2)
        #expect(second.count == 20 && second[carried]?.prefix(2) == full[carried]?.prefix(2), "\(second[carried] ?? [])")
        let export = try k(tdb, ["export", "decisions", "--run", "2"])
        #expect(export.stdout.contains("2,131016,\(carried),2026-11-21,"), "\(export.stdout)")
        // explain and replay read the carried decision too.
        let explain = try k(tdb, ["explain", "--run", "2", "--member", carried])
        #expect(explain.stdout.contains(full[carried]![0]), "\(explain.stdout)")
        let replay = try runKakunin(["replay", "--run", "2"], database: tdb)
        #expect(replay.status == 0 && replay.stdout.contains("20"), "\(replay.stdout)\(replay.stderr)")
    }

    @Test(
        "full runs: --full, a parameter change and full_run_days; a carried decision that differs fails the check (exit 13) naming the member"
    )
    func fullRuns() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        try importMembers(tdb, dir, Self.members(12), "m1.csv")
        _ = try k(
            tdb,
            ["import", "myna-status", try FeedFiles.write(dir, "s.csv", Self.myna(12, asOf: "2026-11-01")).path, "--report-dir", dir.path])
        for day in ["2026-11-20", "2026-11-21"] { #expect(try nightly(tdb, day, out: out, params: dir).status == 0) }
        #expect(try runInfo(tdb, 2)[0] == "false")
        // --full: everyone decided, and the decisions a night would have carried compared.
        var r = try runKakunin(["run", "--insurer", "131016", "--as-of", "2026-11-22", "--out", out.path, "--full"], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // Not a base run (run 1 is, in the same month): it stores only the decisions that are not
        // the one in force; the equal ones count as carried forward (issue 34 item 4).
        var info = try runInfo(tdb, 3)
        #expect(info[0] == "true" && Int(info[1]!)! > 0 && Int(info[1]!)! + Int(info[2]!)! == 12, "\(info)")
        #expect(try baseInfo(tdb, 3) == ["false", "1", "3"])
        #expect(r.stdout.contains("every decision an incremental night would carry forward = the full run's decision"), "\(r.stdout)")
        #expect(try NightlyRunTests().decisions(tdb, run: 3).count == 12)
        // Seven days after the last full run: full again, without asking.
        #expect(try nightly(tdb, "2026-11-23", out: out, params: dir).status == 0)
        #expect(try runInfo(tdb, 4)[0] == "false")
        #expect(try baseInfo(tdb, 4) == ["false", "1", "3"])
        #expect(try nightly(tdb, "2026-11-29", out: out, params: dir).status == 0)
        #expect(try runInfo(tdb, 5)[0] == "true")
        #expect(try baseInfo(tdb, 5) == ["false", "1", "5"])
        // A new parameter version: a base run, every member's decision stored.
        #expect(try setParameters(tdb, from: "2026-11-30", ["insurer_name = テスト保険者131016", "full_run_days = 3"]).status == 0)
        #expect(try nightly(tdb, "2026-11-30", out: out, params: dir).status == 0)
        info = try runInfo(tdb, 6)
        #expect(info[0...2] == ["true", "0", "12"], "\(info)")
        #expect(try baseInfo(tdb, 6) == ["true", "6", "6"])
        #expect(try nightly(tdb, "2026-12-01", out: out, params: dir).status == 0)
        #expect(try runInfo(tdb, 7)[0] == "false")
        #expect(try baseInfo(tdb, 7) == ["false", "6", "6"])

        // A decision in force that is not what the policy decides (as a faulty review date would
        // leave it): the next full run names the member and fails.
        let db = try tdb.connect()
        let member = try db.query(
            """
            SELECT member_id FROM decision_in_force(7) WHERE outcome = 'none' AND next_review_on > '2026-12-02' ORDER BY member_id LIMIT 1
            """
        ).scalar!
        try db.execute("SET session_replication_role = replica")
        try db.execute(
            "UPDATE decision SET reasons = '{NO_CARD}' WHERE member_id = $1 AND run_id = (SELECT decided_run_id FROM decision_in_force(7) WHERE member_id = $1)",
            [member])
        r = try runKakunin(["run", "--insurer", "131016", "--as-of", "2026-12-02", "--out", out.path, "--full"], database: tdb)
        #expect(r.status == 13, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("1 of") && r.stdout.contains(member), "\(r.stdout)")
        // The first full run of December is a base run: it stores every member's decision.
        #expect(try runInfo(tdb, 8)[0...2] == ["true", "0", "12"])
        #expect(try baseInfo(tdb, 8) == ["true", "8", "8"])
        #expect(r.stdout.contains("the first full run of the month (a base run)"), "\(r.stdout)")
    }

    @Test("a full run that is not a base run stores the decision that differs from the one in force, and the next night carries it")
    func fullRunStoresDifferences() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        try importMembers(tdb, dir, Self.members(12), "m1.csv")
        _ = try k(
            tdb,
            ["import", "myna-status", try FeedFiles.write(dir, "s.csv", Self.myna(12, asOf: "2026-11-01")).path, "--report-dir", dir.path])
        for day in ["2026-11-20", "2026-11-21"] { #expect(try nightly(tdb, day, out: out, params: dir).status == 0) }
        let db = try tdb.connect()
        let member = try db.query(
            "SELECT member_id FROM decision_in_force(2) WHERE outcome = 'none' AND next_review_on > '2026-11-23' ORDER BY member_id LIMIT 1"
        ).scalar!
        try db.execute("SET session_replication_role = replica")
        try db.execute(
            "UPDATE decision SET reasons = '{NO_CARD}' WHERE member_id = $1 AND run_id = (SELECT decided_run_id FROM decision_in_force(2) WHERE member_id = $1)",
            [member])
        let r = try runKakunin(["run", "--insurer", "131016", "--as-of", "2026-11-22", "--out", out.path, "--full"], database: tdb)
        #expect(r.status == 13 && r.stdout.contains(member), "\(r.stdout)\(r.stderr)")
        // Run 3 stored the member's decision (it differs); the decision in force is right again.
        #expect(try db.query("SELECT count(*) FROM decision WHERE run_id = 3 AND member_id = $1", [member]).scalar == "1")
        #expect(try db.query("SELECT reasons::text FROM decision_in_force(3) WHERE member_id = $1", [member]).scalar != "{NO_CARD}")
        #expect(try baseInfo(tdb, 3) == ["false", "1", "3"])
        let next = try runKakunin(["run", "--insurer", "131016", "--as-of", "2026-11-23", "--out", out.path, "--full"], database: tdb)
        #expect(next.status == 0, "\(next.stdout)\(next.stderr)")
    }

    @Test("an incremental night killed at any step resumes to the same decisions in force and the same files")
    func crashedIncrementalNight() throws {
        func prepared() throws -> (TestDatabase, URL) {
            let tdb = try TestDatabase()
            let dir = try temporaryDirectory()
            try importMembers(tdb, dir, Self.members(16), "m1.csv")
            _ = try k(
                tdb,
                [
                    "import", "myna-status", try FeedFiles.write(dir, "s.csv", Self.myna(16, asOf: "2026-11-01")).path, "--report-dir",
                    dir.path,
                ])
            #expect(try nightly(tdb, "2026-11-20", out: dir.appendingPathComponent("out"), params: dir).status == 0)
            try importMembers(tdb, dir, Self.members(16, changed: ["M004": ["address": "東京都港区芝公園4丁目2番8号"]]), "m2.csv")
            return (tdb, dir)
        }
        func result(_ tdb: TestDatabase, _ dir: URL) throws -> [String] {
            let folder = dir.appendingPathComponent("out/131016/2026-11-21/nightly")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix("report.") }.sorted()
            return [try k(tdb, ["export", "decisions", "--run", "2"]).stdout]
                + (try files.map { "\($0): \(try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8))" })
        }
        let (clean, cleanDir) = try prepared()
        #expect(try nightly(clean, "2026-11-21", out: cleanDir.appendingPathComponent("out"), params: cleanDir).status == 0)
        #expect(try runInfo(clean, 2)[0] == "false")
        let expected = try result(clean, cleanDir)
        // The night reads its candidates only: killed at the first, a middle and the last one read.
        let read = Int(try clean.connect().query("SELECT counts->>'facts_read' FROM run WHERE run_id = 2").scalar!)!
        #expect(read < 16, "an incremental night reads only its candidates (\(read) of 16)")
        let points = Set([1, (read + 1) / 2, read]).sorted().map { "decide:\($0)" }
        for point in points + ["before-commit", "committed", "after-commit", "before-publish"] {
            let (tdb, dir) = try prepared()
            let crashed = try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir, crashAt: point)
            #expect(crashed.status == 9, "killed at \(point): \(crashed.stderr)")
            #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0, "rerun after \(point)")
            #expect(try runInfo(tdb, 2)[0...1] == (try runInfo(clean, 2))[0...1], "after \(point)")
            #expect(try result(tdb, dir) == expected, "after a kill at \(point)")
        }
    }
}
