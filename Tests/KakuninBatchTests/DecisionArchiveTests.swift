import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 34 item 4: `kakunin archive --before D` writes old decision partitions to files, logs
/// them, and only then drops them; the auditors check a file offline against the log.
@Suite("Archiving old decisions", .serialized)
struct DecisionArchiveTests {
    /// Two months of nights: 2026-10-05 (base run, the first), 10-06, 11-02 (full after 28 days
    /// and the first full run of November: a base run), 11-03. October is archivable.
    private func twoMonths(_ nights: [String] = ["2026-10-05", "2026-10-06", "2026-11-02", "2026-11-03"]) throws -> (TestDatabase, URL) {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        _ = try k(
            tdb,
            ["import", "members", try FeedFiles.write(dir, "m.csv", IncrementalNightTests.members(12)).path, "--report-dir", dir.path])
        _ = try k(
            tdb,
            [
                "import", "myna-status", try FeedFiles.write(dir, "s.csv", IncrementalNightTests.myna(12, asOf: "2026-10-01")).path,
                "--report-dir", dir.path,
            ])
        for day in nights {
            let r = try nightly(tdb, day, out: dir.appendingPathComponent("out"), params: dir)
            #expect(r.status == 0, "\(day): \(r.stdout)\(r.stderr)")
        }
        let base = try tdb.connect().query("SELECT counts->>'base_run' FROM run ORDER BY run_id").rows.map { $0[0] }
        #expect(base == Array(["true", "false", "true", "false"].prefix(nights.count)))
        return (tdb, dir)
    }

    @discardableResult
    private func k(_ tdb: TestDatabase?, _ args: [String], env: [String: String] = [:], status: Int32 = 0) throws -> CommandResult {
        let r = try runKakunin(args, database: tdb, environment: env)
        #expect(r.status == status, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        return r
    }

    /// A login of the batch role (the operators' role), dropped when the test ends.
    private func batchLogin(_ tdb: TestDatabase) throws -> (String, () -> Void) {
        let admin = try tdb.connect()
        let role = "archive_batch_\(UInt32.random(in: 0...UInt32.max))"
        try admin.execute("CREATE ROLE \(role) LOGIN IN ROLE kakunin_batch")
        return (
            role,
            {
                try? admin.execute("DROP OWNED BY \(role)")
                try? admin.execute("DROP ROLE \(role)")
            }
        )
    }

    private func events(_ tdb: TestDatabase, _ action: String) throws -> Int {
        Int(try tdb.connect().query("SELECT count(*) FROM audit_event WHERE action = $1", [action]).scalar!)!
    }

    private func partitions(_ tdb: TestDatabase) throws -> [String] {
        try tdb.connect().query("SELECT partition_name FROM decision_partitions()").rows.map { $0[0]! }
    }

