import Foundation
import KakuninCore
import KakuninStore
import KakuninTesting
import Testing

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// Issue 28, items 1, 17 and 18: a run never issues on a wrong premise (a date behind the
/// insurer's latest run or counter issue, a date outside 1900–2099 or far from today), a
/// completed run can always be finished and its files written again, and a takeover never
/// waits silently for a lock.
@Suite("A run's premises: time, dates, files, locks", .serialized)
struct RunPremiseTests {
    let tdb: TestDatabase
    let dir: URL

    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
    }

    var out: URL { dir.appendingPathComponent("out") }
    var key: URL { dir.appendingPathComponent("audit-key.pem") }

    func run(_ asOf: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> CommandResult {
        try start(asOf, extra, env: env).wait()
    }

    func start(_ asOf: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> RunningCommand {
        try startKakunin(
            ["run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", dir.path, "--quiet"] + extra,
            database: tdb, environment: env)
    }

    func folder(_ asOf: String, _ job: String = "nightly") -> URL { out.appendingPathComponent("131016/\(asOf)/\(job)") }

    func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    // MARK: item 1 — runs move forward in time

    @Test("item 1: a run behind a completed run of the insurer (any job) exits 12 and writes nothing; its dry run still decides")
    func backDatedRunRefused() throws {
        let first = try run("2026-12-01")
        #expect(first.status == 0 || first.status == 11, "\(first.stderr)")
        let db = try tdb.connect()
        let before = try db.query(
            """
            SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM certificate), (SELECT count(*) FROM decision),
                   (SELECT count(*) FROM notice), (SELECT next_number FROM certificate_counter WHERE insurer_number = '131016'),
                   (SELECT count(*) FROM audit_event)
            """
        ).rows
        for job in ["nightly", "catchup"] {
            let r = try run("2026-11-01", ["--job", job])
            #expect(r.status == 12, "\(job): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("would go back in time: run 1 (job nightly, completed) is as of 2026-12-01"), "\(r.stderr)")
            #expect(r.stderr.contains("fix: run for 2026-12-01 or later"), "\(r.stderr)")
            #expect(!exists(out.appendingPathComponent("131016/2026-11-01")), "no folder for the refused run")
        }
        #expect(
            try db.query(
                """
                SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM certificate), (SELECT count(*) FROM decision),
                       (SELECT count(*) FROM notice), (SELECT next_number FROM certificate_counter WHERE insurer_number = '131016'),
                       (SELECT count(*) FROM audit_event)
                """
            ).rows == before, "no run row, certificate, decision, notice, number block or event")
        // The dry run decides that date without issuing anything.
        let dry = try run("2026-11-01", ["--dry-run"])
        #expect(dry.status == 0 || dry.status == 11, "\(dry.stderr)")
        #expect(dry.stdout.contains("decisions"), "\(dry.stdout)")
        // The same date, another job, and a later date go on.
        #expect([0, 11].contains(try run("2026-12-01", ["--job", "catchup"]).status))
        #expect([0, 11].contains(try run("2026-12-02").status))
        // The database refuses such a run row whatever path adds it.
        #expect(throws: DatabaseError.self) {
            try db.execute(
                "INSERT INTO run (insurer_number, as_of, job, status, phase) VALUES ('131016', '2026-11-30', 'raw', 'running', 'deciding')")
        }
        do {
            try db.execute(
                "INSERT INTO run (insurer_number, as_of, job, status, phase) VALUES ('131016', '2026-11-30', 'raw', 'running', 'deciding')")
        } catch let e as DatabaseError {
            #expect(
                e.sqlState == "23514" && e.message.contains("would go back in time: run 3 (job nightly, completed) is as of 2026-12-02"),
                "\(e)")
        }
    }

    @Test("item 1: a running (abandoned) later run counts too; a rerun of the completed later run still finishes")
    func behindAnAbandonedRun() throws {
        let crashed = try run("2026-12-05", env: ["KAKUNIN_CRASH_AT": "decide:1"])
        #expect(crashed.status == 9, "\(crashed.stderr)")
        let r = try run("2026-12-02", ["--job", "catchup"])
        #expect(r.status == 12, "\(r.stderr)")
        #expect(r.stderr.contains("run 1 (job nightly, running) is as of 2026-12-05"), "\(r.stderr)")
        let finished = try run("2026-12-05")
        #expect(finished.status == 0 || finished.status == 11, "\(finished.stderr)")
        #expect(try tdb.connect().query("SELECT count(*) FROM run").scalar == "1")
    }

    @Test("item 1: a catch-up run behind certificates handed over at the counter on a later date is refused up front (12), not retried")
    func behindCounterCertificates() throws {
        let issued = try runKakunin(
            ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-12-05"],
            database: tdb)
        #expect(issued.status == 0, "\(issued.stderr)")
        let started = Date()
        let r = try run("2026-12-01")
        #expect(r.status == 12, "\(r.stdout)\(r.stderr)")
        #expect(
            r.stderr.contains(
                "1 certificate(s) were handed over at the counter on a later date, starting after 2026-12-01 (latest: certificate 1 of member A, issued 2026-12-05, valid from 2026-12-05)"
            ), "\(r.stderr)")
        #expect(r.stderr.contains("fix: run for 2026-12-05 or later"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM run").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM certificate").scalar == "1")
        #expect(try run("2026-12-01", ["--dry-run"]).status != 12, "the dry run still decides")
        // On the counter's date the run sees the certificate: no clash, no second one for A.
        let onDate = try run("2026-12-05")
        #expect(onDate.status == 0 || onDate.status == 11, "\(onDate.stderr)")
        #expect(try db.query("SELECT count(*) FROM certificate WHERE member_id = 'A' AND status = 'active'").scalar == "1")
    }

    @Test("item 1: dates lie in 1900-01-01 … 2099-12-31 (run, counter, explain, feeds); an as-of far from today needs --allow-far-date")
    func dateBounds() throws {
        for args in [
            ["run", "--insurer", "131016", "--as-of", "2200-12-31", "--out", out.path, "--params-dir", dir.path],
            ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2200-12-31"],
            ["explain", "--insurer", "131016", "--member", "A", "--as-of", "1899-12-31"],
        ] {
            let r = try runKakunin(args, database: tdb)
            #expect(r.status == 64, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("outside the dates kakunin accepts (1900-01-01 … 2099-12-31)"), "\(args[0]): \(r.stderr)")
        }
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM run").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM certificate").scalar == "0")
        // Within 1900–2099 but more than 366 days from today: a mistyped year, unless said so.
        let today = LocalDate(testToday)!
        let far = today.adding(days: 400).description
        let refused = try run(far)
        #expect(refused.status == 64, "\(refused.stderr)")
        #expect(refused.stderr.contains("is 400 days after today (\(today)): more than 366 days away"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--allow-far-date"), "\(refused.stderr)")
        let allowed = try run(far, ["--allow-far-date", "--dry-run"])
        #expect(allowed.status == 0 || allowed.status == 11, "\(allowed.stderr)")
        #expect(try run(today.adding(days: -367).description, ["--dry-run"]).status == 64)
        // Feeds: the row is rejected with its line, column and the range.
        let m = try FeedFiles.write(
            dir, "dates.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("F1", ["birth_date": "2200-01-01"]), FeedFiles.member("F2", ["birth_date": "1899-12-31"]),
                FeedFiles.member("F3", ["birth_date": "1900-01-01"]), FeedFiles.member("F4", ["qualified_on": "2099-12-31"]),
            ])
        let r = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        let reason = "outside the dates kakunin accepts (1900-01-01 … 2099-12-31): check the year"
        #expect(
            try db.query("SELECT line::text, column_name, reason FROM import_reject ORDER BY line").rows
                == [["2", "birth_date", reason], ["3", "birth_date", reason]])
        #expect(try db.query("SELECT member_id FROM member WHERE member_id LIKE 'F%' ORDER BY 1").rows == [["F3"], ["F4"]])
    }

    // MARK: item 17 — finishing a completed run, rebuilding its files

    @Test("item 17: a run killed once it is marked completed gets its signed checkpoint from the rerun")
    func checkpointAfterKill() throws {
        let pub = dir.appendingPathComponent("audit-pub.pem")
        #expect(try runKakunin(["audit", "keygen", "--private-key", key.path, "--public-key", pub.path], database: nil).status == 0)
        let crashed = try run("2026-12-01", ["--audit-key", key.path], env: ["KAKUNIN_CRASH_AT": "completed"])
        #expect(crashed.status == 9, "\(crashed.stderr)")
        let checkpoint = folder("2026-12-01").appendingPathComponent("checkpoint.txt")
        #expect(exists(folder("2026-12-01").appendingPathComponent("manifest.json")) && !exists(checkpoint))
        let rerun = try startKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-12-01", "--out", out.path, "--params-dir", dir.path,
                "--audit-key", key.path,
            ], database: tdb
        ).wait()
        #expect(rerun.status == 0 || rerun.status == 11, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("the signed checkpoint of run 1 was missing"), "\(rerun.stderr)")
        #expect(exists(checkpoint))
        let mode = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let verified = try runKakunin(["audit", "verify", "--checkpoint", checkpoint.path, "--public-key", pub.path], database: tdb)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // Everything the run logged is sealed into the checkpointed log.
        #expect(try tdb.connect().query("SELECT count(*) FROM audit_pending").scalar == "0")
        // Once it is there, a rerun leaves it alone.
        let written = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
        usleep(20_000)
        let third = try run("2026-12-01", ["--audit-key", key.path])
        #expect(third.status == rerun.status)
        #expect(try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date == written)
    }

    @Test("item 17: without a key, the rerun of a run killed once it is marked completed seals the run's last events")
    func sealAfterKill() throws {
        let db = try tdb.connect()
        // The run's early seal (on a thread of its own, after the commit) waits for the seal's
        // lock here, so the kill surely comes before anything seals the run's last event.
        _ = try db.query("SELECT pg_advisory_lock(hashtext('kakunin.audit_seal'))")
        let crashed = try run("2026-12-01", env: ["KAKUNIN_CRASH_AT": "completed"])
        #expect(crashed.status == 9, "\(crashed.stderr)")
        // Its server backend, still waiting, would seal once the lock is free: it goes too.
        _ = try db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kakunin-run-seal'")
        #expect(
            try eventually {
                try db.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kakunin-run-seal'").scalar == "0"
            })
        _ = try db.query("SELECT pg_advisory_unlock(hashtext('kakunin.audit_seal'))")
        let unsealed = "SELECT count(*) FROM audit_pending p JOIN audit_event e USING (event_id) WHERE e.action = 'run_completed'"
        let before = try db.query(unsealed).scalar
        #expect(before == "1", "the kill came before the seal: \(before ?? "nil")")
        let rerun = try run("2026-12-01")
        #expect(rerun.status == 0 || rerun.status == 11, "\(rerun.stderr)")
        #expect(try db.query(unsealed).scalar == "0")
        #expect(try db.query("SELECT count(*) FROM audit_pending").scalar == "0")
    }

    @Test("item 17: --rebuild-files writes a completed run's mailing files again, byte for byte, audited; never over files")
    func rebuildFiles() throws {
        let first = try run("2026-12-01")
        #expect(first.status == 0 || first.status == 11, "\(first.stderr)")
        let f = folder("2026-12-01")
        let names = [
            "certificates.csv", "eligibility_notices.csv", "apply_notices.csv", "envelopes.csv", "exceptions.csv", "manifest.json",
        ]
        let original = try names.map { try Data(contentsOf: f.appendingPathComponent($0)) }
        #expect(original[0].count > 500, "the run issued certificates")
        // An import after the run changes an address: the files still show the member as the run saw it.
        let m = try FeedFiles.write(
            dir, "moved.csv",
            [FeedFiles.memberHeader] + ["A", "B", "C", "D"].map { FeedFiles.member($0) }
                + [FeedFiles.member("E", ["address": "東京都港区芝公園4丁目2番8号"])])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        // Into a folder that holds files: refused, nothing touched.
        let again = try run("2026-12-01", ["--rebuild-files"])
        #expect(again.status == 78, "\(again.stderr)")
        #expect(again.stderr.contains("already holds"), "\(again.stderr)")
        #expect(try names.map { try Data(contentsOf: f.appendingPathComponent($0)) } == original)
        // A plain rerun says where the files went, and how to get them back.
        try FileManager.default.removeItem(at: f)
        let rerun = try startKakunin(
            ["run", "--insurer", "131016", "--as-of", "2026-12-01", "--out", out.path, "--params-dir", dir.path],
            database: tdb
        ).wait()
        #expect(
            rerun.stderr.contains("the mailing files of run 1 are not in")
                && rerun.stderr.contains("kakunin run --rebuild-files writes them again"),
            "\(rerun.stderr)")
        #expect(!exists(f))
        let rebuilt = try run("2026-12-01", ["--rebuild-files"])
        #expect(rebuilt.status == 0 || rebuilt.status == 11, "\(rebuilt.stdout)\(rebuilt.stderr)")
        #expect(
            rebuilt.stdout.contains("Mailing files of run 1 for insurer 131016 as of 2026-12-01 written again from the database"),
            "\(rebuilt.stdout)")
        for (name, bytes) in zip(names, original) {
            #expect(try Data(contentsOf: f.appendingPathComponent(name)) == bytes, "\(name) is byte for byte the original")
        }
        for name in names + ["report.html", "report.json"] {
            let mode = try FileManager.default.attributesOfItem(atPath: f.appendingPathComponent(name).path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name)")
        }
        let db = try tdb.connect()
        let event = try db.query(
            "SELECT run_id::text, details->>'person', details->>'manifest_sha256' FROM audit_event WHERE action = 'run_files_rebuilt'"
        ).rows
        #expect(event.count == 1 && event[0][0] == "1" && (event[0][1] ?? "").contains("@"), "\(event)")
        #expect(try db.query("SELECT count(*) FROM run").scalar == "1" && db.query("SELECT status FROM run").scalar == "completed")
        // Only a completed run's files.
        let none = try run("2026-12-02", ["--rebuild-files"])
        #expect(none.status == 66, "\(none.stderr)")
        #expect(try db.query("SELECT count(*) FROM run").scalar == "1", "no run row created")
    }

    // MARK: item 18 — no silent wait in a takeover

    @Test("item 18: a takeover whose locks are still held by the abandoned run's process exits 75 after --lock-wait, naming it")
    func takeoverLockWait() throws {
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let first = try start("2026-12-01", env: ["KAKUNIN_PAUSE_AT": "decide:2", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        let db = try tdb.connect()
        // The run's lock connection goes (a network cut): the run is abandoned, but its other
        // connections are still open and the writer holds the insurer's row.
        #expect(
            try db.query(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'kakunin-run' AND pid <> pg_backend_pid()
                """
            ).scalar == "1")
        let started = Date()
        let second = try run("2026-12-01", ["--lock-wait", "1"])
        let waited = Date().timeIntervalSince(started)
        #expect(second.status == 75, "\(second.stdout)\(second.stderr)")
        #expect(waited < 15, "waited \(waited) s")
        #expect(second.stderr.contains("waited 1.0 s (--lock-wait) for a lock on the insurer's row"), "\(second.stderr)")
        #expect(second.stderr.contains("(kakunin-run-write, user "), "the connection holding it is named: \(second.stderr)")
        #expect(second.stderr.contains("abandoned run 1 (as of 2026-12-01, job nightly) was last run by"), "\(second.stderr)")
        #expect(second.stderr.contains("fix: end that process"), "\(second.stderr)")
        // Let the first go: it finds it lost the run and stops; the next run finishes the job.
        try FileManager.default.removeItem(at: gate)
        #expect(first.wait().status == 75)
        let third = try run("2026-12-01", ["--lock-wait", "30"])
        #expect(third.status == 0 || third.status == 11, "\(third.stderr)")
        #expect(try db.query("SELECT status FROM run").rows == [["completed"]])
    }

    @Test("item 18: a row lock on the run held by another connection: the takeover exits 75 after --lock-wait")
    func takeoverRunRowLocked() throws {
        let crashed = try run("2026-12-01", env: ["KAKUNIN_CRASH_AT": "decide:1"])
        #expect(crashed.status == 9)
        let holder = try tdb.connect()
        try holder.execute("BEGIN")
        _ = try holder.query("SELECT 1 FROM run WHERE run_id = 1 FOR UPDATE")
        let started = Date()
        let running = try start("2026-12-01", ["--lock-wait", "1"])
        let finished = Finished(running)
        // A run that waits silently is let go after 20 s (the lock is released), so that this
        // test fails rather than hangs.
        let inTime = finished.wait(seconds: 20)
        try holder.execute("ROLLBACK")
        let r = finished.result()
        #expect(inTime, "still waiting after 20 s")
        #expect(r.status == 75, "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(r.stderr.contains("for a lock on the run's row of insurer 131016, still held by connection"), "\(r.stderr)")
        #expect([0, 11].contains(try run("2026-12-01").status))
    }
}

/// A command's result, awaited on another thread with a time limit.
final class Finished: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: CommandResult?

    init(_ command: RunningCommand) {
        DispatchQueue.global().async {
            self.value = command.wait()
            self.done.signal()
        }
    }

    /// Whether the command ended within `seconds`.
    func wait(seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }

    /// The result, once the command has ended (waits for it).
    func result() -> CommandResult {
        if value == nil {
            done.wait()
            done.signal()
        }
        return value!
    }
}
