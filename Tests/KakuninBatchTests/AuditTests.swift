import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 11: a log an auditor verifies without trusting the database.
@Suite("The audit log: checkpoints, verification, proofs", .serialized)
struct AuditTests {
    let tdb: TestDatabase
    let dir: URL
    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let k = try runKakunin(["audit", "keygen", "--private-key", key.path, "--public-key", pub.path], database: nil)
        #expect(k.status == 0, "\(k.stderr)")
    }
    var key: URL { dir.appendingPathComponent("audit-key.pem") }
    var pub: URL { dir.appendingPathComponent("audit-pub.pem") }
    var out: URL { dir.appendingPathComponent("out") }

    func night(_ asOf: String) throws {
        let r = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", dir.path,
                "--audit-key", key.path,
            ], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    func checkpoint(_ name: String) throws -> URL {
        let f = dir.appendingPathComponent(name)
        let r = try runKakunin(
            ["audit", "checkpoint", "--key", key.path, "--output", f.path, "--leaves", f.path + ".leaves"], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        return f
    }

    func verify(_ cp: URL, older: URL? = nil, leaves: Bool = true) throws -> CommandResult {
        var args = ["audit", "verify", "--checkpoint", cp.path, "--public-key", pub.path]
        if let older { args += ["--older", older.path] }
        if leaves { args += ["--leaves", cp.path + ".leaves"] }
        return try runKakunin(args, database: tdb)
    }

    @Test("the run writes a checkpoint; a later one extends it (consistency); keys are openssl's formats")
    func intactAndConsistent() throws {
        try night("2026-11-21")
        let first = out.appendingPathComponent("131016/2026-11-21/nightly/checkpoint.txt")
        #expect(FileManager.default.fileExists(atPath: first.path))
        try night("2026-11-22")
        let second = try checkpoint("cp2.txt")
        let r = try verify(second, older: first)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("audit log verified") && r.stdout.contains("it extends the checkpoint of"), "\(r.stdout)")
        // Every certificate issued is an entry of its own.
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT count(*) FROM audit_log WHERE certificate_number IS NOT NULL").scalar
                == db.query("SELECT count(*) FROM certificate").scalar)
        // openssl reads both keys: it derives the same public key from the private one.
        #expect(try sh("openssl pkey -in '\(key.path)' -pubout | cmp - '\(pub.path)'") == 0)
        // A checkpoint signed by another key is refused.
        let other = dir.appendingPathComponent("other-pub.pem")
        #expect(
            try runKakunin(
                ["audit", "keygen", "--private-key", dir.appendingPathComponent("other.pem").path, "--public-key", other.path],
                database: nil
            ).status == 0)
        let wrong = try runKakunin(["audit", "verify", "--checkpoint", second.path, "--public-key", other.path], database: tdb)
        #expect(wrong.status == 13 && wrong.stdout.contains("does not carry a valid signature"), "\(wrong.stdout)")
    }

    @Test("a superuser who disables the triggers and edits an event is caught, the entry named (no stored hash to recompute helps)")
    func editedAndRehashed() throws {
        try night("2026-11-21")
        let cp = try checkpoint("cp.txt")
        let db = try tdb.connect()
        try db.execute("ALTER TABLE audit_event DISABLE TRIGGER USER")
        try db.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        let index = Int(
            try db.query(
                """
                SELECT l.log_index FROM audit_log l JOIN audit_event e USING (event_id) WHERE e.action = 'run_decided'
                """
            ).scalar!)!
        try db.execute("UPDATE audit_event SET details = details || '{\"certificates_issued\": 2}' WHERE action = 'run_decided'")
        let r = try verify(cp)
        #expect(r.status == 13)
        #expect(r.stdout.contains("do not hash to the checkpoint's root"), "\(r.stdout)")
        #expect(r.stdout.contains("the first entry that differs from the checkpoint's leaves is \(index)"), "\(r.stdout)")
        // Without the leaves file it is still caught.
        #expect(try verify(cp, leaves: false).status == 13)
    }

    @Test("a deleted last entry is caught; a truncated log is caught")
    func deleted() throws {
        try night("2026-11-21")
        let cp = try checkpoint("cp.txt")
        let db = try tdb.connect()
        try db.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        let size = Int(try db.query("SELECT count(*) FROM audit_log").scalar!)!
        try db.execute("DELETE FROM audit_log WHERE log_index = (SELECT max(log_index) FROM audit_log)")
        var r = try verify(cp)
        #expect(r.status == 13)
        #expect(r.stdout.contains("entries \(size - 1) … \(size - 1) were deleted"), "\(r.stdout)")
        try db.execute("TRUNCATE audit_log")
        r = try verify(cp)
        #expect(r.status == 13 && r.stdout.contains("the log holds 0 entries"), "\(r.stdout)")
    }

    @Test("an inclusion proof verifies with kakunin and with openssl alone; a forged one does not")
    func inclusionProof() throws {
        try night("2026-11-21")
        _ = try checkpoint("cp.txt")
        let proof = dir.appendingPathComponent("proof.txt")
        let p = try runKakunin(["audit", "prove", "--insurer", "131016", "--certificate", "2", "--output", proof.path], database: tdb)
        #expect(p.status == 0, "\(p.stderr)")
        let v = try runKakunin(["audit", "verify-proof", proof.path, "--public-key", pub.path], database: nil)
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        #expect(v.stdout.contains("\"certificate_number\":2"))
        let script = TestDatabase.repositoryRoot.appendingPathComponent("jobs/verify-proof-openssl").path
        #expect(try sh("'\(script)' '\(proof.path)' '\(pub.path)' | grep -q 'inclusion proof OK'") == 0)
        // Change the entry (say, the validity) and both checks fail.
        var text = try String(contentsOf: proof, encoding: .utf8)
        let line = text.split(separator: "\n").first { $0.hasPrefix("entry-base64: ") }!
        let entry = String(decoding: Data(base64Encoded: String(line.dropFirst(14)))!, as: UTF8.self)
        #expect(entry.contains("\"valid_to\":\"2027-01-20\""), "\(entry)")
        let forged = Data(entry.replacingOccurrences(of: "2027-01-20", with: "2027-07-31").utf8).base64EncodedString()
        text = text.replacingOccurrences(of: String(line), with: "entry-base64: \(forged)")
        try text.write(to: proof, atomically: true, encoding: .utf8)
        #expect(try runKakunin(["audit", "verify-proof", proof.path, "--public-key", pub.path], database: nil).status == 13)
        #expect(try sh("'\(script)' '\(proof.path)' '\(pub.path)' >/dev/null 2>&1") != 0)
    }

    @Test("two runs and two imports at the same time: no false alarm, the log verifies")
    func concurrentWritersVerify() throws {
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let pause = ["KAKUNIN_PAUSE_AT": "before-commit", "KAKUNIN_PAUSE_FILE": gate.path]
        let first = try startKakunin(
            ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", out.path, "--params-dir", dir.path, "--quiet"],
            database: tdb, environment: pause)
        #expect(try eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        // While the run holds its transaction (its event ids taken), others write and commit.
        let s = try FeedFiles.write(dir, "s2.csv", [NightlyRunTests.mynaHeader, "131016,A,2026-11-20,false,,none,,"])
        let a = try FeedFiles.write(dir, "a2.csv", [NightlyRunTests.appHeader, "131016,E,reissue,2026-11-20,,pending"])
        let i1 = try startKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb)
        let i2 = try startKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(i1.wait().status == 0)
        let second = try startKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-22", "--out", out.path, "--params-dir", dir.path,
                "--quiet", "--lock-wait", "60",
            ], database: tdb)
        try FileManager.default.removeItem(at: gate)
        #expect(first.wait().status == 0)
        #expect(second.wait().status == 0)
        #expect(i2.wait().status == 0)
        let cp = try checkpoint("cp.txt")
        let r = try verify(cp)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test("the seal finds a run's certificates in the block of numbers it reserved; a run without a block (before sql/011) by its id")
    func sealReadsTheRunsBlock() throws {
        try night("2026-11-21")
        let db = try tdb.connect()
        // Every run's certificates lie in its block, and all of them are in the log.
        #expect(
            try db.query(
                """
                SELECT count(*) FROM certificate c JOIN run r USING (run_id)
                WHERE c.certificate_number < r.numbers_from OR c.certificate_number >= r.numbers_to
                """
            ).scalar == "0")
        #expect(try db.query("SELECT count(*) FROM certificate WHERE run_id IS NOT NULL").scalar != "0")
        let logged = "SELECT count(*) FROM audit_log l JOIN certificate c USING (insurer_number, certificate_number) WHERE c.run_id = $1"
        #expect(
            try db.query("SELECT count(*) FROM certificate WHERE run_id IS NOT NULL").scalar
                == db.query(
                    "SELECT count(*) FROM audit_log l JOIN certificate c USING (insurer_number, certificate_number) WHERE c.run_id IS NOT NULL"
                ).scalar)

        func decidedRun(asOf: String, block: (Int, Int)?, numbers: [Int]) throws -> String {
            let id = try db.query(
                """
                INSERT INTO run (insurer_number, as_of, job, status, phase, numbers_from, numbers_to)
                VALUES ('131016', $1, 'legacy', 'completed', 'completed', $2, $3) RETURNING run_id
                """, [asOf, block.map { String($0.0) }, block.map { String($0.1) }]
            ).scalar!
            for n in numbers {
                try db.execute(
                    """
                    INSERT INTO certificate (insurer_number, certificate_number, member_id, run_id, kind, reasons, valid_from, valid_to, issued_on)
                    VALUES ('131016', $1, 'A', $2, 'issue', '{}', $3, $3::date + 364, $3)
                    """, [String(n), id, asOf])
            }
            _ = try db.query("SELECT audit_append('run_decided', '131016', NULL, $1, NULL, '{}')", [id])
            _ = try db.query("SELECT audit_seal()")
            return id
        }
        // Decided before runs reserved numbers: found by its id alone.
        let legacy = try decidedRun(asOf: "2026-11-23", block: nil, numbers: [900_001, 900_002])
        #expect(try db.query(logged, [legacy]).scalar == "2")
        // A row naming the run outside its block (which only the owner can write: sql/020) still
        // enters the log: no certificate stays outside it, whoever wrote it.
        let blocked = try decidedRun(asOf: "2026-11-24", block: (910_000, 910_002), numbers: [910_000, 910_001, 920_000])
        #expect(try db.query(logged, [blocked]).scalar == "3")
        let r = try verify(try checkpoint("cp-blocks.txt"), leaves: false)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test("a staff action during a nightly run's open transaction does not wait for it")
    func writersDoNotQueue() throws {
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let run = try startKakunin(
            ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", out.path, "--params-dir", dir.path, "--quiet"],
            database: tdb, environment: ["KAKUNIN_PAUSE_AT": "before-commit", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(try eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        // The run has written its run_decided event and holds its transaction open.
        let staff = try tdb.connect()
        try staff.execute("SET statement_timeout = '3s'")
        let started = Date()
        try staff.execute("SELECT audit_append('member_viewed', '131016', 'A', NULL, NULL, '{}')")
        // Sealing does not wait for the run either, and leaves its uncommitted event for later.
        _ = try staff.query("SELECT audit_seal()")
        #expect(Date().timeIntervalSince(started) < 2)
        try FileManager.default.removeItem(at: gate)
        #expect(run.wait().status == 0)
        // Both end up in the log, in the order they committed: the staff event first.
        let db = try tdb.connect()
        _ = try db.query("SELECT audit_seal()")
        let order = try db.query(
            "SELECT e.action FROM audit_log l JOIN audit_event e USING (event_id) WHERE e.action IN ('member_viewed', 'run_decided') ORDER BY l.log_index"
        ).rows
        #expect(order == [["member_viewed"], ["run_decided"]])
    }
}

/// Runs a shell command line; returns its exit status.
func sh(_ command: String) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", command]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}
