import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Runs `kakunin run` for insurer 131016 with mailing files under `out`.
func nightly(_ tdb: TestDatabase, _ asOf: String, out: URL, params: URL, crashAt: String? = nil) throws -> CommandResult {
    var env: [String: String] = [:]
    if let crashAt { env["KAKUNIN_CRASH_AT"] = crashAt }
    return try runKakunin(
        ["run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", params.path],
        database: tdb, environment: env)
}

@Suite("The nightly job through the CLI", .serialized)
struct NightlyRunTests {
    static let mynaHeader = FeedFormat.mynaStatus.columns.filter { !$0.optional }.map(\.name).joined(separator: ",")
    static let appHeader = FeedFormat.applications.columns.map(\.name).joined(separator: ",")

    /// A: no card. B: usable card. C: card suspended. D: card lost, approved application. E: no card, later reissue.
    func scenario(_ tdb: TestDatabase, _ dir: URL) throws {
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + ["A", "B", "C", "D", "E"].map { FeedFiles.member($0) })
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                Self.mynaHeader,
                "131016,A,2026-11-01,false,,none,,", "131016,B,2026-11-01,true,registered,active,2030-01-31,",
                "131016,C,2026-11-01,true,registered,suspended,2030-01-31,", "131016,D,2026-11-01,true,registered,suspended,2030-01-31,",
                "131016,E,2026-11-01,false,,none,,",
            ])
        let a = try FeedFiles.write(dir, "a.csv", [Self.appHeader, "131016,D,card_lost,2026-11-10,,approved"])
        for (feed, file) in [("members", m), ("myna-status", s), ("applications", a)] {
            #expect(try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
    }

    func decisions(_ tdb: TestDatabase, run: Int) throws -> [String: [String]] {
        let r = try runKakunin(["export", "decisions", "--run", String(run)], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try csvRows(r.stdout)
        #expect(
            rows.first == [
                "run_id", "insurer_number", "member_id", "as_of", "outcome", "reasons", "valid_from", "valid_to", "certificate_number",
            ])
        return Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[2], Array($0[4...])) })
    }

    @Test("members move between outcomes over successive nights")
    func scenarioOverNights() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        try scenario(tdb, dir)

        // Night 1.
        var r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(!r.stdout.contains("FAIL"))
        var d = try decisions(tdb, run: 1)
        #expect(d["A"] == ["issue", "NO_CARD", "2026-11-21", "2027-07-31", "1"])
        #expect(d["B"] == ["eligibility_notice", "MYNA_USABLE", "", "", ""])
        #expect(d["C"] == ["apply_notice", "CARD_SUSPENDED", "", "", ""])
        #expect(d["D"] == ["issue_on_application", "APP_CARD_LOST", "2026-11-21", "2027-01-20", "2"])
        #expect(d["E"] == ["issue", "NO_CARD", "2026-11-21", "2027-07-31", "3"])
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT fulfilled_certificate_number, fulfilled_on::text FROM application WHERE member_id = 'D'").rows == [
                ["2", "2026-11-21"]
            ])
        // The run computes the digest of its certificates as they stream; it is the one the
        // database gives for the certificates it holds.
        let recorded = try db.query(
            "SELECT details->>'certificates_issued', details->>'certificates_sha256' FROM audit_event WHERE action = 'run_decided' AND run_id = 1"
        ).rows
        let computed = try db.query(
            """
            SELECT count(*)::text, encode(sha256(convert_to(string_agg(concat_ws(',', certificate_number, member_id, kind, valid_from, valid_to),
                   E'\\n' ORDER BY certificate_number), 'UTF8')), 'hex')
            FROM certificate WHERE insurer_number = '131016' AND run_id = 1
            """
        ).rows
        #expect(recorded == computed && computed.first?[0] == "3")

        // E loses the certificate: a reissue application arrives.
        let a2 = try FeedFiles.write(
            dir, "a2.csv", [Self.appHeader, "131016,D,card_lost,2026-11-10,,approved", "131016,E,reissue,2026-11-22,,approved"])
        #expect(try runKakunin(["import", "applications", a2.path, "--report-dir", dir.path], database: tdb).status == 0)

        // Night 2: covered, notice not repeated, guidance not repeated, reissue voids the old one.
        r = try nightly(tdb, "2026-11-22", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        d = try decisions(tdb, run: 2)
        #expect(d["A"] == ["none", "COVERED", "", "", ""])
        #expect(d["B"] == ["none", "MYNA_USABLE", "", "", ""])
        #expect(d["C"] == ["none", "APPLY_NOTICE_RECENT", "", "", ""])
        #expect(d["D"] == ["none", "COVERED", "", "", ""])
        #expect(d["E"] == ["issue_on_application", "APP_REISSUE", "2026-11-21", "2027-07-31", "4"])
        #expect(
            try db.query(
                "SELECT certificate_number, status, voided_on::text, void_reason FROM certificate WHERE member_id = 'E' ORDER BY 1"
            ).rows
                == [["3", "voided", "2026-11-22", "replaced by certificate 4"], ["4", "active", nil, nil]])
        let certs = try String(contentsOf: out.appendingPathComponent("131016/2026-11-22/nightly/certificates.csv"), encoding: .utf8)
        #expect(certs.contains(",4,reissue,E,") && certs.contains("APP_REISSUE,3,"))

        // Night 3, 2027-01-01: D's short-term certificate runs out and the card is still suspended.
        r = try nightly(tdb, "2027-01-01", out: out, params: dir)
        d = try decisions(tdb, run: 3)
        #expect(d["D"] == ["apply_notice", "CARD_SUSPENDED", "", "", ""])
        #expect(d["C"] == ["none", "APPLY_NOTICE_RECENT", "", "", ""])  // 41 days after the last one: not repeated
        // Night 4, 2027-06-25: A's certificate ends 2027-07-31 → renewed from 2027-08-01; C is reminded after 216 days.
        r = try nightly(tdb, "2027-06-25", out: out, params: dir)
        d = try decisions(tdb, run: 4)
        #expect(d["A"] == ["renew", "NO_CARD", "2027-08-01", "2028-07-31", "5"])
        #expect(d["C"] == ["apply_notice", "CARD_SUSPENDED", "", "", ""])
        // Every certificate number is unique and none was reused.
        #expect(try db.query("SELECT count(*) = count(DISTINCT certificate_number) FROM certificate").scalar == "t")
    }

    @Test("rerunning a completed run changes nothing and says so")
    func rerunCompleted() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        try scenario(tdb, dir)
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        let before = try snapshot(tdb, out.appendingPathComponent("131016/2026-11-21/nightly"))
        let r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 0)
        #expect(r.stdout.contains("already completed"))
        #expect(r.stdout.contains("nothing changed"))
        #expect(try snapshot(tdb, out.appendingPathComponent("131016/2026-11-21/nightly")) == before)
        #expect(try tdb.connect().query("SELECT count(*) FROM run").scalar == "1")
    }

    @Test("an output folder holding another run's files is refused, left untouched, and the run finishes once it is moved")
    func foreignFilesRefused() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let first = try TestDatabase()
        try scenario(first, dir)
        #expect(try nightly(first, "2026-11-21", out: out, params: dir).status == 0)
        let files = out.appendingPathComponent("131016/2026-11-21/nightly")
        let manifest = try Data(contentsOf: files.appendingPathComponent("manifest.json"))

        // Another database (say, restored from a backup) whose run for the same night has another id.
        let second = try TestDatabase()
        try scenario(second, dir)
        #expect(try nightly(second, "2026-11-20", out: out, params: dir).status == 0)
        let r = try nightly(second, "2026-11-21", out: out, params: dir)
        #expect(r.status == 78, "\(r.stderr)")
        #expect(r.stderr.contains("already holds the mailing files of run 1, not run 2"))
        #expect(r.stderr.contains("move that folder away"))
        #expect(try Data(contentsOf: files.appendingPathComponent("manifest.json")) == manifest)
        #expect(try second.connect().query("SELECT count(*) FROM certificate WHERE run_id = 2").scalar == "0")

        // A new database whose first run has the same id, 1: the files are not adopted either
        // (found by jobs/bench-counter: the run completed without deciding anything).
        let third = try TestDatabase()
        try scenario(third, dir)
        let same = try nightly(third, "2026-11-21", out: out, params: dir)
        #expect(same.status == 78, "\(same.stdout)\(same.stderr)")
        #expect(same.stderr.contains("that this database has not decided"), "\(same.stderr)")
        #expect(try Data(contentsOf: files.appendingPathComponent("manifest.json")) == manifest)
        #expect(try third.connect().query("SELECT status, phase FROM run").rows == [["running", "deciding"]])

        try FileManager.default.moveItem(at: files, to: dir.appendingPathComponent("moved"))
        let again = try nightly(second, "2026-11-21", out: out, params: dir)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(FileManager.default.fileExists(atPath: files.appendingPathComponent("manifest.json").path))
    }

    @Test("a second run while one holds the lock is refused with exit 75")
    func concurrentRefused() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try scenario(tdb, dir)
        // A live run holds the registry's advisory lock on its own connection.
        let other = try tdb.connect()
        try other.execute("SELECT pg_advisory_lock(hashtextextended('kakunin.run:131016', 0))")
        let r = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path,
                "--params-dir", dir.path, "--lock-wait", "0.5",
            ], database: tdb)
        #expect(r.status == 75)
        #expect(r.stderr.contains("insurer 131016 already has an issuing run in progress"), "\(r.stderr)")
        #expect(try tdb.connect().query("SELECT count(*) FROM certificate").scalar == "0")
        try other.execute("SELECT pg_advisory_unlock_all()")
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
    }

    @Test("dry run decides and reports, and writes nothing")
    func dryRun() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try scenario(tdb, dir)
        let r = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-21", "--dry-run", "--out", dir.appendingPathComponent("out").path,
                "--params-dir", dir.path,
            ], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Dry run report"))
        #expect(r.stdout.contains("issue                  2"))
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT (SELECT count(*) FROM certificate) + (SELECT count(*) FROM run) + (SELECT count(*) FROM notice)").scalar
                == "0")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    }

    @Test("households: one envelope addressed to the only head; no head or two heads hold nhi members; other schemes mail per person")
    func households() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let far = ["postal_code": "9000001", "address": "沖縄県那覇市泉崎1丁目2番2号"]
        let members: [(String, [String: String])] = [
            ("P1", ["household_id": "H1", "household_head": "true", "given_name": "一郎"]),
            ("P2", far.merging(["household_id": "H1", "household_head": "false", "given_name": "花子"]) { $1 }),
            ("Q1", ["household_id": "H2", "household_head": "false"]),
            ("Q2", ["household_id": "H2", "household_head": "false"]),
            ("R1", ["household_id": "H3", "household_head": "true"]),
            ("R2", ["household_id": "H3", "household_head": "true"]),
            ("E1", far.merging(["household_id": "H4", "household_head": "false", "scheme": "employee", "given_name": "次郎"]) { $1 }),
        ]
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + members.map { FeedFiles.member($0.0, $0.1) })
        let s = try FeedFiles.write(dir, "s.csv", [Self.mynaHeader] + members.map { "131016,\($0.0),2026-11-01,false,,none,," })
        for (feed, file) in [("members", m), ("myna-status", s)] {
            #expect(try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
        let r = try nightly(tdb, "2026-11-21", out: out, params: dir)
        #expect(r.status == 11, "held members: \(r.stdout)\(r.stderr)")
        let files = out.appendingPathComponent("131016/2026-11-21/nightly")
        let certs = try csvRows(String(contentsOf: files.appendingPathComponent("certificates.csv"), encoding: .utf8))
        let col = { (name: String) in certs[0].firstIndex(of: name)! }
        let byMember = Dictionary(uniqueKeysWithValues: certs.dropFirst().map { ($0[col("member_id")], $0) })
        #expect(Set(byMember.keys) == ["P1", "P2", "E1"])
        for id in ["P1", "P2"] {
            let c = byMember[id]!
            #expect(
                [c[col("envelope_id")], c[col("addressee")], c[col("postal_code")], c[col("address")]]
                    == ["H-H1+C", "山田 一郎", "1000001", "東京都千代田区千代田1丁目1番1号"], "\(id)")  // [2026-12] split: the certificates' envelope
        }
        #expect(byMember["P2"]![col("given_name")] == "花子")
        let e1 = byMember["E1"]!
        #expect([e1[col("envelope_id")], e1[col("addressee")], e1[col("postal_code")]] == ["M-E1", "山田 次郎", "9000001"])
        let held = try csvRows(String(contentsOf: files.appendingPathComponent("exceptions.csv"), encoding: .utf8)).dropFirst()
        #expect(held.map { $0[0] }.sorted() == ["Q1", "Q2", "R1", "R2"])
        #expect(held.allSatisfy { $0[3].split(separator: ";").contains("NO_HOUSEHOLD_HEAD") })
        // explain reads the same household facts for one member.
        let x = try runKakunin(["explain", "--insurer", "131016", "--member", "Q1", "--as-of", "2026-11-21"], database: tdb)
        #expect(x.stdout.contains("NO_HOUSEHOLD_HEAD") && x.stdout.contains("0 heads"), "\(x.stdout)\(x.stderr)")
    }

    @Test(
        "a postal code is deliverable with 7 digits once hyphens are removed, and only then",
        arguments: [
            ("1000001", true), ("100-0001", true), ("100\u{2010}0001", true), ("100－0001", true), ("10-00-001", true),
            ("100000", false), ("10000012", false), ("100000a", false), ("１０００００１", false), ("100 0001", false),
        ])
    func postalCodes(postal: String, deliverable: Bool) throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        // An employee (mailed per person) and an nhi household whose only head has the code.
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("E", ["scheme": "employee", "household_id": "", "postal_code": postal]),
                FeedFiles.member("H", ["household_id": "H9", "household_head": "true", "postal_code": postal]),
                FeedFiles.member("K", ["household_id": "H9", "household_head": "false", "postal_code": "1000001"]),
            ])
        let s = try FeedFiles.write(dir, "s.csv", [Self.mynaHeader] + ["E", "H", "K"].map { "131016,\($0),2026-11-01,false,,none,," })
        for (feed, file) in [("members", m), ("myna-status", s)] {
            #expect(try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
        _ = try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir)
        let db = try tdb.connect()
        let missing = try db.query(
            """
            SELECT member_id FROM decision WHERE 'MISSING_ADDRESS' = ANY (reasons) ORDER BY member_id
            """
        ).rows.map { $0[0]! }
        #expect(missing == (deliverable ? [] : ["E", "H", "K"]), "\(postal)")
    }

    @Test("imports and the nightly run work under a login role that holds only kakunin_batch, which cannot rewrite history")
    func batchRoleOnly() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let role = "kakunin_t_batch_\(getpid())"
        let admin = try tdb.connect()
        try admin.execute("DROP ROLE IF EXISTS \(role)")
        try admin.execute("CREATE ROLE \(role) LOGIN IN ROLE kakunin_batch")
        defer { try? admin.execute("DROP ROLE IF EXISTS \(role)") }
        let asBatch = ["PGUSER": role]
        // Row-level security scopes counter staff; a batch login must bypass it (COPY FROM is
        // refused under it), and is told so before anything starts.
        let m0 = try FeedFiles.write(dir, "m0.csv", [FeedFiles.memberHeader, FeedFiles.member("A")])
        let refused = try runKakunin(["import", "members", m0.path, "--report-dir", dir.path], database: tdb, environment: asBatch)
        #expect(refused.status == 77 && refused.stderr.contains("ALTER ROLE \(role) BYPASSRLS"), "\(refused.stderr)")
        #expect(try admin.query("SELECT count(*) FROM import").scalar == "0")
        try admin.execute("ALTER ROLE \(role) BYPASSRLS")
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + ["A", "B"].map { FeedFiles.member($0) })
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                Self.mynaHeader, "131016,A,2026-11-01,false,,none,,",
                "131016,B,2026-11-01,true,registered,active,2030-01-31,",
            ])
        for (feed, file) in [("members", m), ("myna-status", s)] {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb, environment: asBatch)
            #expect(r.status == 0, "\(r.stderr)")
        }
        // The first run of a month creates the month's decision partition, which needs the
        // owner's rights: the migration's function lends them for that one statement.
        #expect(try admin.query("SELECT count(*) FROM pg_inherits WHERE inhparent = 'decision'::regclass").scalar == "0")
        let r = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path,
                "--params-dir", dir.path,
            ], database: tdb, environment: asBatch)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try admin.query("SELECT count(*) FROM decision").scalar == "2")
        #expect(try admin.query("SELECT count(*) FROM certificate").scalar == "1")
        #expect(try admin.query("SELECT count(*) FROM notice").scalar == "1")
        #expect(try admin.query("SELECT actor FROM run").scalar == role)

        let batch = try Connection(url: "\(tdb.url) user=\(role)")
        #expect(try admin.query("SELECT DISTINCT actor FROM audit_event").rows == [[role]], "the database names the actor")
        for statement in [
            "DELETE FROM decision", "UPDATE audit_event SET host = 'x'", "DELETE FROM certificate", "DROP TABLE notice",
            // Issue 11: no forged events, no silent changes to what auditors rely on.
            "INSERT INTO audit_event (action, actor) VALUES ('forged', 'someone')",
            "INSERT INTO audit_event (event_id, action) OVERRIDING SYSTEM VALUE VALUES (999, 'forged')",
            "UPDATE import SET file_sha256 = 'forged'", "UPDATE run SET actor = 'someone'",
            "UPDATE certificate SET valid_to = valid_to + 1", "UPDATE member SET address = 'elsewhere'",
            "INSERT INTO member_history (insurer_number, member_id, import_id, changed_columns, old_values, new_values) VALUES ('131016', 'A', 1, '{}', '{}', '{}')",
            "DELETE FROM audit_log", "TRUNCATE audit_event",
        ] {
            let e = #expect(throws: DatabaseError.self, "\(statement)") { try batch.execute(statement) }
            #expect(e?.sqlState == "42501" || e?.sqlState == "42P01", "\(statement): \(e.map { "\($0)" } ?? "")")
        }
        // A second notice of the same kind to the same member in the same run is refused.
        let dup = #expect(throws: DatabaseError.self) {
            try admin.execute(
                "INSERT INTO notice (insurer_number, member_id, kind, run_id, sent_on, reasons) SELECT insurer_number, member_id, kind, run_id, sent_on, reasons FROM notice"
            )
        }
        #expect(dup?.sqlState == "23505")
    }
}

