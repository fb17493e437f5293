import Foundation
import KakuninBatch
import KakuninCounter
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 12: counter issuance (即日交付), reissue, returned mail handed over at the counter,
/// staff scoped to insurers by row-level security, and numbering that never waits for a run.
@Suite("Counter issuance through the CLI", .serialized)
struct CounterIssueTests {
    let tdb: TestDatabase
    let dir: URL

    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("A"),
                FeedFiles.member("B", ["family_name": "髙橋", "given_name": "花子", "sex": "2", "birth_date": "1954-05-06"]),
                FeedFiles.member("G", ["scheme": "elderly", "birth_date": "1948-01-01", "copay_ratio": "10"]),
                FeedFiles.member("X", ["insurer_number": "131024"]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
    }

    func k(_ args: [String], env: [String: String] = [:]) throws -> CommandResult { try runKakunin(args, database: tdb, environment: env) }

    func issue(
        _ member: String, _ asOf: String = "2026-11-21", _ extra: [String] = [], insurer: String = "131016",
        env: [String: String] = [:]
    ) throws -> CommandResult {
        try k(["counter", "issue", "--insurer", insurer, "--member", member, "--as-of", asOf] + extra, env: env)
    }

    func certificate(_ r: CommandResult) throws -> CounterDesk.IssuedCertificate {
        try JSONDecoder().decode(CounterDesk.IssuedCertificate.self, from: Data(r.stdout.utf8))
    }

    @Test("a counter issue: the next number, printed with SPEC 5.1's fields; the nightly run then issues no second one")
    func issueThenNightly() throws {
        let printed = dir.appendingPathComponent("a.html")
        let r = try issue("A", "2026-11-21", ["--format", "json", "--print", printed.path])
        #expect(r.status == 0, "\(r.stderr)")
        let c = try certificate(r)
        #expect(c.certificate_number == 1 && c.kind == "issue" && c.member_id == "A" && c.valid_from == "2026-11-21")
        #expect(c.issued_on_era == "令和8年11月21日" && c.birth_date_era == "昭和55年4月1日")
        #expect(c.copay_ratio == nil, "an nhi member under 70: no copay ratio printed")
        // The printable page: self-contained, owner-only, with the printed fields.
        let html = try String(contentsOf: printed, encoding: .utf8)
        for text in [
            "<html lang=\"ja\">", "資格確認書", "山田\u{3000}太郎", "昭和55年4月1日", "男", "記号 千代田", "番号 1234567", "枝番 00",
            "131016", "有効期限", c.valid_to_era, "交付年月日", "令和8年11月21日", "@page { size: 85.6mm 54mm",
        ] {
            #expect(html.contains(text), "\(text)")
        }
        #expect(!html.contains("<script") && !html.contains("http"))
        let mode = try FileManager.default.attributesOfItem(atPath: printed.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The nightly run sees it: A gets nothing more, and the number is not used again.
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT certificate_number::text, run_id IS NULL FROM certificate WHERE member_id = 'A'").rows == [["1", "t"]])
        #expect(try db.query("SELECT outcome FROM decision WHERE member_id = 'A'").scalar == "none")
        #expect(try db.query("SELECT count(*) FROM certificate WHERE certificate_number = 1").scalar == "1")
        #expect(try db.query("SELECT count(*) FROM certificate WHERE run_id IS NOT NULL").scalar == "2", "B and G by the run")
        // The same number everywhere: the member's record, the audit event, the sealed log.
        let show = try k(["member", "show", "--insurer", "131016", "--member", "A", "--format", "json"])
        let record = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as! [String: Any]
        #expect(((record["certificates"] as? [[String: Any]])?.first?["certificate_number"] as? String) == "1")
        #expect(
            try db.query(
                "SELECT details->>'certificate_number', details->>'person' IS NOT NULL, actor FROM audit_event WHERE action = 'counter_issued'"
            ).rows
                == [["1", "t", try db.query("SELECT current_user").scalar]])
        #expect(try db.query("SELECT count(*) FROM audit_log WHERE insurer_number = '131016' AND certificate_number = 1").scalar == "1")
        // The counter's certificate has its own entry, provable offline against a signed checkpoint.
        let key = dir.appendingPathComponent("k.pem")
        let pub = dir.appendingPathComponent("k.pub")
        let cp = dir.appendingPathComponent("cp.txt")
        let proof = dir.appendingPathComponent("proof.txt")
        #expect(try k(["audit", "keygen", "--private-key", key.path, "--public-key", pub.path]).status == 0)
        #expect(try k(["audit", "checkpoint", "--key", key.path, "--output", cp.path]).status == 0)
        #expect(try k(["audit", "verify", "--checkpoint", cp.path, "--public-key", pub.path]).status == 0)
        let p = try k(["audit", "prove", "--insurer", "131016", "--certificate", "1", "--output", proof.path])
        #expect(p.status == 0, "\(p.stderr)")
        let v = try k(["audit", "verify-proof", proof.path, "--public-key", pub.path])
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
        // Asked again, the counter explains why nothing is issued and changes nothing.
        let again = try issue("A", "2026-11-22")
        #expect(again.status == 0 && again.stdout.contains("nothing issued") && again.stdout.contains("COVERED"), "\(again.stdout)")
        #expect(try db.query("SELECT count(*) FROM certificate").scalar == "3")
    }

