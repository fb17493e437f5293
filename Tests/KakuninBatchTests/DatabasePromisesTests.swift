import Foundation
import KakuninBatch
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 28 items 4, 5, 8 and 13: promises the database keeps whoever logs in (sql/020). Each
/// test logs in as a role of its own and tries what it must not do.
@Suite("Promises the database keeps, role by role", .serialized)
struct DatabasePromisesTests {
    let tdb: TestDatabase
    let dir: URL

    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("A"), FeedFiles.member("B"), FeedFiles.member("C"),
                FeedFiles.member("E", ["scheme": "elderly", "birth_date": "1948-01-01", "copay_ratio": "10"]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
    }

    func k(_ args: [String], env: [String: String] = [:]) throws -> CommandResult { try runKakunin(args, database: tdb, environment: env) }

    /// A login role of `group`, dropped when `body` ends.
    func asLogin<T>(_ group: String, scoped insurer: String? = nil, _ body: (Connection, String) throws -> T) throws -> T {
        let role = "t28_\(group.dropFirst("kakunin_".count))_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try tdb.connect()
        try admin.execute("CREATE ROLE \(role) LOGIN IN ROLE \(group)")
        defer {
            try? admin.execute("DROP OWNED BY \(role)")
            try? admin.execute("DROP ROLE \(role)")
        }
        if let insurer { try admin.execute("INSERT INTO staff_scope (login, insurer_number) VALUES ($1, $2)", [role, insurer]) }
        return try body(try Connection(url: "\(tdb.url) user=\(role)"), role)
    }

    func refused(
        _ c: Connection, _ sql: String, _ params: [String?] = [], state: String = "42501",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let e = #expect(throws: DatabaseError.self, "\(sql)", sourceLocation: sourceLocation) { try c.execute(sql, params) }
        #expect(e?.sqlState == state, "\(sql): \(e?.description ?? "")", sourceLocation: sourceLocation)
    }

    func count(_ sql: String, _ params: [String?] = []) throws -> Int { Int(try tdb.connect().query(sql, params).scalar ?? "0")! }

    let certificateInsert = """
        INSERT INTO certificate (insurer_number, certificate_number, member_id, run_id, kind, reasons, valid_from, valid_to, issued_on)
        VALUES ('131016', $1, 'A', $2, 'issue', '{NO_CARD}', '2026-11-21', '2027-07-31', '2026-11-21')
        """

