import Foundation
import KakuninBatch
import KakuninCore
import KakuninStore
import KakuninTesting
import Testing

/// Issue 34 item 2: an incremental night reads the facts of its candidates only (sql/041
/// incremental_candidates): the members whose rows were written by a transaction the previous
/// run's snapshot did not see, whose dated rows came into force, or whose decision in force is
/// due for review. The stamps are the database's: every writer marks its member.
@Suite("Incremental nights read only the members that can have changed", .serialized)
struct IncrementalCandidatesTests {
    static let n = 40

    /// Members M000…M039 as IncrementalNightTests makes them; M001 works at establishment E001.
    static func members(changed: [String: [String: String]] = [:]) -> [String] {
        var lines = IncrementalNightTests.members(n, changed: changed)
        lines[0] = FeedFiles.fullMemberHeader
        for i in 1..<lines.count {
            let id = String(format: "M%03d", i - 1)
            var fields: [String: String] = [
                "birth_date": "19\(50 + (i - 1) % 45)-0\(1 + (i - 1) % 9)-1\((i - 1) % 10)", "household_id": "H\(id)",
            ]
            if (i - 1) % 5 == 1 { fields["scheme"] = "employee" }
            if (i - 1) % 7 == 3 {
                fields["scheme"] = "elderly"
                fields["birth_date"] = "194\((i - 1) % 10)-05-05"
            }
            if id == "M001" { fields["establishment_id"] = "E001" }
            for (k, v) in changed[id] ?? [:] { fields[k] = v }
            lines[i] = FeedFiles.member(id, fields, columns: FeedFiles.allMemberColumns)
        }
        return lines
    }

    private func k(_ tdb: TestDatabase, _ args: [String]) throws -> CommandResult {
        let r = try runKakunin(args, database: tdb)
        #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        return r
    }

    private func importFeed(_ tdb: TestDatabase, _ dir: URL, _ feed: String, _ name: String, _ lines: [String]) throws {
        _ = try k(tdb, ["import", feed, try FeedFiles.write(dir, name, lines).path, "--report-dir", dir.path])
    }

    /// 40 members, their Myna snapshots and one establishment; night 1 (full) and night 2 (the
    /// first documents become facts).
    private func settled() throws -> (TestDatabase, URL) {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try importFeed(
            tdb, dir, "establishments", "e.csv",
            [EstablishmentsFeedTests.header, EstablishmentsFeedTests.row("E001", ["insurer_number": "131016"])])
        try importFeed(tdb, dir, "members", "m1.csv", Self.members())
        try importFeed(tdb, dir, "myna-status", "s.csv", IncrementalNightTests.myna(Self.n, asOf: "2026-11-01"))
        for day in ["2026-11-20", "2026-11-21"] {
            #expect(try nightly(tdb, day, out: dir.appendingPathComponent("out"), params: dir).status == 0)
        }
        return (tdb, dir)
    }

    private func counts(_ db: Connection, _ run: Int) throws -> [String: Int] {
        let row = try db.query(
            """
            SELECT counts->>'members_read', counts->>'facts_read', counts->>'carried_forward',
                   (SELECT count(*) FROM decision WHERE run_id = $1)::text
            FROM run WHERE run_id = $1
            """, [String(run)]
        ).rows[0]
        return ["members": Int(row[0]!)!, "read": Int(row[1]!)!, "carried": Int(row[2]!)!, "decided": Int(row[3]!)!]
    }