    @Test("two clerks issue to the same member at once: one certificate; the second is told why not")
    func twoClerks() throws {
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let args = ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"]
        let first = try startKakunin(
            args, database: tdb, environment: ["KAKUNIN_PAUSE_AT": "counter:decided", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        let second = try startKakunin(args, database: tdb)
        usleep(1_000_000)
        try FileManager.default.removeItem(at: gate)
        let a = first.wait()
        let b = second.wait()
        #expect(a.status == 0 && a.stdout.contains("certificate 1 issued"), "\(a.stdout)\(a.stderr)")
        #expect(b.status == 0 && b.stdout.contains("nothing issued") && b.stdout.contains("COVERED"), "\(b.stdout)\(b.stderr)")
        #expect(try tdb.connect().query("SELECT count(*) FROM certificate WHERE member_id = 'A'").scalar == "1")
    }

    @Test("copay ratio printed for elderly members and nhi members aged 70–74, with its effective date")
    func copay() throws {
        let g = try certificate(try issue("G", "2026-11-21", ["--format", "json"]))
        #expect(g.copay_ratio == 10 && g.copay_effective_on == g.valid_from && g.copay_effective_on_era == "令和8年11月21日")
        let b = try certificate(try issue("B", "2026-11-21", ["--format", "json"]))
        #expect(b.copay_ratio == 30, "aged 72; the feed's default copay is 30")
        #expect(b.family_name == "髙橋" && b.sex == "2")
        let postcard = dir.appendingPathComponent("g.html")
        #expect(try issue("G", "2026-11-21", ["--print", postcard.path, "--paper", "postcard"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: postcard.path), "nothing issued, nothing printed")
    }

    @Test("a reissue at the counter: same validity, the old certificate voided, the application fulfilled; the run leaves it")
    func reissue() throws {
        let out = dir.appendingPathComponent("out")
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        let db = try tdb.connect()
        let old = try db.query("SELECT certificate_number::text, valid_from::text, valid_to::text FROM certificate WHERE member_id = 'A'")
            .rows[0]
        var r = try k([
            "application", "add", "--insurer", "131016", "--member", "A", "--kind", "reissue", "--received-on", "2026-11-25",
            "--status", "approved", "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        r = try issue("A", "2026-11-25", ["--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let c = try certificate(r)
        #expect(c.kind == "reissue" && c.replaces_certificate_number == Int64(old[0]!) && c.reasons == ["APP_REISSUE"])
        #expect(c.valid_from == old[1] && c.valid_to == old[2])
        #expect(
            try db.query("SELECT status, voided_on::text, void_reason FROM certificate WHERE certificate_number = $1", [old[0]]).rows
                == [["voided", "2026-11-25", "replaced by certificate \(c.certificate_number) (reissued at the counter)"]])
        #expect(
            try db.query(
                "SELECT fulfilled_certificate_number::text, fulfilled_on::text, fulfilled_run_id FROM application WHERE member_id = 'A'"
            ).rows
                == [[String(c.certificate_number), "2026-11-25", nil]])
        #expect(try nightly(tdb, "2026-11-26", out: out, params: dir).status == 0)
        #expect(try db.query("SELECT count(*) FROM certificate WHERE member_id = 'A' AND status = 'active'").scalar == "1")
        #expect(try db.query("SELECT outcome FROM decision WHERE member_id = 'A' AND as_of = '2026-11-26'").scalar == "none")
    }

    @Test("returned mail: the counter hands the renewal over although the member's mail is held, and the return is resolved")
    func returnedMailHandedOver() throws {
        let out = dir.appendingPathComponent("out")
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        let db = try tdb.connect()
        let a = try db.query("SELECT certificate_number FROM certificate WHERE member_id = 'A'").scalar!
        #expect(try k(["certificate", "return", "--insurer", "131016", "--certificate", a, "--on", "2026-11-25"]).status == 0)
        #expect(try nightly(tdb, "2027-06-25", out: out, params: dir).status == 11, "held: MAIL_RETURNED")
        let r = try issue("A", "2027-06-26", ["--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try certificate(r).kind == "renew")
        #expect(try db.query("SELECT resolved_on::text FROM mail_return").scalar == "2027-06-26")
        #expect(
            try db.query("SELECT (details->>'mail_returns_resolved')::int FROM audit_event WHERE action = 'counter_issued'").scalar == "1")
    }

    @Test("a returned notice: recorded once, and the member's next mail is held with MAIL_RETURNED")
    func returnedNotice() throws {
        let s = try FeedFiles.write(dir, "s.csv", [MailFilesTests.mynaHeader, "131016,A,2026-11-01,true,registered,suspended,2030-01-31,"])
        #expect(try k(["import", "myna-status", s.path, "--report-dir", dir.path]).status == 0)
        let out = dir.appendingPathComponent("out")
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        let db = try tdb.connect()
        #expect(try db.query("SELECT run_id FROM notice WHERE member_id = 'A' AND kind = 'apply_notice'").scalar == "1")
        let ret = ["notice", "return", "--insurer", "131016", "--member", "A", "--kind", "apply_notice"]
        var r = try k(ret + ["--on", "2026-11-28", "--note", "あて所に尋ねあたりません"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try k(ret + ["--run", "1"]).status == 65, "recorded once")
        #expect(try k(["notice", "return", "--insurer", "131016", "--member", "A", "--kind", "eligibility_notice"]).status == 66)
        #expect(try k(["notice", "return", "--insurer", "131016", "--member", "A", "--kind", "letter"]).status == 64)
        let show = try k(["member", "show", "--insurer", "131016", "--member", "A"])
        #expect(
            show.stdout.contains("notice_run_id=1") && show.stdout.contains("not mailed again until the address changes"), "\(show.stdout)")
        // Guidance is repeated after 90 days: not to an address it came back from.
        r = try nightly(tdb, "2027-03-01", out: out, params: dir)
        #expect(r.status == 11, "\(r.stdout)\(r.stderr)")
        #expect(
            try db.query("SELECT outcome, reasons::text FROM decision WHERE member_id = 'A' AND as_of = '2027-03-01'").rows.first?[1]?
                .contains("MAIL_RETURNED") == true)
        #expect(try db.query("SELECT count(*) FROM notice WHERE member_id = 'A'").scalar == "1")
    }

    @Test("bad input: unknown insurer or member, a date in the wrong form, an unknown paper size; nothing changes")
    func badInput() throws {
        #expect(try issue("NOPE").status == 66)
        #expect(try issue("A", insurer: "999999").status == 66)
        #expect(try issue("A", "21/11/2026").status == 64)
        #expect(try issue("A", "2026-11-21", ["--paper", "A4"]).status == 64)
        #expect(try tdb.connect().query("SELECT count(*) FROM certificate").scalar == "0")
        #expect(try tdb.connect().query("SELECT next_number FROM certificate_counter WHERE insurer_number = '131016'").scalar == "1")
    }

    @Test("a staff login scoped to one insurer sees and changes only that insurer's rows, in the CLI and in SQL")
    func scopedStaff() throws {
        let role = "staff_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try tdb.connect()
        try admin.execute("CREATE ROLE \(role) LOGIN IN ROLE kakunin_staff")
        defer {
            try? admin.execute("DROP OWNED BY \(role)")
            try? admin.execute("DROP ROLE \(role)")
        }
        let asStaff = ["PGUSER": role]
        // Unscoped: sees nothing, and is told how to be scoped.
        var r = try k(["member", "find", "--insurer", "131016", "--member", "A"], env: asStaff)
        #expect(r.status == 77 && r.stderr.contains("kakunin staff scope \(role) --insurer 131016"), "\(r.stderr)")
        #expect(try k(["staff", "scope", role, "--insurer", "131016"]).status == 0)
        #expect(try k(["staff", "scopes"]).stdout.contains("\(role)\t131016"))
        // Its own insurer: the whole counter job works with the staff grants alone.
        r = try k(["member", "find", "--insurer", "131016", "--member", "A"], env: asStaff)
        #expect(r.status == 0 && r.stdout.contains("A\t"), "\(r.stderr)")
        r = try issue("A", "2026-11-21", ["--format", "json"], env: asStaff)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try k(["member", "show", "--insurer", "131016", "--member", "A"], env: asStaff).status == 0)
        r = try k(["application", "add", "--insurer", "131016", "--member", "B", "--kind", "card_lost", "--format", "json"], env: asStaff)
        #expect(r.status == 0, "\(r.stderr)")
        let app = try JSONDecoder().decode(CounterDesk.ApplicationRecord.self, from: Data(r.stdout.utf8)).application_id
        #expect(
            try k(
                ["application", "decide", "--insurer", "131016", "--application", String(app), "--reject", "--reason", "withdrawn"],
                env: asStaff
            ).status == 0)
        let printed = dir.appendingPathComponent("staff.html")
        r = try k(["certificate", "print", "--insurer", "131016", "--certificate", "1", "--print", printed.path], env: asStaff)
        #expect(r.status == 0, "\(r.stderr)")
        r = try k(["certificate", "void", "--insurer", "131016", "--certificate", "1", "--reason", "issued in error"], env: asStaff)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            try admin.query(
                "SELECT DISTINCT actor FROM audit_event WHERE action IN ('counter_issued', 'application_decided', 'certificate_printed', 'certificate_voided')"
            ).rows
                == [[role]], "the database names the staff login")
        // The other insurer: refused by the CLI, invisible and unchangeable in SQL.
        for args in [
            ["member", "find", "--insurer", "131024", "--member", "X"], ["member", "show", "--insurer", "131024", "--member", "X"],
        ] {
            r = try k(args, env: asStaff)
            #expect(r.status == 77, "\(args): \(r.stderr)")
        }
        #expect(try issue("X", insurer: "131024", env: asStaff).status == 77)
        let staff = try Connection(url: "\(tdb.url) user=\(role)")
        #expect(try staff.query("SELECT DISTINCT insurer_number FROM member").rows == [["131016"]])
        #expect(try staff.query("SELECT count(*) FROM member WHERE member_id = 'X'").scalar == "0")
        // Staff change applications only through the counter's functions (sql/020).
        let update = #expect(throws: DatabaseError.self) {
            try staff.execute("UPDATE application SET status = 'rejected', reject_reason = 'x' WHERE insurer_number = '131016'")
        }
        #expect(update?.sqlState == "42501")
        let insert = #expect(throws: DatabaseError.self) {
            try staff.execute(
                """
                INSERT INTO application (insurer_number, member_id, kind, received_on, status, source) VALUES ('131024', 'X', 'card_lost', '2026-11-21', 'pending', 'staff')
                """)
        }
        #expect(insert?.sqlState == "42501", "no direct insert")
        _ = try admin.query("SELECT audit_append('member_viewed', '131024', 'X', NULL, NULL, '{}')")
        #expect(try staff.query("SELECT count(*) FROM audit_event WHERE insurer_number = '131024'").scalar == "0")
        // Staff cannot scope themselves.
        #expect(try k(["staff", "scope", role, "--insurer", "131024"], env: asStaff).status == 77)
        #expect(try k(["staff", "unscope", role, "--insurer", "131016"]).status == 0)
        #expect(try k(["member", "find", "--insurer", "131016", "--member", "A"], env: asStaff).status == 77)
    }
}