    @Test("item 4: no login of staff or batch creates a certificate around kakunin; whatever the owner writes still enters the log")
    func certificatesOnlyThroughKakunin() throws {
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        let run = try tdb.connect().query("SELECT run_id::text FROM run").scalar!
        try asLogin("kakunin_staff", scoped: "131016") { staff, _ in
            refused(staff, certificateInsert, ["900001", nil])
            refused(staff, "UPDATE certificate SET valid_to = '2030-01-01' WHERE insurer_number = '131016'")
        }
        try asLogin("kakunin_batch") { batch, _ in
            // Without a run (the counter's kind), for a completed run, outside any block.
            refused(batch, certificateInsert, ["900002", nil])
            refused(batch, certificateInsert, ["900003", run])
            // A run changes certificates and applications only through run_apply_changes.
            refused(
                batch,
                "UPDATE certificate SET status = 'voided', voided_on = '2026-11-22', void_reason = 'x' WHERE insurer_number = '131016'")
            refused(batch, "UPDATE application SET fulfilled_on = '2026-11-22' WHERE insurer_number = '131016'")
            refused(batch, "SELECT run_apply_changes($1)", [run], state: "55000")
        }
        #expect(try count("SELECT count(*) FROM certificate WHERE certificate_number >= 900000") == 0)
        // The owner can write anything; it is in the log all the same, and verify can prove it.
        try tdb.connect().execute(certificateInsert, ["900004", nil])
        let key = dir.appendingPathComponent("k.pem")
        let pub = dir.appendingPathComponent("k.pub")
        #expect(try k(["audit", "keygen", "--private-key", key.path, "--public-key", pub.path]).status == 0)
        let cp = dir.appendingPathComponent("cp.txt")
        let r = try k(["audit", "checkpoint", "--key", key.path, "--output", cp.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try count("SELECT count(*) FROM audit_log WHERE insurer_number = '131016' AND certificate_number = 900004") == 1)
        let coverage = try tdb.connect().query("SELECT certificates, logged, pending, outside FROM certificate_log_coverage(NULL, NULL)")
            .rows[0]
        #expect(coverage[0] == coverage[1] && coverage[2] == "0" && coverage[3] == "0", "\(coverage)")
        let proof = try k(["audit", "prove", "--insurer", "131016", "--certificate", "900004"])
        #expect(proof.status == 0, "\(proof.stderr)")
        var v = try k(["audit", "verify", "--checkpoint", cp.path, "--public-key", pub.path])
        #expect(v.status == 0 && v.stdout.contains("waiting for the next seal"), "\(v.stdout)\(v.stderr)")
        // Only by disabling the trigger can the owner keep a certificate out of the log, and
        // verify (and the run's reconciliation) says so.
        let owner = try tdb.connect()
        try owner.execute("ALTER TABLE certificate DISABLE TRIGGER certificate_b_logged")
        try owner.execute(certificateInsert, ["900005", nil])
        try owner.execute("ALTER TABLE certificate ENABLE TRIGGER certificate_b_logged")
        v = try k(["audit", "verify", "--checkpoint", cp.path, "--public-key", pub.path])
        #expect(v.status == 13 && v.stdout.contains("1 outside the log"), "\(v.stdout)\(v.stderr)")
    }

    @Test("item 5: each role appends only its own actions; a forged run_decided never stops sealing")
    func auditActionsPerRole() throws {
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        let run = try tdb.connect().query("SELECT run_id::text FROM run").scalar!
        let append = "SELECT audit_append($1, '131016', NULL, $2, NULL, '{}')"
        try asLogin("kakunin_staff", scoped: "131016") { staff, _ in
            for action in ["run_decided", "counter_issued", "run_completed", "console_login", "import", "made_up"] {
                refused(staff, append, [action, run])
            }
            // What staff really do is still recorded.
            try staff.execute(append, ["certificate_printed", nil])
        }
        try asLogin("kakunin_batch") { batch, _ in
            // A run's decision is recorded once, by the run while it decides.
            refused(batch, append, ["run_decided", run])
            for action in ["counter_issued", "console_login", "certificate_voided", "application_added"] {
                refused(batch, append, [action, nil])
            }
            try batch.execute(append, ["import", nil])
        }
        for group in ["kakunin_auditor", "kakunin_console"] {
            try asLogin(group) { c, _ in refused(c, append, ["member_viewed", nil]) }
        }
        // Even the owner's forged repeat of a sealed run's event is sealed as it is, and the
        // checkpoints after it go on.
        let owner = try tdb.connect()
        _ = try owner.query("SELECT audit_seal()")
        _ = try owner.query(append, ["run_decided", run])
        _ = try owner.query("SELECT audit_append('counter_issued', '131016', 'A', NULL, NULL, '{\"certificate_number\": \"x\"}')")
        let key = dir.appendingPathComponent("k.pem")
        let pub = dir.appendingPathComponent("k.pub")
        #expect(try k(["audit", "keygen", "--private-key", key.path, "--public-key", pub.path]).status == 0)
        let cp = dir.appendingPathComponent("cp.txt")
        let r = try k(["audit", "checkpoint", "--key", key.path, "--output", cp.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try k(["audit", "verify", "--checkpoint", cp.path, "--public-key", pub.path]).status == 0)
        #expect(try count("SELECT count(*) FROM audit_log l JOIN audit_event e USING (event_id) WHERE e.action = 'run_decided'") == 2)
        #expect(
            try count("SELECT count(*) FROM audit_log WHERE certificate_number IS NOT NULL")
                == count("SELECT count(*) FROM certificate"), "every certificate once")
    }

    @Test("item 8: numbering, counter certificates and applications only through functions that apply the rules and log")
    func numberingAndApplications() throws {
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        let run = try tdb.connect().query("SELECT run_id::text FROM run").scalar!
        for group in ["kakunin_staff", "kakunin_batch"] {
            try asLogin(group, scoped: group == "kakunin_staff" ? "131016" : nil) { c, _ in
                refused(c, "UPDATE certificate_counter SET next_number = 9223372036854775000")
                refused(
                    c,
                    """
                    INSERT INTO application (insurer_number, member_id, kind, received_on, status, source)
                    VALUES ('131016', 'A', 'special_consideration', '2026-11-21', 'approved', 'staff')
                    """)
                refused(c, "UPDATE run SET numbers_from = 1, numbers_to = 2")
            }
        }
        try asLogin("kakunin_batch") { batch, _ in
            // Blocks only for a run in progress; partitions only for a run's date.
            refused(batch, "SELECT certificate_numbers_reserve($1, 1)", [run], state: "55000")
            refused(batch, "SELECT ensure_decision_partition('2031-03-01')")
            // An import-sourced row needs a running import.
            refused(
                batch,
                """
                INSERT INTO application (insurer_number, member_id, kind, received_on, basis, status, source, import_id)
                VALUES ('131016', 'A', 'card_lost', '2026-11-21', NULL, 'approved', 'import', 1)
                """)
        }
        try asLogin("kakunin_staff", scoped: "131016") { staff, _ in
            refused(staff, "SELECT certificate_numbers_reserve($1, 1)", [run])
        }
        // NO_BASIS holds for the owner too; an elderly member from 2026-08-01 needs no basis.
        let owner = try tdb.connect()
        refused(
            owner,
            """
            INSERT INTO application (insurer_number, member_id, kind, received_on, status, source)
            VALUES ('131016', 'A', 'special_consideration', '2026-11-21', 'approved', 'staff')
            """, state: "23514")
        try owner.execute(
            """
            INSERT INTO application (insurer_number, member_id, kind, received_on, status, source)
            VALUES ('131016', 'E', 'special_consideration', '2026-11-21', 'approved', 'staff')
            """)
        #expect(try count("SELECT next_number FROM certificate_counter WHERE insurer_number = '131016'") < 1000)
        // The counter job works through the functions, for a staff login too, and is logged.
        try asLogin("kakunin_staff", scoped: "131016") { _, role in
            let r = try k(
                ["application", "add", "--insurer", "131016", "--member", "B", "--kind", "special_consideration", "--format", "json"],
                env: ["PGUSER": role])
            #expect(r.status == 0 && r.stdout.contains("NO_BASIS"), "\(r.stdout)\(r.stderr)")
        }
        #expect(try count("SELECT count(*) FROM audit_event WHERE action = 'application_added'") == 1)
    }

    @Test("item 13: a reissue racing a void of the same certificate fails (65) instead of reissuing a voided one")
    func reissueRacingVoid() throws {
        var r = try k(["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"])
        #expect(r.status == 0, "\(r.stderr)")
        let first = try tdb.connect().query("SELECT certificate_number::text FROM certificate WHERE member_id = 'A'").scalar!
        r = try k([
            "application", "add", "--insurer", "131016", "--member", "A", "--kind", "reissue", "--status", "approved",
            "--received-on", "2026-11-22",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let reissue = try startKakunin(
            ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-22"], database: tdb,
            environment: ["KAKUNIN_PAUSE_AT": "counter:decided", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        // Decided to replace the first certificate; meanwhile another clerk voids it.
        r = try k([
            "certificate", "void", "--insurer", "131016", "--certificate", first, "--reason", "issued in error", "--on", "2026-11-22",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        try FileManager.default.removeItem(at: gate)
        let result = reissue.wait()
        #expect(result.status == 65, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("no longer active"), "\(result.stderr)")
        #expect(try count("SELECT count(*) FROM certificate WHERE member_id = 'A'") == 1, "nothing reissued")
        #expect(try count("SELECT count(*) FROM audit_event WHERE action = 'counter_issued'") == 1)
    }

    @Test(
        "issue 34 item 5: the run's log coverage reads the audit log once per certificate (sql/040), with the same counts: in the log, waiting in a pending range, outside"
    )
    func logCoverageReadsTheLogOnce() throws {
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        let owner = try tdb.connect()
        let run = try owner.query("SELECT run_id::text FROM run").scalar!
        let issued = try count("SELECT count(*) FROM certificate")
        #expect(issued > 0)
        // Two certificates waiting for a seal (two pending ranges) around one kept out of the log.
        try owner.execute(certificateInsert, ["900010", nil])
        try owner.execute("ALTER TABLE certificate DISABLE TRIGGER certificate_b_logged")
        try owner.execute(certificateInsert, ["900011", nil])
        try owner.execute("ALTER TABLE certificate ENABLE TRIGGER certificate_b_logged")
        try owner.execute(certificateInsert, ["900012", nil])
        func coverage(_ insurer: String?, _ run: String?) throws -> [String?] {
            try owner.query("SELECT certificates, logged, pending, outside FROM certificate_log_coverage($1, $2)", [insurer, run]).rows[0]
        }
        #expect(try coverage(nil, nil) == [String(issued + 3), String(issued), "2", "1"])
        #expect(try coverage("131016", nil) == [String(issued + 3), String(issued), "2", "1"])
        #expect(try coverage("131016", run) == [String(issued), String(issued), "0", "0"])
        // Each certificate is looked up in the log once (sql/020 inlined its certificates into
        // each count and looked each up three times): index scans of audit_log in this
        // transaction at most one per certificate, or one scan of the whole table. A connection
        // of its own: the view also shows what the connection's earlier transactions have not
        // yet reported.
        let fresh = try tdb.connect()
        let scans = try fresh.transaction { () -> [String?] in
            _ = try fresh.query("SELECT * FROM certificate_log_coverage('131016', NULL)")
            let sql = "SELECT coalesce(idx_scan, 0), seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'audit_log'"
            return try fresh.query(sql).rows[0]
        }
        let (index, sequential) = (Int(scans[0]!)!, Int(scans[1]!)!)
        #expect(index <= issued + 3 && sequential <= 1 && (index == 0 || sequential == 0), "\(scans)")
    }
}