    @Test("refused with cause and fix inside the window or with nothing to archive; the database refuses a drop without a logged archive")
    func refusals() throws {
        let (tdb, dir) = try twoMonths(["2026-10-05", "2026-10-06", "2026-11-02"])
        let out = dir.appendingPathComponent("archive")
        // The latest run is November's base run, but the run before it (its report's "changes
        // since the previous run") reads October: October stays until the next night.
        var r = try k(tdb, ["archive", "--before", "2026-11-01", "--output", out.path], status: 64)
        #expect(r.stderr.contains("read from 2026-10-01") && r.stderr.contains("--before 2026-10-01"), "\(r.stderr)")
        #expect(try nightly(tdb, "2026-11-03", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        let listed = try k(tdb, ["archive", "--list"])
        #expect(listed.stdout.contains("decision_y2026m10  2026-10") && listed.stdout.contains("read from: 2026-11-01"), "\(listed.stdout)")
        r = try k(tdb, ["archive", "--before", "2026-11-15", "--output", out.path], status: 64)
        #expect(r.stderr.contains("inside the window") && r.stderr.contains("--before 2026-11-01"), "\(r.stderr)")
        #expect(r.stderr.contains("131016 (base run 3, 2026-11-02)"), "\(r.stderr)")
        r = try k(tdb, ["archive", "--before", "2026-10-01", "--output", out.path], status: 66)
        #expect(r.stderr.contains("no decisions of a month before 2026-10-01") && r.stderr.contains("fix:"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        // The batch role cannot drop a partition itself, nor have it dropped without the archive's entry.
        let (role, drop) = try batchLogin(tdb)
        defer { drop() }
        let login = try Connection(url: "\(tdb.url) user=\(role)")
        #expect(throws: DatabaseError.self) { try login.execute("DROP TABLE decision_y2026m10") }
        #expect(throws: DatabaseError.self) { try login.execute("ALTER TABLE decision DETACH PARTITION decision_y2026m10") }
        do {
            _ = try login.query("SELECT decision_partition_drop('2026-10-01')")
            Issue.record("dropped without an archive entry")
        } catch let e as DatabaseError {
            #expect(e.sqlState == "42501" && e.message.contains("no sealed decisions_archived entry"), "\(e)")
        }
        // November holds decisions in force: refused even with an entry.
        do {
            _ = try login.query("SELECT decision_partition_drop('2026-11-01')")
            Issue.record("dropped a partition in force")
        } catch let e as DatabaseError {
            #expect(e.sqlState == "55006" && e.message.contains("still in force"), "\(e)")
        }
        #expect(try partitions(tdb) == ["decision_y2026m10", "decision_y2026m11"])
    }