@Suite("Counter issuance during a nightly run", .serialized)
struct CounterDuringRunTests {
    @Test(
        "a counter issue during a 100,000-member run of the same insurer takes under 2 s, with a number the run does not use; the run decides again around it"
    )
    func duringRun() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        var lines = [FeedFiles.memberHeader]
        lines.reserveCapacity(100_001)
        for i in 0..<100_000 { lines.append(FeedFiles.member(String(format: "M%06d", i))) }
        let m = try FeedFiles.write(dir, "m.csv", lines)
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let run = try startKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path,
                "--params-dir", dir.path,
            ], database: tdb,
            environment: ["KAKUNIN_PAUSE_AT": "decide:50000", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(eventually(120) { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        // The run holds its lock, its snapshot and its block of numbers; the counter does not wait.
        let started = Date()
        let r = try runKakunin(
            [
                "counter", "issue", "--insurer", "131016", "--member", "M099999", "--as-of", "2026-11-21",
                "--format", "json",
            ], database: tdb)
        let seconds = Date().timeIntervalSince(started)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(seconds < 2, "counter issue took \(seconds) s")
        let c = try JSONDecoder().decode(CounterDesk.IssuedCertificate.self, from: Data(r.stdout.utf8))
        #expect(c.certificate_number == 100_001, "after the run's block of 100,000")
        try FileManager.default.removeItem(at: gate)
        let done = run.wait()
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stderr.contains("issued a certificate at the counter during the run; deciding again"), "\(done.stderr.suffix(2000))")
        let db = try tdb.connect()
        // One certificate per member, the counter's for M099999, no number twice.
        #expect(
            try db.query(
                "SELECT count(*), count(DISTINCT member_id), count(DISTINCT certificate_number) FROM certificate WHERE status = 'active'"
            ).rows
                == [["100000", "100000", "100000"]])
        #expect(
            try db.query("SELECT certificate_number::text, run_id IS NULL FROM certificate WHERE member_id = 'M099999'").rows == [
                ["100001", "t"]
            ])
        #expect(
            try db.query("SELECT min(certificate_number), max(certificate_number) FROM certificate WHERE run_id IS NOT NULL").rows == [
                ["1", "99999"]
            ])
        #expect(try db.query("SELECT outcome FROM decision WHERE member_id = 'M099999'").scalar == "none")
        #expect(try db.query("SELECT next_number FROM certificate_counter").scalar == "100002")
        let files = dir.appendingPathComponent("out/131016/2026-11-21/nightly/certificates.csv")
        let mailed = try String(contentsOf: files, encoding: .utf8)
        #expect(!mailed.contains("M099999"))
        #expect(mailed.split(separator: "\n").count == 100_000, "header and 99,999 certificates")
    }
}