/// Everything a run produces that must not differ after a crash and a rerun.
/// Where two snapshots part: the first differing part's first differing line, both sides.
func firstDifference(_ a: [String], _ b: [String]) -> String {
    guard let i = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) else { return "\(a.count) parts against \(b.count)" }
    let (x, y) = (
        a[i].split(separator: "\n", omittingEmptySubsequences: false), b[i].split(separator: "\n", omittingEmptySubsequences: false)
    )
    let j = x.indices.first(where: { $0 < y.count && x[$0] != y[$0] }) ?? min(x.count, y.count)
    return "part \(i), line \(j): got \(j < x.count ? String(x[j]) : "(none)") / expected \(j < y.count ? String(y[j]) : "(none)")"
}

func snapshot(_ tdb: TestDatabase, _ files: URL) throws -> [String] {
    let db = try tdb.connect()
    var out: [String] = []
    for q in [
        "SELECT certificate_number, member_id, kind, reasons::text, valid_from, valid_to, status, replaces_certificate_number, application_id FROM certificate ORDER BY 1",
        "SELECT run_id, member_id, outcome, reasons::text, s_date, valid_from, valid_to, certificate_number FROM decision ORDER BY member_id",
        "SELECT member_id, kind, run_id, sent_on, details, reasons::text FROM notice ORDER BY member_id, kind",
        "SELECT application_id, fulfilled_run_id, fulfilled_certificate_number, fulfilled_on FROM application ORDER BY 1",
        "SELECT insurer_number, next_number FROM certificate_counter ORDER BY 1",
        "SELECT run_id, status, phase FROM run ORDER BY 1",
    ] {
        out.append(try db.query(q).rows.map { $0.map { $0 ?? "∅" }.joined(separator: "|") }.joined(separator: "\n"))
    }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: files.path).sorted()) ?? []
    for name in names {
        // The auditors' report states the run's times and attempts: present, not byte-compared.
        if name.hasPrefix("report.") {
            out.append(name)
            continue
        }
        out.append(name + ":" + (try String(contentsOf: files.appendingPathComponent(name), encoding: .utf8)))
    }
    return out
}

