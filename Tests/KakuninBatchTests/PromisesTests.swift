import Foundation
import KakuninCore
import KakuninStore
import KakuninTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 9: the promises an issuance system is trusted for, each tried as a hostile user would.
@Suite("Promises that hold: issuance", .serialized)
struct IssuancePromiseTests {
    let tdb: TestDatabase
    let dir: URL

    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
    }

    var out: URL { dir.appendingPathComponent("out") }

    func run(_ extra: [String], asOf: String = "2026-11-21", env: [String: String] = [:]) throws -> RunningCommand {
        try startKakunin(
            ["run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", dir.path, "--quiet"] + extra,
            database: tdb, environment: env)
    }

    func pause(_ point: String, _ gate: URL) throws -> [String: String] {
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        return ["KAKUNIN_PAUSE_AT": point, "KAKUNIN_PAUSE_FILE": gate.path]
    }

    func reached(_ gate: URL) -> Bool {
        eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") }
    }

    /// Members holding two active certificates whose validity overlaps.
    func doubled(_ db: Connection) throws -> Int {
        Int(
            try db.query(
                """
                SELECT count(DISTINCT a.member_id) FROM certificate a JOIN certificate b
                  ON a.insurer_number = b.insurer_number AND a.member_id = b.member_id AND a.certificate_number < b.certificate_number
                 AND a.status = 'active' AND b.status = 'active' AND a.valid_from <= b.valid_to AND b.valid_from <= a.valid_to
                """
            ).scalar!)!
    }

    @Test("item 1: runs of another job or as-of date wait for the insurer's issuing run; nobody gets two certificates")
    func oneIssuingRunPerInsurer() throws {
        let gate = dir.appendingPathComponent("gate")
        let first = try run([], env: try pause("decide:1", gate))
        #expect(reached(gate))
        // Another job, and another as-of date, while the first is deciding: refused (75).
        let catchup = try run(["--job", "catchup", "--lock-wait", "0.3"]).wait()
        #expect(catchup.status == 75, "\(catchup.stderr)")
        #expect(
            catchup.stderr.contains("already has an issuing run in progress: run 1 (as of 2026-11-21, job nightly)"), "\(catchup.stderr)")
        let otherDay = try run(["--lock-wait", "0.3"], asOf: "2026-11-22").wait()
        #expect(otherDay.status == 75)
        // With a longer wait, the catch-up run waits for the first and then decides on what it issued.
        let waiting = try run(["--job", "catchup", "--lock-wait", "60"])
        try FileManager.default.removeItem(at: gate)
        #expect(first.wait().status == 0)
        let r = waiting.wait()
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(
            r.stdout.contains(
                "[pass] no member holds two active certificates whose validity overlaps on or after the as-of date: 0 members"),
            "\(r.stdout)")
        let db = try tdb.connect()
        #expect(try doubled(db) == 0)
        #expect(try db.query("SELECT count(*) FROM certificate WHERE run_id = 2").scalar == "0", "the catch-up run saw the certificates")
    }

    @Test("item 1: the reconciliation fails when a member holds two overlapping active certificates")
    func overlapCheckFails() throws {
        #expect(try run([]).wait().status == 0)
        let db = try tdb.connect()
        // Plant a second active certificate for A overlapping the first (as a superuser could).
        try db.execute(
            """
            INSERT INTO certificate (insurer_number, certificate_number, member_id, kind, reasons, valid_from, valid_to, issued_on)
            VALUES ('131016', 99, 'A', 'issue', '{NO_CARD}', '2026-12-01', '2027-07-31', '2026-11-21')
            """)
        let r = try run([], asOf: "2026-11-22").wait()
        #expect(
            r.stdout.contains(
                "[FAIL] no member holds two active certificates whose validity overlaps on or after the as-of date: 1 members, e.g. A"),
            "\(r.stdout)")
        #expect(r.status == 13)
    }

    @Test(
        "certificates that ended before the as-of date: only a latest one continuing a special consideration counts; past overlaps are history"
    )
    func endedCertificates() throws {
        let db = try tdb.connect()
        // Planted as a superuser could (numbers far from the run's block). B: the latest
        // certificate ended but continues a special consideration. C: a special one, then a
        // later ordinary one, both ended. A: two ordinary ones that overlapped in 2025.
        try db.execute(
            """
            INSERT INTO certificate (insurer_number, certificate_number, member_id, kind, reasons, valid_from, valid_to, issued_on, special_consideration)
            VALUES ('131016', 901, 'B', 'issue', '{APP_SPECIAL_CONSIDERATION}', '2025-01-01', '2025-07-31', '2025-01-01', true),
                   ('131016', 902, 'C', 'issue', '{APP_SPECIAL_CONSIDERATION}', '2024-08-01', '2025-07-31', '2024-08-01', true),
                   ('131016', 903, 'C', 'issue', '{NO_CARD}', '2025-08-01', '2026-07-31', '2025-07-01', false),
                   ('131016', 904, 'A', 'issue', '{NO_CARD}', '2025-01-01', '2025-06-30', '2025-01-01', false),
                   ('131016', 905, 'A', 'issue', '{NO_CARD}', '2025-03-01', '2025-09-30', '2025-03-01', false)
            """)
        #expect(try doubled(db) == 1, "A's two certificates overlap")
        let r = try run([]).wait()
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(
            r.stdout.contains(
                "[pass] no member holds two active certificates whose validity overlaps on or after the as-of date: 0 members"),
            "\(r.stdout)")
        let d = try NightlyRunTests().decisions(tdb, run: 1)
        #expect(d["B"]?[0...1] == ["renew", "SPECIAL_CONSIDERATION_CONTINUES"], "\(d)")
        #expect(d["C"] == ["apply_notice", "CARD_SUSPENDED", "", "", ""], "the ordinary certificate after the special one is the latest")
        #expect(d["A"]?[0...1] == ["issue", "NO_CARD"])
        // A new overlap that lasts past the as-of date fails the check.
        try db.execute(
            """
            INSERT INTO certificate (insurer_number, certificate_number, member_id, kind, reasons, valid_from, valid_to, issued_on)
            VALUES ('131016', 906, 'A', 'issue', '{NO_CARD}', '2026-12-01', '2027-03-31', '2026-11-21')
            """)
        let again = try run([], asOf: "2026-11-22").wait()
        #expect(
            again.stdout.contains(
                "[FAIL] no member holds two active certificates whose validity overlaps on or after the as-of date: 1 members, e.g. A"),
            "\(again.stdout)")
    }

    @Test("item 2: a job name is a short name of letters, digits, '-' and '_'")
    func jobNames() throws {
        for bad in ["../../../x", "", "a/b", ".", "x y", String(repeating: "j", count: 41)] {
            let r = try run(["--job", bad]).wait()
            #expect(r.status == 64, "\(bad): \(r.stderr)")
            #expect(r.stderr.contains("is not allowed"))
        }
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing was written")
        #expect(!FileManager.default.fileExists(atPath: dir.deletingLastPathComponent().appendingPathComponent("x").path))
        #expect(try tdb.connect().query("SELECT count(*) FROM run").scalar == "0")
        #expect(try run(["--job", "catch-up_2"]).wait().status == 0)
    }

    @Test("item 3: an unknown insurer fails loudly (66) and creates nothing")
    func unknownInsurer() throws {
        for dry in [false, true] {
            let r = try runKakunin(
                ["run", "--insurer", "999999", "--as-of", "2026-11-21", "--out", out.path] + (dry ? ["--dry-run"] : []),
                database: tdb)
            #expect(r.status == 66, "\(r.stderr)")
            #expect(r.stderr.contains("unknown insurer 999999") && r.stderr.contains("known: 131016"), "\(r.stderr)")
        }
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM insurer WHERE insurer_number = '999999'").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM run").scalar == "0")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("item 4: a run that lost its lock connection stops; the run that took it over finishes alone")
    func lostLock() throws {
        let gate = dir.appendingPathComponent("gate")
        let first = try run([], env: try pause("decide:2", gate))
        #expect(reached(gate))
        let db = try tdb.connect()
        // The connection holding the lock is killed (a network cut, an administrator).
        #expect(
            try db.query(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'kakunin-run' AND pid <> pg_backend_pid()
                """
            ).scalar == "1")
        // A second process takes the run over (the lock is free now) ...
        let second = try run(["--lock-wait", "60"])
        #expect(try eventually { try db.query("SELECT attempts FROM run WHERE run_id = 1").scalar == "2" })
        // ... and the first, let go, finds it no longer holds the run and stops.
        try FileManager.default.removeItem(at: gate)
        let a = first.wait()
        let b = second.wait()
        #expect(a.status == 75, "\(a.stdout)\(a.stderr)")
        #expect(a.stderr.contains("lost the lock of run 1"), "\(a.stderr)")
        #expect(b.status == 0, "\(b.stdout)\(b.stderr)")
        #expect(try doubled(db) == 0)
        #expect(try db.query("SELECT count(*), count(DISTINCT member_id) FROM certificate").rows == [["3", "3"]])
        #expect(try db.query("SELECT status, attempts FROM run").rows == [["completed", "2"]])
        let folder = out.appendingPathComponent("131016/2026-11-21")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["nightly"], "no staging folder left")
        let certs = try String(contentsOf: folder.appendingPathComponent("nightly/certificates.csv"), encoding: .utf8)
        #expect(certs.split(separator: "\n").count == 4)
    }

    @Test("item 5: an applications import during a run waits for it; either order gives a state one order could give")
    func applicationsImportDuringRun() throws {
        let rejected = try FeedFiles.write(dir, "reject.csv", [NightlyRunTests.appHeader, "131016,D,card_lost,2026-11-10,,rejected"])
        let db = try tdb.connect()
        // Run first: it holds its snapshot; the import that rejects D's application must wait.
        let gate = dir.appendingPathComponent("gate")
        let nightly = try run([], env: try pause("decide:1", gate))
        #expect(reached(gate))
        let importing = try startKakunin(["import", "applications", rejected.path, "--report-dir", dir.path], database: tdb)
        #expect(
            try eventually(5) {
                try db.query(
                    """
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'kakunin' AND wait_event_type = 'Lock'
                    """
                ).scalar == "1"
            }, "the import waits for the run")
        try FileManager.default.removeItem(at: gate)
        #expect(nightly.wait().status == 0)
        #expect(importing.wait().status == 0)
        #expect(
            try db.query(
                """
                SELECT status, fulfilled_certificate_number IS NOT NULL FROM application WHERE member_id = 'D'
                """
            ).rows == [["approved", "t"]], "fulfilled applications are history: the later import leaves it")
        #expect(try db.query("SELECT count(*) FROM application WHERE status = 'rejected' AND fulfilled_on IS NOT NULL").scalar == "0")
    }

    @Test("item 5: an import first: the run waits and sees the rejection")
    func importBeforeRun() throws {
        let rejected = try FeedFiles.write(dir, "reject.csv", [NightlyRunTests.appHeader, "131016,D,card_lost,2026-11-10,,rejected"])
        let db = try tdb.connect()
        let gate = dir.appendingPathComponent("gate")
        let importing = try startKakunin(
            ["import", "applications", rejected.path, "--report-dir", dir.path], database: tdb,
            environment: try pause("import:applications-locked", gate))
        #expect(reached(gate))
        let nightly = try run(["--lock-wait", "60"])
        #expect(
            try eventually(5) {
                try db.query(
                    """
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'kakunin-run-write' AND wait_event_type = 'Lock'
                    """
                ).scalar == "1"
            }, "the run waits for the import")
        try FileManager.default.removeItem(at: gate)
        #expect(importing.wait().status == 0)
        #expect(nightly.wait().status == 0)
        #expect(try db.query("SELECT status, fulfilled_on FROM application WHERE member_id = 'D'").rows == [["rejected", nil]])
        #expect(try db.query("SELECT count(*) FROM certificate WHERE member_id = 'D'").scalar == "0")
    }
}

@Suite("Promises that hold: import", .serialized)
struct ImportPromiseTests {
    let tdb: TestDatabase
    let dir: URL
    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
    }
    var reports: URL { dir.appendingPathComponent("reports") }

    func importMembers(_ path: String, stdin: Data? = nil, env: [String: String] = [:]) throws -> CommandResult {
        try runKakunin(["import", "members", path, "--report-dir", reports.path], database: tdb, environment: env, stdin: stdin)
    }

    func rejects(_ db: Connection) throws -> [[String?]] {
        try db.query("SELECT line::text, column_name, reason FROM import_reject ORDER BY line, column_name").rows
    }

    @Test("item 6: an unclosed quote is reported with its line, and the lines after it still load")
    func unclosedQuote() throws {
        let file = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("M1"),
                FeedFiles.member("M2").replacingOccurrences(of: "山田", with: "\"山田"),
                FeedFiles.member("M3"),
            ])
        let r = try importMembers(file.path)
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("rows read: 3"), "\(r.stdout)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT string_agg(member_id, ',' ORDER BY member_id) FROM member").scalar == "M1,M3")
        let rej = try rejects(db)
        #expect(rej.count == 1)
        #expect(rej.first?[0] == "3")
        #expect(rej.first?[2]?.contains("quote opened in field 7 is never closed") == true, "\(rej)")
    }

    @Test("item 7: a file without line ends is refused (20) after at most 1 MiB, not read into memory")
    func noLineEnds() throws {
        let r = try importMembers("/dev/zero")
        #expect(r.status == 20, "\(r.stderr)")
        #expect(r.stderr.contains("longer than 1024 KiB") && r.stderr.contains("not a CSV feed"), "\(r.stderr)")
        #expect(try tdb.connect().query("SELECT status FROM import").scalar == "refused")
    }

    @Test("item 8: a NUL byte rejects its row with line and column; a UTF-16 file is refused; nothing raw")
    func nulAndUTF16() throws {
        let row2 = FeedFiles.member("M2").replacingOccurrences(of: "太郎", with: "太\u{0}郎")
        let file = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), row2, FeedFiles.member("M3")])
        let r = try importMembers(file.path)
        #expect(r.status == 10, "\(r.stderr)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member").scalar == "2")
        #expect(try db.query("SELECT line::text, column_name, value FROM import_reject").rows == [["3", "given_name", "太\u{FFFD}郎"]])
        #expect(try rejects(db).first?[2]?.contains("NUL byte") == true)

        let text = [FeedFiles.memberHeader, FeedFiles.member("M9")].joined(separator: "\n") + "\n"
        let u16 = dir.appendingPathComponent("u16.csv")
        try text.data(using: .utf16LittleEndian)!.write(to: u16)
        let u = try importMembers(u16.path)
        #expect(u.status == 20, "\(u.stderr)")
        #expect(u.stderr.contains("looks like UTF-16"), "\(u.stderr)")
        #expect(!u.stderr.contains("SQLSTATE"))
    }

    @Test("item 9: standard input, a FIFO and a pipe are read once")
    func pipes() throws {
        let text = ([FeedFiles.memberHeader] + (1...50).map { FeedFiles.member("P\($0)") }).joined(separator: "\n") + "\n"
        let r = try importMembers("-", stdin: Data(text.utf8))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("rows read: 50"))
        let db = try tdb.connect()
        #expect(try db.query("SELECT file_name FROM import").scalar == "(standard input)")

        // A FIFO, with a second extract that is not a first load, and a pipe through bash <( ).
        let fifo = dir.appendingPathComponent("m.fifo")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let changed = text.replacingOccurrences(of: "P7,nhi", with: "P7,employee")
        let writer = Thread { try? Data(changed.utf8).write(to: fifo) }
        writer.start()
        let f = try importMembers(fifo.path)
        #expect(f.status == 0, "\(f.stdout)\(f.stderr)")
        #expect(f.stdout.contains("rows read: 50"))
        #expect(try db.query("SELECT scheme FROM member WHERE member_id = 'P7'").scalar == "employee")
        let file = try FeedFiles.write(dir, "m.csv", [text])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [
            "-c", "\"$0\" import members <(cat \"$1\") --report-dir \"$2\" >/dev/null", TestDatabase.executable.path, file.path,
            reports.path,
        ]
        var env = ProcessInfo.processInfo.environment
        env["PGDATABASE"] = tdb.name
        p.environment = env
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(try db.query("SELECT rows_read FROM import ORDER BY import_id DESC LIMIT 1").scalar == "50")
    }

    @Test("the recorded SHA-256 is the file's, whether a first load peeked at it or it came through a pipe")
    func fileDigest() throws {
        let text = ([FeedFiles.memberHeader] + (1...40).map { FeedFiles.member("H\($0)") }).joined(separator: "\n") + "\n"
        let file = dir.appendingPathComponent("digest.csv")
        try Data(text.utf8).write(to: file)
        #expect(try importMembers(file.path).status == 0)
        #expect(try importMembers("-", stdin: Data(text.utf8)).status == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [file.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let expected = String(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
        p.waitUntilExit()
        #expect(try tdb.connect().query("SELECT file_sha256 FROM import ORDER BY import_id").rows == [[expected], [expected]])
    }

    @Test("item 10: refusals never quote data (no header, CR-only line ends)")
    func refusalsQuoteNoData() throws {
        let row = FeedFiles.member("M1")
        let noHeader = try FeedFiles.write(dir, "noheader.csv", [row, FeedFiles.member("M2")])
        let crOnly = dir.appendingPathComponent("cr.csv")
        try Data(([FeedFiles.memberHeader, row].joined(separator: "\r") + "\r").utf8).write(to: crOnly)
        for file in [noHeader.path, crOnly.path] {
            let r = try importMembers(file)
            #expect(r.status == 20, "\(r.stderr)")
            for secret in ["山田", "太郎", "ヤマダ", "タロウ", "1980-04-01", "千代田1丁目", "1000001"] {
                #expect(!r.stderr.contains(secret) && !r.stdout.contains(secret), "\(secret) in \(r.stderr)")
            }
        }
        let db = try tdb.connect()
        let stored = try db.query("SELECT string_agg(refusal, ' | ') FROM import").scalar ?? ""
        let audited = try db.query("SELECT string_agg(details::text, ' | ') FROM audit_event").scalar ?? ""
        #expect(stored.contains("none of them is a column name") && stored.contains("CR-only line ends"), "\(stored)")
        for secret in ["山田", "太郎", "ヤマダ", "1980-04-01", "千代田"] {
            #expect(!stored.contains(secret) && !audited.contains(secret))
        }
    }

    @Test("item 11: a 10,000-column header is refused and recorded (20), the connection intact")
    func wideHeader() throws {
        let header = (0..<10_000).map { "c\($0)" }.joined(separator: ",")
        let file = try FeedFiles.write(dir, "wide.csv", [header, String(repeating: "x,", count: 9_999) + "x"])
        let r = try importMembers(file.path)
        #expect(r.status == 20, "\(r.stderr)")
        #expect(r.stderr.contains("the first line has 10000 fields"), "\(r.stderr)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT status FROM import").scalar == "refused")
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE action = 'import_refused'").scalar == "1")
    }

    @Test("item 12: Individual Numbers in full-width digits, with a leading space or inside text are refused")
    func individualNumbers() throws {
        let variants = [
            ["address_extra": "１２３４５６７８９０１２"], ["address_extra": " 123456789012"],
            ["address_extra": "個人番号123456789018"], ["symbol": "1234-5678-9012"],
        ]
        for v in variants {
            let file = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2", v)])
            let r = try importMembers(file.path)
            #expect(r.status == 20, "\(v): \(r.stderr)")
            #expect(r.stderr.contains("Individual Number") && r.stderr.contains("line 3"), "\(r.stderr)")
            #expect(!r.stderr.contains("123456789"))
        }
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member").scalar == "0")
        // A 12-digit number in text without the check digit (a phone or account number) loads.
        let ok = try FeedFiles.write(dir, "ok.csv", [FeedFiles.memberHeader, FeedFiles.member("M1", ["address_extra": "口座123456789012"])])
        #expect(try importMembers(ok.path).status == 0)
    }

    @Test("item 13: no spill file left by a killed import; a planted link is never followed; folders become 0700")
    func spillAndLinks() throws {
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let victim = dir.appendingPathComponent("victim.txt")
        try Data("precious".utf8).write(to: victim)
        for name in [".import-1.spill", "import-1-members.report.txt", "import-1-members.rejects.csv"] {
            try FileManager.default.createSymbolicLink(at: reports.appendingPathComponent(name), withDestinationURL: victim)
        }
        let bad = FeedFiles.member("M2", ["birth_date": "1980-02-30"])
        let file = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), bad])
        #expect(try importMembers(file.path).status == 10)
        #expect(try String(contentsOf: victim, encoding: .utf8) == "precious")
        let mode = try FileManager.default.attributesOfItem(atPath: reports.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        // A killed import leaves no file behind.
        let fresh = dir.appendingPathComponent("fresh")
        let r = try runKakunin(
            ["import", "members", file.path, "--report-dir", fresh.path], database: tdb,
            environment: ["KAKUNIN_CRASH_AT": "import:streamed"])
        #expect(r.status != 0 && r.stdout.isEmpty, "killed before it reported")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fresh.path).isEmpty)
    }

    @Test("item 14: a killed import is shown as abandoned")
    func abandonedImport() throws {
        let file = try FeedFiles.write(
            dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2", ["sex": "7"])])
        _ = try runKakunin(
            ["import", "members", file.path, "--report-dir", reports.path], database: tdb,
            environment: ["KAKUNIN_CRASH_AT": "import:streamed"])
        #expect(try importMembers(file.path).status == 10)
        // The killed process's server session ends on its own time (it releases the import's
        // transaction locks, then its session lock, as it exits): on a busy machine the list may
        // be asked for in between. Ask again for up to 10 s while import 1 still says running.
        var list = try runKakunin(["imports", "list"], database: tdb)
        for _ in 0..<50 where list.stdout.contains("\trunning") {
            usleep(200_000)
            list = try runKakunin(["imports", "list"], database: tdb)
        }
        #expect(list.status == 0)
        let rows = list.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == 3)
        #expect(rows.dropFirst().map { [$0[0], $0[2]] } == [["2", "loaded_with_rejects"], ["1", "abandoned"]])
    }

    @Test("item 15: line separators and formula starts are rejected with the rule")
    func textRules() throws {
        let file = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("M1", ["address": "東京都\u{2028}千代田区"]),
                FeedFiles.member("M2", ["family_name": "=HYPERLINK(\"http://x\")"]),
                FeedFiles.member("M3", ["address_extra": "@SUM(A1)"]), FeedFiles.member("M4"),
            ])
        #expect(try importMembers(file.path).status == 10)
        let rej = try rejects(try tdb.connect())
        #expect(rej.map { [$0[0], $0[1]] } == [["2", "address"], ["3", "family_name"], ["4", "address_extra"]])
        #expect(rej.first?[2]?.contains("U+2028") == true)
        #expect(rej.dropFirst().first?[2]?.contains("formula") == true)
    }

    @Test("item 18: two imports of the same new members at once both finish, without a raw error")
    func concurrentImports() throws {
        // Not a first load: both imports stage and merge the same new members.
        let first = try FeedFiles.write(dir, "first.csv", [FeedFiles.memberHeader, FeedFiles.member("C0")])
        #expect(try importMembers(first.path).status == 0)
        let file = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + (0...2000).map { FeedFiles.member("C\($0)") })
        // The first stops just before its merge; the second runs meanwhile (before the fix it
        // merged and committed the same new members, and the first then failed with a raw 23505).
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let a = try startKakunin(
            ["import", "members", file.path, "--report-dir", reports.path], database: tdb,
            environment: ["KAKUNIN_PAUSE_AT": "import:merge", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        let b = try startKakunin(["import", "members", file.path, "--report-dir", reports.path], database: tdb)
        usleep(1_500_000)
        try FileManager.default.removeItem(at: gate)
        let ra = a.wait()
        let rb = b.wait()
        #expect(ra.status == 0, "\(ra.stderr)")
        #expect(rb.status == 0, "\(rb.stderr)")
        #expect(try tdb.connect().query("SELECT count(*) FROM member").scalar == "2001")
    }
}

@Suite("Promises that hold: operators' errors", .serialized)
struct OperatorErrorTests {
    @Test("item 18: a bad --lock-wait, a file as --out, a staff login running run: the right status and a fix")
    func statuses() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let base = ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--params-dir", dir.path]
        var r = try runKakunin(base + ["--lock-wait", "-5"], database: tdb)
        #expect(r.status == 64)
        #expect(r.stderr.contains("--lock-wait takes a number of seconds, 0 or more (got \"-5\")"), "\(r.stderr)")

        let file = dir.appendingPathComponent("a-file")
        try Data().write(to: file)
        r = try runKakunin(base + ["--out", file.path], database: tdb)
        #expect(r.status == 73, "\(r.stderr)")
        #expect(r.stderr.contains("it exists and is not a folder") && r.stderr.contains("fix:"), "\(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        r = try runKakunin(base + ["--out", "/tmp"], database: tdb)
        #expect(r.status == 73 && r.stderr.contains("shared folder"), "\(r.stderr)")

        let role = "staff_\(UInt32.random(in: 0...UInt32.max))"
        let db = try tdb.connect()
        try db.execute("CREATE ROLE \(role) LOGIN IN ROLE kakunin_staff")
        defer {
            try? db.execute("DROP OWNED BY \(role)")
            try? db.execute("DROP ROLE \(role)")
        }
        r = try runKakunin(
            base + ["--out", dir.appendingPathComponent("out").path, "--database-url", "dbname=\(tdb.name) user=\(role)"], database: tdb)
        #expect(r.status == 77, "\(r.stderr)")
        #expect(r.stderr.contains("permission denied") && r.stderr.contains("kakunin_batch"), "\(r.stderr)")
    }

    @Test(
        "item 18: a full disk during a run exits 74 with the cause; after freeing space the rerun finishes, no duplicates",
        .enabled(if: geteuid() == 0, "needs root to mount a small tmpfs"))
    func diskFull() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + (1...300).map { FeedFiles.member("F\($0)") })
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        let mount = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        // 6 MiB: the 300 members' files with their letters (inserts.csv, letter_paragraphs.csv) need less than 2.5.
        guard shell("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mount.path) == 0 else {
            Issue.record("cannot mount a tmpfs here")
            return
        }
        defer { _ = shell("umount", mount.path) }
        let filler = mount.appendingPathComponent("filler")
        try Data(count: 6000 * 1024).write(to: filler)
        let args = [
            "run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", mount.appendingPathComponent("out").path, "--params-dir",
            dir.path,
        ]
        var r = try runKakunin(args, database: tdb)
        #expect(r.status == 74, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("No space left on device") && r.stderr.contains("free space"), "\(r.stderr)")
        #expect(!r.stderr.contains("cannot read"))
        try FileManager.default.removeItem(at: filler)
        r = try runKakunin(args, database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*), count(DISTINCT member_id) FROM certificate").rows == [["300", "300"]])
    }

    @Test("item 17: a copied binary migrates a database by itself, from any folder")
    func embeddedMigrations() throws {
        let tdb = try TestDatabase(empty: true)
        let dir = try temporaryDirectory()
        let copy = dir.appendingPathComponent("kakunin")
        try FileManager.default.copyItem(at: TestDatabase.executable, to: copy)
        let env = ["KAKUNIN_SQL_DIR": ""]
        var r = try runKakunin(["db", "migrate"], database: tdb, currentDirectory: dir, environment: env, executable: copy)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("applied: 001_roles.sql"))
        // The embedded files are byte for byte the files of sql/: their checksums match.
        r = try runKakunin(["db", "status"], database: tdb, currentDirectory: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!r.stdout.contains("edited") && !r.stdout.contains("pending"), "\(r.stdout)")
        #expect(r.stdout.contains("KAKUNIN_SQL_DIR="))
    }

    @Test(
        "item 16: jobs/pg starts a server from a checkout only its owner can enter",
        .enabled(if: geteuid() == 0, "the case is root's 0700 home"))
    func privateCheckout() throws {
        let home = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("owner-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent("repo/jobs"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        #expect(chmod(home.path, 0o700) == 0)
        let pg = home.appendingPathComponent("repo/jobs/pg")
        try FileManager.default.copyItem(at: TestDatabase.repositoryRoot.appendingPathComponent("jobs/pg"), to: pg)
        let port = String(Int.random(in: 20000...29999))
        let env = "KAKUNIN_PG_PORT=\(port)"
        #expect(shell("/usr/bin/env", env, pg.path, "start") == 0)
        defer { _ = shell("/usr/bin/env", env, pg.path, "destroy") }
        #expect(shell("/usr/bin/env", env, pg.path, "status") == 0)
        #expect(shell("/usr/bin/env", env, pg.path, "psql", "-d", "postgres", "-tAc", "SELECT 1") == 0)
        // The data lives where the server's user can reach it, linked from the checkout.
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: home.appendingPathComponent("repo/.pg").path)
        #expect(link.hasPrefix("/var/tmp/kakunin-pg-"))
    }
}

/// Runs a command (found on PATH), output discarded; returns its exit status. posix_spawn and
/// waitpid directly: the test process must not depend on Foundation reaping children.
@discardableResult
func shell(_ args: String...) -> Int32 {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    guard posix_spawnp(&pid, args[0], &actions, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}