    @Test(
        "a night with candidates for a quarter of the insurer's members or more reads everyone in one read and compares digests; a small insurer (under KAKUNIN_READ_ALL_FROM) reads its candidates"
    )
    func manyCandidatesReadEveryone() throws {
        // Night 2 after a first night: most members have new documents (candidates). The
        // threshold is lowered to 10 members so that 40 count as an insurer that reads everyone.
        for (readAllFrom, everyone) in [("10", true), ("1000", false)] {
            let tdb = try TestDatabase()
            let dir = try temporaryDirectory()
            try importFeed(tdb, dir, "members", "m1.csv", Self.members())
            try importFeed(tdb, dir, "myna-status", "s.csv", IncrementalNightTests.myna(Self.n, asOf: "2026-11-01"))
            #expect(try nightly(tdb, "2026-11-20", out: dir.appendingPathComponent("out"), params: dir).status == 0)
            let r = try runKakunin(
                ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path],
                database: tdb, environment: ["KAKUNIN_READ_ALL_FROM": readAllFrom])
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            let db = try tdb.connect()
            let night2 = try counts(db, 2)
            #expect(night2["members"] == Self.n && night2["decided"]! + night2["carried"]! == Self.n, "\(night2)")
            if everyone {
                #expect(night2["read"] == Self.n, "read everyone (\(night2))")
            } else {
                #expect(night2["read"]! < Self.n, "read the candidates only (\(night2))")
            }
        }
    }

    /// The members whose decision in force after `run` is due for review by `asOf`.
    private func due(_ db: Connection, _ run: Int, _ asOf: String) throws -> Set<String> {
        Set(
            try db.query("SELECT member_id FROM decision_in_force($1) WHERE next_review_on <= $2", [String(run), asOf]).rows.map {
                $0[0]!
            })
    }

    private func candidates(_ db: Connection, _ run: Int, _ asOf: String) throws -> Set<String> {
        Set(try db.query("SELECT member_id FROM incremental_candidates('131016', $1, $2)", [String(run), asOf]).rows.map { $0[0]! })
    }

    @Test("a quiet night reads only the members due for review; a changed member is read too; every member is accounted for")
    func readsOnlyCandidates() throws {
        let (tdb, dir) = try settled()
        let db = try tdb.connect()
        let out = dir.appendingPathComponent("out")
        var r = try nightly(tdb, "2026-11-22", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let quietDue = try due(db, 2, "2026-11-22")
        var c = try counts(db, 3)
        #expect(c["read"] == quietDue.count && c["read"]! < Self.n, "\(c) due \(quietDue.sorted())")
        #expect(c["members"] == Self.n && c["decided"]! + c["carried"]! == Self.n, "\(c)")
        let line = "members = decided + carried forward: \(Self.n) = \(c["decided"]!) + \(c["carried"]!)"
        #expect(r.stdout.contains("[pass] \(line) (incremental night: facts of \(c["read"]!) read"), "\(r.stdout)")

        // M004 moves: it is read with the members due.
        try importFeed(tdb, dir, "members", "m2.csv", Self.members(changed: ["M004": ["address": "東京都港区芝公園4丁目2番8号"]]))
        let due4 = try due(db, 3, "2026-11-23")
        #expect(!due4.contains("M004"))
        r = try nightly(tdb, "2026-11-23", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        c = try counts(db, 4)
        #expect(c["read"] == due4.union(["M004"]).count, "\(c) due \(due4.sorted())")
        #expect(try db.query("SELECT count(*) FROM decision WHERE run_id = 4 AND member_id = 'M004'").scalar == "1")
        // Every read still shows all 40.
        #expect(try db.query("SELECT count(*) FROM decision_in_force(4)").scalar == String(Self.n))
    }

    /// The auditors' report of `run` as JSON (kakunin report).
    private func reportJSON(_ tdb: TestDatabase, _ run: Int, out: URL) throws -> [String: Any] {
        let r = try k(tdb, ["report", "--run", String(run), "--format", "json", "--out", out.path])
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
    }

    @Test(
        "an incremental night's report starts from the previous run's kept counts and reads only the decisions written since; it shows what every member's decisions in force show"
    )
    func reportReadsWhatChanged() throws {
        let (tdb, dir) = try settled()
        let db = try tdb.connect()
        let out = dir.appendingPathComponent("out")
        #expect(try nightly(tdb, "2026-11-22", out: out, params: dir).status == 0)
        try importFeed(tdb, dir, "members", "m2.csv", Self.members(changed: ["M004": ["address": "東京都港区芝公園4丁目2番8号"]]))
        // A voided certificate: its member is issued one again (an outcome that changes).
        let voided = try #require(
            try db.query("SELECT member_id, certificate_number::text FROM certificate WHERE status = 'active' ORDER BY member_id LIMIT 1")
                .rows
                .first)
        _ = try k(
            tdb,
            [
                "certificate", "void", "--insurer", "131016", "--certificate", voided[1]!, "--reason", "issued in error", "--on",
                "2026-11-22",
            ])
        #expect(try nightly(tdb, "2026-11-23", out: out, params: dir).status == 0)
        #expect(try db.query("SELECT counts->>'base_run_id' FROM run WHERE run_id = 4").scalar == "1")
        // Counted over every member's decision in force, as a base run's report counts.
        let outcomes = Dictionary(
            uniqueKeysWithValues: try db.query("SELECT outcome, count(*) FROM decision_in_force(4) GROUP BY 1").rows.map {
                ($0[0]!, Int($0[1]!)!)
            })
        let detail = Set(
            try db.query(
                "SELECT outcome || ' ' || reason || ' ' || scheme || ' ' || count(*) FROM decision_in_force(4), unnest(reasons) reason GROUP BY outcome, reason, scheme"
            ).rows.map { $0[0]! })
        let matrix = Set(
            try db.query(
                """
                SELECT coalesce(p.outcome, '(new)') || ' ' || coalesce(c.outcome, '(gone)') || ' ' || count(*)
                FROM decision_in_force(4) c FULL JOIN decision_in_force(3) p USING (member_id) GROUP BY p.outcome, c.outcome
                """
            ).rows.map { $0[0]! })
        let changed = try db.query(
            """
            SELECT member_id FROM decision_in_force(4) c JOIN decision_in_force(3) p USING (member_id)
            WHERE p.outcome <> c.outcome ORDER BY 1
            """
        ).rows.map { $0[0]! }
        let outcomesOfVoided = try db.query(
            "SELECT p.outcome || ' ' || c.outcome FROM decision_in_force(4) c JOIN decision_in_force(3) p USING (member_id) WHERE member_id = $1",
            [voided[0]!]
        ).scalar
        let runs = try db.query("SELECT run_id || ' ' || counts::text FROM run ORDER BY run_id").rows.map { $0[0]! }
        #expect(changed.contains(voided[0]!), "the void changed nothing (\(outcomesOfVoided ?? "")): \(runs)")
        func shown(_ report: [String: Any]) -> (outcomes: [String: Int], detail: Set<String>, matrix: Set<String>, changed: [String]) {
            let d = (report["by_outcome_reason_scheme"] as? [[String: Any]] ?? []).map {
                "\($0["outcome"]!) \($0["reason"]!) \($0["scheme"]!) \($0["count"]!)"
            }
            let changes = report["changes"] as? [String: Any] ?? [:]
            let m = (changes["matrix"] as? [[String: Any]] ?? []).map { "\($0["from"]!) \($0["to"]!) \($0["count"]!)" }
            let c = (changes["changed"] as? [[String: Any]] ?? []).map { $0["member_id"] as! String }
            return (report["outcomes"] as? [String: Int] ?? [:], Set(d), Set(m), c)
        }
        let report = shown(try reportJSON(tdb, 4, out: out))
        #expect(report.outcomes == outcomes)
        #expect(report.detail == detail)
        #expect(report.matrix == matrix)
        #expect(report.changed == changed)
        // The counts start from those run 3 kept: a count changed there shows in run 4's report.
        let kept = try #require(try db.query("SELECT counts->'outcomes'->>'none' FROM run WHERE run_id = 3").scalar)
        try db.execute("ALTER TABLE run DISABLE TRIGGER run_history")
        _ = try db.query(
            "UPDATE run SET counts = jsonb_set(counts, '{outcomes,none}', to_jsonb($1::int)) WHERE run_id = 3", [String(Int(kept)! + 1000)])
        try db.execute("ALTER TABLE run ENABLE TRIGGER run_history")
        let tampered = shown(try reportJSON(tdb, 4, out: out))
        #expect(tampered.outcomes["none"] == (outcomes["none"] ?? 0) + 1000, "\(tampered.outcomes)")
    }

    /// How many times incremental_candidates ran since the statistics were reset (track_functions).
    private func candidateCalls(_ db: Connection) throws -> Int {
        var calls = 0
        for _ in 0..<20 {  // the run's server processes report their counts as they exit
            try db.execute("SELECT pg_stat_clear_snapshot()")
            calls = Int(
                try db.query("SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'incremental_candidates'").scalar!
            )!
            if calls > 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return calls
    }

    @Test(
        "an incremental night finds its candidates once; its overlap check reads the members whose certificates changed since the previous run, and every member after a run whose checks failed"
    )
    func candidatesOnceOverlapOfChanged() throws {
        let (tdb, dir) = try settled()
        let db = try tdb.connect()
        let out = dir.appendingPathComponent("out")
        let database = try #require(try db.query("SELECT current_database()").scalar)
        try db.execute("ALTER DATABASE \"\(database)\" SET track_functions = 'pl'")
        #expect(try nightly(tdb, "2026-11-22", out: out, params: dir).status == 0)
        #expect(try candidateCalls(db) == 1, "counted and read in one finding")
        // A second active certificate overlapping a member's, planted by the owner with a stamp
        // every snapshot saw (as if written before the last run): an incremental night checks
        // the members whose certificates changed since the last run only, a full run everyone,
        // and so does the night after a run whose checks failed.
        let member = try #require(
            try db.query(
                "SELECT member_id FROM certificate WHERE status = 'active' AND valid_to >= '2026-11-26' ORDER BY member_id LIMIT 1"
            )
            .scalar)
        try db.execute(
            """
            INSERT INTO certificate (insurer_number, certificate_number, member_id, kind, reasons, valid_from, valid_to, issued_on, changed_xact)
            SELECT '131016', 990001, member_id, 'issue', '{NO_CARD}', valid_from, valid_to, '2026-11-22', '1'::xid8 FROM certificate
            WHERE member_id = '\(member)' AND status = 'active' ORDER BY valid_from DESC LIMIT 1
            """)
        let check = "no member holds two active certificates whose validity overlaps on or after the as-of date"
        var r = try nightly(tdb, "2026-11-23", out: out, params: dir)
        #expect(r.stdout.contains("[pass] \(check): 0 members") && r.status == 0, "\(r.stdout)")
        let failed = "[FAIL] \(check): 1 members, e.g. \(member)"
        r = try runKakunin(["run", "--insurer", "131016", "--as-of", "2026-11-24", "--out", out.path, "--full"], database: tdb)
        #expect(r.stdout.contains(failed) && r.status == 13, "--full: \(r.stdout)")
        r = try nightly(tdb, "2026-11-25", out: out, params: dir)
        #expect(r.stdout.contains(failed) && r.status == 13, "after a failed check: \(r.stdout)")
        #expect(try db.query("SELECT counts->>'full_run' FROM run ORDER BY run_id DESC LIMIT 1").scalar == "false")
    }

    @Test(
        "an incremental night's candidates read the member table once (sql/048): the changed members and the nhi households to read whole come from one read; a member who joins a household brings it in"
    )
    func candidatesReadMembersOnce() throws {
        let (tdb, dir) = try settled()
        // M016 (employee) moves into M012's household (nhi): M012's household is read whole.
        try importFeed(tdb, dir, "members", "m2.csv", Self.members(changed: ["M016": ["household_id": "HM012"]]))
        let db = try tdb.connect()
        let run = try #require(try db.query("SELECT max(run_id) FROM run").scalar)
        let (candidates, reads) = try db.transaction {
            // This transaction's own counts (pg_stat_xact_user_tables), without waiting for the statistics.
            try db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            let ids = try db.query("SELECT member_id FROM incremental_candidates('131016', $1, '2026-11-22') ORDER BY 1", [run]).rows.map {
                $0[0]!
            }
            let scans = try db.query("SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'member'").rows[
                0]
            return (ids, scans)
        }
        #expect(candidates.contains("M016") && candidates.contains("M012"), "\(candidates)")
        #expect(reads == ["1", "0"], "member read once, no lookup per member (sql/044: 2 reads and a lookup per changed member)")
    }

    @Test("an incremental night reserves one certificate number per member it reads, a full run one per member (sql/048)")
    func numbersForMembersRead() throws {
        let (tdb, dir) = try settled()
        let db = try tdb.connect()
        let out = dir.appendingPathComponent("out")
        let block = "SELECT numbers_to - numbers_from, counts->>'facts_read', counts->>'members_read' FROM run ORDER BY run_id DESC LIMIT 1"
        try importFeed(
            tdb, dir, "members", "m2.csv", Self.members(changed: ["M012": ["family_name": "鈴木"], "M013": ["family_name": "佐藤"]]))
        #expect(try nightly(tdb, "2026-11-22", out: out, params: dir).status == 0)
        var row = try db.query(block).rows[0]
        #expect(row[0] == row[1] && (2..<Self.n).contains(Int(row[1]!)!), "incremental: \(row)")
        _ = try k(tdb, ["run", "--insurer", "131016", "--as-of", "2026-11-23", "--out", out.path, "--full"])
        row = try db.query(block).rows[0]
        #expect(row[0] == String(Self.n) && row[2] == String(Self.n), "full: \(row)")
    }

    @Test(
        "an incremental night's auditors' report lists the changed members the run's report read with its counts: no second read of the decisions"
    )
    func auditorsListFromReport() throws {
        let (tdb, dir) = try settled()
        let db = try tdb.connect()
        let out = dir.appendingPathComponent("out")
        // A voided certificate: its member is issued one again (an outcome that changes).
        let voided = try #require(
            try db.query("SELECT certificate_number::text FROM certificate WHERE status = 'active' ORDER BY member_id LIMIT 1").scalar)
        _ = try k(
            tdb,
            ["certificate", "void", "--insurer", "131016", "--certificate", voided, "--reason", "issued in error", "--on", "2026-11-21"])
        #expect(try nightly(tdb, "2026-11-22", out: out, params: dir).status == 0)
        let run = try #require(try db.query("SELECT max(run_id) FROM run WHERE counts->>'full_run' = 'false'").scalar.flatMap { Int($0) })
        let files = out.appendingPathComponent("131016/2026-11-22/nightly")
        let published = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: files.appendingPathComponent("report.json"))) as? [String: Any])
        let report = try AuditorReport.load(
            db, runID: run, filesDirectory: files, base: try RunReportLoader.load(db, runID: run, filesDirectory: files))
        // Any statement from here on fails: the lists must come from what the report read.
        try db.execute("BEGIN")
        _ = try? db.execute("SELECT 1 / 0")
        var json = ""
        try report.write(.json, db) { json += $0 }
        try db.execute("ROLLBACK")
        let written = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let changes = try #require(written["changes"] as? [String: Any])
        #expect(!(changes["changed"] as? [Any] ?? []).isEmpty, "\(changes)")
        #expect(
            NSDictionary(dictionary: changes) == NSDictionary(dictionary: published["changes"] as? [String: Any] ?? [:]), "\(published)")
    }

    /// One writer's change of one member, and what it is.
    struct Writer: Sendable {
        let name: String
        let change: @Sendable (TestDatabase, URL, String) throws -> CommandResult
    }

    static let writers: [Writer] = [
        Writer(name: "members import (merge)") { tdb, dir, id in
            try runKakunin(
                [
                    "import", "members", try FeedFiles.write(dir, "mw.csv", members(changed: [id: ["family_name": "鈴木"]])).path,
                    "--report-dir", dir.path,
                ],
                database: tdb)
        },
        Writer(name: "myna-status import (a new snapshot)") { tdb, dir, id in
            let line = "131016,\(id),2026-11-21,true,registered,active,2032-03-31,"
            return try runKakunin(
                [
                    "import", "myna-status", try FeedFiles.write(dir, "sw.csv", [NightlyRunTests.mynaHeader, line]).path, "--report-dir",
                    dir.path,
                ],
                database: tdb)
        },
        Writer(name: "application (console/CLI)") { tdb, _, id in
            try runKakunin(
                [
                    "application", "add", "--insurer", "131016", "--member", id, "--kind", "card_lost", "--received-on", "2026-11-21",
                    "--status", "approved",
                ], database: tdb)
        },
        Writer(name: "certificate void at the counter") { tdb, _, id in
            let number = try tdb.connect().query("SELECT max(certificate_number)::text FROM certificate WHERE member_id = $1", [id]).scalar!
            return try runKakunin(
                [
                    "certificate", "void", "--insurer", "131016", "--certificate", number, "--reason", "issued in error", "--on",
                    "2026-11-21",
                ],
                database: tdb)
        },
        Writer(name: "counter issue") { tdb, _, id in
            try runKakunin(["counter", "issue", "--insurer", "131016", "--member", id, "--as-of", "2026-11-21"], database: tdb)
        },
        Writer(name: "establishment import") { tdb, dir, _ in
            let row = EstablishmentsFeedTests.row(
                "E001", ["insurer_number": "131016", "name": "かくにん製作所", "address": "東京都千代田区大手町1丁目1番1号"])
            return try runKakunin(
                [
                    "import", "establishments", try FeedFiles.write(dir, "ew.csv", [EstablishmentsFeedTests.header, row]).path,
                    "--report-dir", dir.path,
                ],
                database: tdb)
        },
    ]

    /// Direct SQL by the tables' owner: the stamp is the database's, whatever the statement sets
    /// (an UPDATE, a DELETE, an INSERT into a table written row by row that names an old stamp).
    static let statements: [(table: String, sql: String)] = [
        ("myna_status", "UPDATE myna_status SET card_expiry = '2032-01-31', changed_xact = '1' WHERE member_id = $1"),
        ("certificate", "UPDATE certificate SET valid_to = valid_to - 1 WHERE member_id = $1"),
        ("notice", "DELETE FROM notice WHERE member_id = $1"),
        (
            "mail_return",
            """
            INSERT INTO mail_return (insurer_number, member_id, document, certificate_number, returned_on, note, changed_xact)
            SELECT '131016', $1, 'certificate', max(certificate_number), '2026-11-21', 'by hand', '1' FROM certificate WHERE member_id = $1
            """
        ),
    ]

    @Test("every writer marks its member as changed: imports, applications, the counter, establishments, and direct SQL on each table")
    func everyWriterMarks() throws {
        let (tdb, dir) = try settled()
        let db = try tdb.connect()
        let asOf = "2026-11-22"
        var used: Set<String> = []
        /// A member not yet a candidate (nor one already used), with `having` true for it.
        func quiet(_ having: String = "true") throws -> String {
            let now = try candidates(db, 2, asOf)
            let ids = try db.query("SELECT member_id FROM member m WHERE \(having) ORDER BY member_id").rows.map { $0[0]! }
            return try #require(ids.first { !now.contains($0) && !used.contains($0) }, "no quiet member where \(having)")
        }
        for w in Self.writers {
            // The counter issues to the member whose certificate was just voided.
            let voided = "member_id IN (SELECT member_id FROM certificate WHERE status = 'voided')"
            let id =
                w.name.hasPrefix("establishment")
                ? "M001"
                : w.name.hasPrefix("counter")
                    ? try db.query("SELECT member_id FROM member m WHERE \(voided)").scalar!
                    : try quiet(
                        w.name.hasPrefix("certificate")
                            ? "EXISTS (SELECT 1 FROM certificate c WHERE c.member_id = m.member_id)" : "member_id <> 'M001'")

            // (The counter issues to the member whose certificate the void marked already.)
            let before = try candidates(db, 2, asOf).contains(id)
            #expect(w.name.hasPrefix("counter") || !before, "\(w.name): \(id) was a candidate before")
            let r = try w.change(tdb, dir, id)
            #expect(r.status == 0, "\(w.name): \(r.stdout)\(r.stderr)")
            used.insert(id)
            #expect(try candidates(db, 2, asOf).contains(id), "\(w.name) did not mark \(id): \(r.stdout)")
            if w.name.hasPrefix("counter") {
                let stamped = try db.query(
                    """
                    SELECT count(*) FROM certificate WHERE member_id = $1 AND run_id IS NULL AND status = 'active'
                      AND NOT pg_visible_in_snapshot(changed_xact, (SELECT facts_snapshot FROM run WHERE run_id = 2))
                    """, [id]
                ).scalar
                #expect(stamped == "1", "the counter's certificate for \(id) carries no new stamp: \(r.stdout)")
            }
        }
        for s in Self.statements {
            let id = try quiet(
                "EXISTS (SELECT 1 FROM \(s.table == "mail_return" ? "certificate" : s.table) t WHERE t.member_id = m.member_id)")
            let affected = try db.query(s.sql, [id]).affectedRows
            #expect(affected > 0, "\(s.table): nothing changed for \(id)")
            used.insert(id)
            #expect(try candidates(db, 2, asOf).contains(id), "\(s.table): \(s.sql) did not mark \(id)")
        }
        // A snapshot dated after the next night becomes a fact on its date: read then.
        let later = try quiet("member_id IN (SELECT member_id FROM decision_in_force(2) WHERE next_review_on > '2026-12-31')")
        _ = try runKakunin(
            [
                "import", "myna-status",
                try FeedFiles.write(
                    dir, "later.csv", [NightlyRunTests.mynaHeader, "131016,\(later),2026-11-24,true,registered,active,2033-03-31,"]
                ).path,
                "--report-dir", dir.path,
            ], database: tdb)
        #expect(try nightly(tdb, asOf, out: dir.appendingPathComponent("out"), params: dir).status == 0)
        #expect(try nightly(tdb, "2026-11-23", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        #expect(!(try candidates(db, 4, "2026-11-23")).contains(later), "\(later) was read before its snapshot's date")
        let dueThen = try due(db, 4, "2026-11-24").contains(later)
        #expect(!dueThen, "\(later) is due for review anyway: the test would not show the date's effect")
        #expect(try candidates(db, 4, "2026-11-24").contains(later), "the snapshot dated 2026-11-24 did not mark \(later) on its date")
    }
}