    @Test("killed between file and log and between log and drop, the reruns finish once: one entry, one drop, the same file")
    func crashesAndReruns() throws {
        let (tdb, dir) = try twoMonths()
        let out = dir.appendingPathComponent("archive")
        let file = out.appendingPathComponent("decisions-2026-10.csv")
        let inForce = try k(tdb, ["export", "decisions", "--run", "4"]).stdout
        let (role, drop) = try batchLogin(tdb)
        defer { drop() }
        let args = ["archive", "--before", "2026-11-01", "--output", out.path]
        // Killed after the file: no entry, partition kept.
        try k(tdb, args, env: ["PGUSER": role, "KAKUNIN_CRASH_AT": "archive:file"], status: 9)
        let first = try Data(contentsOf: file)
        #expect(try events(tdb, "decisions_archived") == 0 && partitions(tdb).count == 2)
        #expect(try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int == 0o600)
        // Killed after the entry: the partition is still there.
        try k(tdb, args, env: ["PGUSER": role, "KAKUNIN_CRASH_AT": "archive:logged"], status: 9)
        #expect(try events(tdb, "decisions_archived") == 1 && partitions(tdb).count == 2)
        // A reader holding the decisions (as a night's run does): the drop waits 5 s at most, then exit 75.
        let reader = try tdb.connect()
        try reader.execute("BEGIN")
        try reader.execute("LOCK TABLE decision IN ROW EXCLUSIVE MODE")
        let busy = try k(tdb, args, env: ["PGUSER": role], status: 75)
        #expect(busy.stderr.contains("the decisions are in use") && busy.stderr.contains("run kakunin archive again"), "\(busy.stderr)")
        try reader.execute("ROLLBACK")
        #expect(try events(tdb, "decisions_archived") == 1 && partitions(tdb).count == 2)
        let r = try k(tdb, args, env: ["PGUSER": role])
        #expect(r.stdout.contains("archived decision_y2026m10") && r.stdout.contains("its log entry was already there"), "\(r.stdout)")
        #expect(try events(tdb, "decisions_archived") == 1 && events(tdb, "decision_partition_dropped") == 1)
        #expect(try partitions(tdb) == ["decision_y2026m11"])
        #expect(try Data(contentsOf: file) == first)
        // The file: a header and every October decision (2 runs of 12 members at most).
        let lines = String(decoding: first, as: UTF8.self).split(separator: "\n")
        #expect(lines.first?.hasPrefix("run_id,insurer_number,member_id,as_of,scheme,outcome,reasons,") == true)
        let entry = try tdb.connect().query(
            "SELECT details->>'rows', details->>'runs', details->>'file' FROM audit_event WHERE action = 'decisions_archived'"
        ).rows[0]
        #expect(entry == [String(lines.count - 1), "[1, 2]", "decisions-2026-10.csv"], "\(entry)")
        // Once more: nothing left, and it says what was archived before.
        #expect(try k(tdb, args, env: ["PGUSER": role]).stdout.contains("archived before (partitions already dropped): decision_y2026m10"))
        // Run 2's decisions went with October: export, explain, replay and report say where they are.
        for args in [
            ["export", "decisions", "--run", "2"], ["explain", "--run", "2", "--member", "M001"], ["replay", "--run", "2"],
            ["report", "--run", "2", "--out", dir.appendingPathComponent("out").path],
        ] {
            let gone = try k(tdb, args, status: 66)
            #expect(
                gone.stderr.contains("the decisions of run 2 were archived with the month of 2026-10 (file decisions-2026-10.csv)"),
                "\(args): \(gone.stderr)")
        }
        // The decisions in force are untouched; the next night goes on from them.
        #expect(try k(tdb, ["export", "decisions", "--run", "4"]).stdout == inForce)
        #expect(try nightly(tdb, "2026-11-04", out: dir.appendingPathComponent("out"), params: dir).status == 0)
    }

    @Test("the auditors verify an archive file offline against its signed log entry; a changed or shortened file fails naming why")
    func verifyArchive() throws {
        let (tdb, dir) = try twoMonths()
        let out = dir.appendingPathComponent("archive")
        try k(tdb, ["archive", "--before", "2026-11-01", "--output", out.path])
        let file = out.appendingPathComponent("decisions-2026-10.csv")
        let (key, pub) = (dir.appendingPathComponent("keys/k.pem"), dir.appendingPathComponent("keys/k.pub"))
        try k(nil, ["audit", "keygen", "--private-key", key.path, "--public-key", pub.path])
        try k(tdb, ["audit", "checkpoint", "--key", key.path, "--output", dir.appendingPathComponent("cp.txt").path])
        let proof = dir.appendingPathComponent("p.txt")
        try k(tdb, ["audit", "prove-archive", file.path, "--output", proof.path])
        let verify = ["audit", "verify-archive", file.path, "--proof", proof.path, "--public-key", pub.path]
        let ok = try k(nil, verify)
        #expect(ok.stdout.contains("archive verified") && ok.stdout.contains("decision_y2026m10, runs 1 2"), "\(ok.stdout)")
        let text = try String(contentsOf: file, encoding: .utf8)
        // One decision changed.
        try text.replacingOccurrences(of: ",none,", with: ",issue,").write(to: file, atomically: true, encoding: .utf8)
        var bad = try k(nil, verify, status: 13)
        #expect(bad.stdout.contains("archive NOT verified") && bad.stdout.contains("is not the entry's"), "\(bad.stdout)")
        // One decision removed.
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.remove(at: 1)
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        bad = try k(nil, verify, status: 13)
        #expect(bad.stdout.contains("the file holds \(text.split(separator: "\n").count - 2) rows, the entry records"), "\(bad.stdout)")
        // Another key: the checkpoint is not the auditors'.
        try text.write(to: file, atomically: true, encoding: .utf8)
        let other = dir.appendingPathComponent("keys/o.pem")
        try k(nil, ["audit", "keygen", "--private-key", other.path, "--public-key", other.path + ".pub"])
        bad = try k(nil, ["audit", "verify-archive", file.path, "--proof", proof.path, "--public-key", other.path + ".pub"], status: 13)
        #expect(bad.stdout.contains("signature is not valid"), "\(bad.stdout)")
    }
}