@Suite("Crash safety: killed at any point, the rerun finishes the job exactly", .serialized)
struct CrashSafetyTests {
    /// Generated data with every outcome, loaded into a fresh database.
    func prepared(_ feeds: URL) throws -> TestDatabase {
        let tdb = try TestDatabase()
        for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
            let r = try runKakunin(
                ["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", feeds.appendingPathComponent("r").path],
                database: tdb)
            #expect(r.status == 0 || r.status == 10)
        }
        return tdb
    }

    @Test("SIGKILL at each point of the run, then a rerun: same certificates, decisions and files as an uninterrupted run")
    func killAtPoints() throws {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", "400", "--seed", "11", "--out", feeds.path], database: nil).status == 0)
        let asOf = "2026-12-01"

        let reference = try prepared(feeds)
        let refOut = try temporaryDirectory()
        let first = try nightly(reference, asOf, out: refOut, params: feeds)
        #expect(first.status == 0 || first.status == 11, "\(first.stderr)")
        let expected = try snapshot(reference, refOut.appendingPathComponent("131016/\(asOf)/nightly"))
        let members = Int(try reference.connect().query("SELECT count(*) FROM member WHERE insurer_number = '131016'").scalar!)!
        #expect(expected[0].split(separator: "\n").count > 20, "the data issues certificates")
        #expect(
            expected.contains { $0.hasPrefix("inserts.csv:") } && expected.contains { $0.hasPrefix("letter_paragraphs.csv:") },
            "the snapshot holds the member letters")

        // Points before the commit are replayed by the rerun's own decide stream; after it, the
        // files are rebuilt from the database ("after-commit+…" crashes the rebuild as well).
        let points = [
            "decide:1", "decide:\(members / 2)", "decide:\(members)", "before-commit", "committed", "after-commit",
            "file:certificates.csv", "file:apply_notices.csv", "file:exceptions.csv", "before-publish", "after-publish",
            "after-commit+file:eligibility_notices.csv", "after-commit+before-publish",
            // The member letters (inserts.csv, letter_paragraphs.csv) are rebuilt the same too.
            "file:inserts.csv", "after-commit+file:inserts.csv",
        ]
        for point in points {
            let tdb = try prepared(feeds)
            let out = try temporaryDirectory()
            for step in point.split(separator: "+").map(String.init) {
                let crashed = try nightly(tdb, asOf, out: out, params: feeds, crashAt: step)
                #expect(crashed.status == 9, "killed at \(point): \(crashed.stderr)")
            }
            // The registry shows the run abandoned once its lease runs out; here the lock is already free.
            let rerun = try nightly(tdb, asOf, out: out, params: feeds)
            #expect(rerun.status == first.status, "rerun after \(point): \(rerun.stderr)")
            #expect(!rerun.stdout.contains("FAIL"), "after \(point)")
            let got = try snapshot(tdb, out.appendingPathComponent("131016/\(asOf)/nightly"))
            #expect(got == expected, "after a kill at \(point)")
            // No staging folder left behind.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("131016/\(asOf)").path)
            #expect(leftovers == ["nightly"], "after \(point): \(leftovers)")
        }
    }

    @Test(
        "an error while the mailing records are written (their own thread) stops the run: nothing committed or left behind; the rerun gives the same result"
    )
    func mailingFailure() throws {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", "1500", "--seed", "13", "--out", feeds.path], database: nil).status == 0)
        let asOf = "2026-12-01"
        let reference = try prepared(feeds)
        let refOut = try temporaryDirectory()
        let first = try nightly(reference, asOf, out: refOut, params: feeds)
        #expect(first.status == 0 || first.status == 11, "\(first.stderr)")
        let expected = try snapshot(reference, refOut.appendingPathComponent("131016/\(asOf)/nightly"))
        let members = Int(try reference.connect().query("SELECT count(*) FROM member WHERE insurer_number = '131016'").scalar!)!
        // The first member, one in the middle of a batch, and the last one.
        for at in [1, members / 2 + 7, members] {
            let tdb = try prepared(feeds)
            let out = try temporaryDirectory()
            let failed = try runKakunin(
                ["run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", feeds.path],
                database: tdb, environment: ["KAKUNIN_FAIL_AT": "mail:\(at)"])
            #expect(failed.status != 0 && failed.status != 11, "failed at member \(at)")
            #expect(failed.stderr.contains("failure injected at mail:\(at)"), "the cause is named: \(failed.stderr.suffix(500))")
            let db = try tdb.connect()
            #expect(try db.query("SELECT count(*) FROM decision").scalar == "0", "no decision committed (failed at \(at))")
            #expect(try db.query("SELECT count(*) FROM certificate").scalar == "0", "no certificate committed (failed at \(at))")
            let folder = out.appendingPathComponent("131016/\(asOf)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            #expect(left.isEmpty, "nothing published or staged after a failure at \(at): \(left)")
            let rerun = try nightly(tdb, asOf, out: out, params: feeds)
            #expect(rerun.status == first.status, "rerun after a failure at \(at): \(rerun.stderr)")
            let got = try snapshot(tdb, folder.appendingPathComponent("nightly"))
            #expect(got == expected, "after a failure at \(at); first difference: \(firstDifference(got, expected))")
        }
    }

    @Test("killed after the run is marked complete, before its auditors' report: the rerun writes the report")
    func killedBeforeReport() throws {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", "400", "--seed", "11", "--out", feeds.path], database: nil).status == 0)
        let asOf = "2026-12-01"
        let tdb = try prepared(feeds)
        let out = try temporaryDirectory()
        let crashed = try nightly(tdb, asOf, out: out, params: feeds, crashAt: "completed")
        #expect(crashed.status == 9, "\(crashed.stderr)")
        let folder = out.appendingPathComponent("131016/\(asOf)/nightly")
        let fm = FileManager.default
        let before = try fm.contentsOfDirectory(atPath: folder.path)
        #expect(before.contains("manifest.json") && !before.contains("report.html") && !before.contains("report.json"), "\(before)")
        // A half-written copy left by the kill goes too.
        try Data("<html".utf8).write(to: folder.appendingPathComponent(".report.html.AbC123"))
        let rerun = try nightly(tdb, asOf, out: out, params: feeds)
        #expect(rerun.status == 0 || rerun.status == 11, "\(rerun.stderr)")
        #expect((rerun.stdout + rerun.stderr).contains("the auditors' report of run 1 was missing"), "\(rerun.stdout)\(rerun.stderr)")
        let after = try fm.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(after == (before + ["report.html", "report.json"]).sorted(), "\(after)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("report.json"))) as? [String: Any]
        #expect(json != nil && String(describing: json!).contains("131016"))
        let mode = try fm.attributesOfItem(atPath: folder.appendingPathComponent("report.html").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Once the report is there, a rerun leaves the folder alone.
        let written = try fm.attributesOfItem(atPath: folder.appendingPathComponent("report.json").path)[.modificationDate] as? Date
        usleep(20_000)
        let third = try nightly(tdb, asOf, out: out, params: feeds)
        #expect(third.status == rerun.status)
        #expect(!(third.stdout + third.stderr).contains("was missing"))
        #expect(try fm.attributesOfItem(atPath: folder.appendingPathComponent("report.json").path)[.modificationDate] as? Date == written)
    }

    @Test("kill -9 from outside at random moments, then a rerun: same result")
    func killFromOutside() throws {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", "3000", "--seed", "12", "--out", feeds.path], database: nil).status == 0)
        let asOf = "2026-12-01"
        let reference = try prepared(feeds)
        let refOut = try temporaryDirectory()
        let first = try nightly(reference, asOf, out: refOut, params: feeds)
        let expected = try snapshot(reference, refOut.appendingPathComponent("131016/\(asOf)/nightly"))
        for delay in [0.05, 0.15, 0.3, 0.5] {
            let tdb = try prepared(feeds)
            let out = try temporaryDirectory()
            let p = Process()
            p.executableURL = TestDatabase.executable
            p.arguments = ["run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", feeds.path, "--quiet"]
            var env = ProcessInfo.processInfo.environment
            env["PGDATABASE"] = tdb.name
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: delay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            // A kill between the run row's INSERT and its commit leaves nothing but a consumed
            // identity number (PostgreSQL sequences are not transactional), so the rerun would be
            // run 2 where the reference is run 1. Give that number back; everything else is compared.
            _ = try tdb.connect().query(
                "SELECT setval(pg_get_serial_sequence('run', 'run_id'), coalesce(max(run_id), 0) + 1, false) FROM run")
            let rerun = try nightly(tdb, asOf, out: out, params: feeds)
            #expect(rerun.status == first.status, "after a kill at \(delay)s: \(rerun.stderr)")
            let got = try snapshot(tdb, out.appendingPathComponent("131016/\(asOf)/nightly"))
            #expect(got == expected, "after a kill at \(delay)s; first difference: \(firstDifference(got, expected))")
        }
    }
}
