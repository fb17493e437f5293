import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

@Suite("Feed import through the CLI")
struct ImportTests {
    @Test("a good file loads every row and exits 0")
    func goodFile() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let file = try FeedFiles.write(dir, "members.csv", [FeedFiles.memberHeader] + (1...5).map { FeedFiles.member("M\($0)") })
        let r = try runKakunin(["import", "members", file.path, "--report-dir", dir.appendingPathComponent("r").path], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("loaded:    5 (inserted 5, updated 0, unchanged 0)"))
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member").scalar == "5")
        #expect(try db.query("SELECT status, rows_read, rows_rejected FROM import").rows == [["loaded", "5", "0"]])
        #expect(try db.query("SELECT count(*) FROM insurer WHERE insurer_number = '131016'").scalar == "1")
    }

    @Test("bad rows are rejected with line, column, value and reason; the good rows load; exit 10")
    func mixedFile() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let lines = [
            FeedFiles.memberHeader,
            FeedFiles.member("M1", ["address_extra": "メゾン \"桜\", 101号"]),  // line 2
            FeedFiles.member("M2", ["birth_date": "1980-02-30"]),  // line 3
            FeedFiles.member("M3", ["scheme": "nhi2", "sex": "3"]),  // line 4: two errors
            FeedFiles.member("", [:]),  // line 5
            FeedFiles.member("M5", ["address": "札幌市\n中央区"]),  // lines 6-7 (quoted newline)
            FeedFiles.member("M6", ["qualified_on": "2021-01-01", "disqualified_on": "2020-12-31"]),  // line 8
            FeedFiles.member("M7", ["family_name_kana": "やまだ"]),  // line 9
            "131016,M8,nhi",  // line 10: too few fields
            FeedFiles.member("M9", ["copay_ratio": "25", "preferred_language": "english!"]),  // line 11
        ]
        let file = try FeedFiles.write(dir, "members.csv", lines)
        let reports = dir.appendingPathComponent("reports")
        let r = try runKakunin(["import", "members", file.path, "--report-dir", reports.path], database: tdb)
        #expect(r.status == 10, "\(r.stderr)")
        #expect(r.stdout.contains("rows read: 9"))
        #expect(r.stdout.contains("loaded:    1 (inserted 1, updated 0, unchanged 0)"))
        #expect(r.stdout.contains("rejected:  8"))

        let rejects = try String(contentsOf: reports.appendingPathComponent("import-1-members.rejects.csv"), encoding: .utf8)
        let rows = try csvRows(rejects)
        #expect(rows.first == ["line", "column", "value", "reason", "member_id"])
        let body = rows.dropFirst().map { [$0[0], $0[1], $0[3]] }
        #expect(
            body == [
                ["3", "birth_date", "not a date in YYYY-MM-DD form"],
                ["4", "scheme", "unknown value; expected one of nhi, elderly, employee"],
                ["4", "sex", "unknown value; expected one of 1, 2, 9"],
                ["5", "member_id", "required value is missing"],
                ["6", "address", "contains a control character (a line break or tab inside a value is not allowed)"],
                ["8", "disqualified_on", "qualified_on (2021-01-01) is after disqualified_on"],
                ["9", "family_name_kana", "reading must be full-width katakana"],
                ["10", "", "row has 3 fields; the header has 24"],
                ["11", "copay_ratio", "unknown value; expected one of 10, 20, 30"],
                ["11", "preferred_language", "not a BCP 47 language tag"],
            ])
        // The on-screen summary withholds personal values but names the line and column.
        #expect(r.stdout.contains("line 9, column family_name_kana, value \"(withheld: see rejects file)\""))
        #expect(!r.stdout.contains("やまだ"))
        // Quotes and commas survive; files are owner-only.
        let db = try tdb.connect()
        #expect(try db.query("SELECT address_extra FROM member WHERE member_id = 'M1'").scalar == "メゾン \"桜\", 101号")
        let mode =
            try FileManager.default.attributesOfItem(atPath: reports.appendingPathComponent("import-1-members.rejects.csv").path)[
                .posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(
        "monthly Myna snapshots: every one is kept, the first and the changes are marked, and the latest status on any date is the same either way"
    )
    func mynaRepeats() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let reports = dir.appendingPathComponent("r").path
        let members = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("A"), FeedFiles.member("B")])
        #expect(try runKakunin(["import", "members", members.path, "--report-dir", reports], database: tdb).status == 0)
        let usable = "true,registered,active,2030-01-31,"
        let suspended = "true,registered,suspended,2030-01-31,"
        let none = "false,,none,,"
        func month(_ name: String, _ rows: [(String, String, String)]) throws {
            let f = try FeedFiles.write(dir, name, [NightlyRunTests.mynaHeader] + rows.map { "131016,\($0.0),\($0.1),\($0.2)" })
            let r = try runKakunin(["import", "myna-status", f.path, "--report-dir", reports], database: tdb)
            #expect(r.status == 0, "\(name): \(r.stdout)\(r.stderr)")
        }
        let db = try tdb.connect()
        func marks(_ member: String) throws -> [String] {
            try db.query(
                "SELECT status_as_of::text || (CASE WHEN status_changed THEN '' ELSE ' repeat' END) FROM myna_status WHERE member_id = $1 ORDER BY status_as_of",
                [member]
            ).rows.map { $0[0]! }
        }
        // The invariant the facts query relies on: on every date, the latest unmarked snapshot
        // has the values of the latest snapshot.
        func sameOnEveryDate() throws {
            let differ = try db.query(
                """
                SELECT d::date::text, m.member_id FROM generate_series('2025-12-01'::date, '2026-06-01', '1 day') d
                CROSS JOIN (VALUES ('A'), ('B')) m(member_id)
                WHERE (SELECT (has_card, registration, card_state, ecert_expiry, card_expiry) FROM myna_status s
                       WHERE s.member_id = m.member_id AND s.status_as_of <= d ORDER BY status_as_of DESC LIMIT 1)
                      IS DISTINCT FROM
                      (SELECT (has_card, registration, card_state, ecert_expiry, card_expiry) FROM myna_status s
                       WHERE s.member_id = m.member_id AND s.status_as_of <= d AND status_changed ORDER BY status_as_of DESC LIMIT 1)
                LIMIT 5
                """
            ).rows
            #expect(differ.isEmpty, "\(differ)")
        }
        try month("1.csv", [("A", "2026-01-01", usable), ("B", "2026-01-01", none)])
        try month("2.csv", [("A", "2026-02-01", usable), ("B", "2026-02-01", none)])
        try month("3.csv", [("A", "2026-03-01", suspended), ("B", "2026-03-01", none)])
        try month("4.csv", [("A", "2026-04-01", suspended), ("B", "2026-04-01", usable)])
        #expect(try marks("A") == ["2026-01-01", "2026-02-01 repeat", "2026-03-01", "2026-04-01 repeat"])
        #expect(try marks("B") == ["2026-01-01", "2026-02-01 repeat", "2026-03-01 repeat", "2026-04-01"])
        try sameOnEveryDate()
        // February corrected: A was suspended then, so March now repeats February.
        try month("2-corrected.csv", [("A", "2026-02-01", suspended), ("B", "2026-02-01", none)])
        #expect(try marks("A") == ["2026-01-01", "2026-02-01", "2026-03-01 repeat", "2026-04-01 repeat"])
        try sameOnEveryDate()
        // A snapshot between two others: B usable from mid-March makes April a repeat, and A's
        // mid-January snapshot repeats January.
        try month("mid.csv", [("A", "2026-01-15", usable), ("B", "2026-03-15", usable)])
        #expect(try marks("A") == ["2026-01-01", "2026-01-15 repeat", "2026-02-01", "2026-03-01 repeat", "2026-04-01 repeat"])
        #expect(try marks("B") == ["2026-01-01", "2026-02-01 repeat", "2026-03-01 repeat", "2026-03-15", "2026-04-01 repeat"])
        try sameOnEveryDate()
        // Two snapshots of one member in one file: marked against each other.
        try month("two.csv", [("B", "2026-05-01", none), ("B", "2026-05-15", none)])
        #expect(
            try marks("B") == [
                "2026-01-01", "2026-02-01 repeat", "2026-03-01 repeat", "2026-03-15", "2026-04-01 repeat",
                "2026-05-01", "2026-05-15 repeat",
            ])
        try sameOnEveryDate()
        // What the run decides from: A suspended in March → guidance to apply; usable in January.
        for (asOf, expected) in [("2026-03-10", "CARD_SUSPENDED"), ("2026-01-20", "MYNA_USABLE")] {
            let e = try runKakunin(["explain", "--insurer", "131016", "--member", "A", "--as-of", asOf], database: tdb)
            #expect(e.status == 0, "\(e.stderr)")
            #expect(e.stdout.contains(expected), "\(asOf): \(e.stdout)")
        }
    }

    @Test("the same file twice changes nothing the second time")
    func idempotent() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let file = try FeedFiles.write(dir, "members.csv", [FeedFiles.memberHeader] + (1...20).map { FeedFiles.member("M\($0)") })
        _ = try runKakunin(["import", "members", file.path, "--report-dir", dir.path], database: tdb)
        let r = try runKakunin(["import", "members", file.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0)
        #expect(r.stdout.contains("loaded:    20 (inserted 0, updated 0, unchanged 20)"))
        #expect(r.stdout.contains("changes:   0"))
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member_history").scalar == "0")
    }

    @Test("a changed member is updated and its change kept as history")
    func history() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let v1 = try FeedFiles.write(dir, "v1.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2")])
        let v2 = try FeedFiles.write(
            dir, "v2.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("M1", ["address": "大阪府大阪市北区梅田1丁目", "postal_code": "5300001"]), FeedFiles.member("M2"),
            ])
        _ = try runKakunin(["import", "members", v1.path, "--report-dir", dir.path], database: tdb)
        let r = try runKakunin(["import", "members", v2.path, "--report-dir", dir.path], database: tdb)
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 1, unchanged 1)"))
        let db = try tdb.connect()
        let h = try db.query(
            """
            SELECT member_id, import_id, changed_columns::text, old_values->>'postal_code', new_values->>'postal_code',
                   new_values->>'address' FROM member_history
            """
        ).rows
        #expect(h == [["M1", "2", "{address,postal_code}", "1000001", "5300001", "大阪府大阪市北区梅田1丁目"]])
        #expect(try db.query("SELECT updated_by_import, created_by_import FROM member WHERE member_id = 'M1'").rows == [["2", "1"]])
    }

    @Test(
        "many members changed at once: each change kept with its columns' JSON types; changes outside a running import or to a key are refused"
    )
    func historyPerStatement() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let ids = (1...300).map { "M\($0)" }
        let v1 = try FeedFiles.write(dir, "v1.csv", [FeedFiles.memberHeader] + ids.map { FeedFiles.member($0) })
        let v2 = try FeedFiles.write(
            dir, "v2.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("M1", ["copay_ratio": "20", "household_head": "false", "disqualified_on": "2026-03-31"]),
                FeedFiles.member("M2", ["address_extra": "コーポ2号"]),
            ]
                + ids.dropFirst(2).map { FeedFiles.member($0, ["branch": "01"]) } + [FeedFiles.member("M301")])
        _ = try runKakunin(["import", "members", v1.path, "--report-dir", dir.path], database: tdb)
        let r = try runKakunin(["import", "members", v2.path, "--report-dir", dir.path], database: tdb)
        #expect(r.stdout.contains("loaded:    301 (inserted 1, updated 300, unchanged 0)"), "\(r.stdout)")
        let db = try tdb.connect()
        #expect(
            try db.query(
                "SELECT member_id, changed_columns::text, old_values::text, new_values::text FROM member_history WHERE member_id IN ('M1', 'M2') ORDER BY member_id"
            ).rows == [
                [
                    "M1", "{copay_ratio,disqualified_on,household_head}",
                    #"{"copay_ratio": 30, "household_head": true, "disqualified_on": null}"#,
                    #"{"copay_ratio": 20, "household_head": false, "disqualified_on": "2026-03-31"}"#,
                ],
                ["M2", "{address_extra}", #"{"address_extra": null}"#, #"{"address_extra": "コーポ2号"}"#],
            ])
        #expect(
            try db.query(
                """
                SELECT count(*), count(DISTINCT member_id), min(old_values->>'branch'), max(new_values->>'branch'), min(import_id), max(import_id)
                FROM member_history WHERE changed_columns = '{branch}'
                """
            ).rows == [["298", "298", "00", "01", "2", "2"]])

        // Whoever writes: the database refuses a change that names no running import, or that
        // changes a member's key, and keeps a change that names one.
        func refused(_ sql: String, _ message: String) {
            let e = #expect(throws: DatabaseError.self, "\(sql)") { try db.execute(sql) }
            #expect(e?.sqlState == "42501" && e?.message.contains(message) == true, "\(sql): \(e.map { "\($0)" } ?? "")")
        }
        refused("UPDATE member SET address = 'x' WHERE member_id = 'M1'", "member M1 changes only through a running import")
        refused("UPDATE member SET address = 'x', updated_by_import = 1 WHERE member_id = 'M1'", "import 1 is not running")
        let running = try db.query(
            "INSERT INTO import (feed, file_name, status, host) VALUES ('members', 'by hand', 'running', 'test') RETURNING import_id"
        ).scalar!
        refused(
            "UPDATE member SET member_id = 'M9', updated_by_import = \(running) WHERE member_id = 'M1'",
            "member M1 keeps its insurer number and member id")
        #expect(try db.query("SELECT count(*) FROM member_history").scalar == "300")
        try db.execute("UPDATE member SET address = '東京都港区1丁目', updated_by_import = \(running) WHERE member_id IN ('M1', 'M3')")
        #expect(
            try db.query(
                "SELECT member_id, import_id, changed_columns::text, new_values::text FROM member_history WHERE import_id = \(running) ORDER BY member_id"
            ).rows == [
                ["M1", running, "{address}", #"{"address": "東京都港区1丁目"}"#], ["M3", running, "{address}", #"{"address": "東京都港区1丁目"}"#],
            ])
    }

    @Test("the row digest finds changes whatever the column order, and members stored without one are compared by column")
    func rowDigest() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        // The same rows with the first two columns swapped in the header and in every row.
        func swapped(_ line: String) -> String {
            let parts = line.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
            return "\(parts[1]),\(parts[0]),\(parts[2])"
        }
        let rows = [FeedFiles.member("M1"), FeedFiles.member("M2")]
        let v1 = try FeedFiles.write(dir, "v1.csv", [FeedFiles.memberHeader] + rows)
        let v1b = try FeedFiles.write(dir, "v1b.csv", ([FeedFiles.memberHeader] + rows).map(swapped))
        let v2 = try FeedFiles.write(
            dir, "v2.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("M1"),
                FeedFiles.member("M2", ["address_extra": "コーポ2号"]),
            ])
        _ = try runKakunin(["import", "members", v1.path, "--report-dir", dir.path], database: tdb)  // first load, straight into member
        let db = try tdb.connect()
        let digests = try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows
        #expect(digests.count == 2 && digests.allSatisfy { ($0[1] ?? "").count == 32 })
        #expect(Set(digests.map { $0[1] }).count == 2)

        // Through the stage, columns in another order: the same digests, nothing changes.
        var r = try runKakunin(["import", "members", v1b.path, "--report-dir", dir.path], database: tdb)
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 0, unchanged 2)"), "\(r.stdout)")
        #expect(try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows == digests)

        // M1 as stored before sql/016 (no digest); M2 changes.
        try db.execute("SET session_replication_role = replica")
        try db.execute("UPDATE member SET row_digest = NULL WHERE member_id = 'M1'")
        try db.execute("RESET session_replication_role")
        r = try runKakunin(["import", "members", v2.path, "--report-dir", dir.path], database: tdb)
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 1, unchanged 1)"), "\(r.stdout)")
        #expect(try db.query("SELECT member_id, changed_columns::text FROM member_history").rows == [["M2", "{address_extra}"]])
        let after = try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows
        #expect(after[0] == digests[0])  // M1 has its digest again, unchanged data
        #expect(after[1] != digests[1])
    }

    @Test(
        "a re-imported row with its stored member's digest is not checked again (it holds the values stored, checked then); a changed row is checked, its reject has line, column and reason"
    )
    func unchangedRowsNotCheckedAgain() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let db = try tdb.connect()
        // The row digest (sql/016) of a row of `fields`: its columns as COPY text, tab-separated.
        func digest(_ id: String, _ overrides: [String: String]) throws -> String {
            let fields = FeedFiles.member(id, overrides).split(separator: ",", omittingEmptySubsequences: false)
            let text = zip(FeedFormat.members.columns.filter { !$0.optional }, fields).map { column, value in
                value.isEmpty ? column.blankDefault ?? "\\N" : String(value)
            }.joined(separator: "\t")
            return try db.query("SELECT encode(substring(sha256(convert_to($1, 'UTF8')) FROM 1 FOR 16), 'hex')", [text]).scalar!
        }
        let v1 = try FeedFiles.write(dir, "v1.csv", [FeedFiles.memberHeader] + ["M1", "M2", "M3"].map { FeedFiles.member($0) })
        _ = try runKakunin(["import", "members", v1.path, "--report-dir", dir.path], database: tdb)
        #expect(try db.query("SELECT encode(row_digest, 'hex') FROM member WHERE member_id = 'M1'").scalar == digest("M1", [:]))

        // M2 as if stored with a birth date that the rules refuse (the digest vouches for it).
        let refused = ["birth_date": "1980-02-30"]
        try db.execute("SET session_replication_role = replica")
        try db.execute("UPDATE member SET row_digest = decode($1, 'hex') WHERE member_id = 'M2'", [digest("M2", refused)])
        try db.execute("RESET session_replication_role")
        let v2 = try FeedFiles.write(
            dir, "v2.csv",
            [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2", refused), FeedFiles.member("M3", refused)])
        let r = try runKakunin(["import", "members", v2.path, "--report-dir", dir.path], database: tdb)
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 0, unchanged 2)"), "\(r.stdout)")
        let rejects = try db.query("SELECT line, column_name, value, reason, member_id FROM import_reject ORDER BY line").rows
        #expect(
            rejects.count == 1 && rejects.first?[0] == "4" && rejects.first?[1] == "birth_date" && rejects.first?[4] == "M3", "\(rejects)")
        #expect(
            try db.query("SELECT birth_date::text FROM member WHERE member_id IN ('M2', 'M3') ORDER BY member_id").rows == [
                ["1980-04-01"], ["1980-04-01"],
            ])
    }

    @Test("a first load into an empty table builds its keys and indexes after the rows; a load that falls back keeps them")
    func deferredIndexes() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let db = try tdb.connect()
        // The member table's indexes and the foreign keys that reference it, as migrated.
        func keysAndIndexes() throws -> [[String?]] {
            try db.query(
                """
                SELECT c.relname, i.indisvalid::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = 'member'::regclass
                UNION ALL
                SELECT conname, convalidated::text FROM pg_constraint WHERE confrelid = 'member'::regclass
                ORDER BY 1
                """
            ).rows
        }
        let migrated = try keysAndIndexes()
        #expect(
            migrated.map { $0[0]! } == [
                "application_insurer_number_member_id_fkey", "mail_return_insurer_number_member_id_fkey",
                "member_kana", "member_pkey",
            ])
        // A duplicate key: the direct COPY fails on the primary key and the staged merge takes over.
        let dup = try FeedFiles.write(
            dir, "dup.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M1"),
                FeedFiles.member("M2", ["family_name_kana": "アオキ"]),
            ])
        var r = try runKakunin(["import", "members", dup.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 10, "\(r.stderr)")
        #expect(try keysAndIndexes() == migrated)
        try db.execute("SET session_replication_role = replica")
        try db.execute("DELETE FROM member")
        try db.execute("RESET session_replication_role")

        let ok = try FeedFiles.write(dir, "ok.csv", [FeedFiles.memberHeader] + (1...30).map { FeedFiles.member("M\($0)") })
        r = try runKakunin(["import", "members", ok.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("keys and indexes"), "the report names the index build: \(r.stdout)")
        #expect(try keysAndIndexes() == migrated)
        #expect(try db.query("SELECT count(*) FROM member_deferred_ddl").scalar == "0")
        // The primary key is back: a member twice cannot be stored.
        #expect(throws: DatabaseError.self) {
            try db.execute("SET session_replication_role = replica")
            defer { try? db.execute("RESET session_replication_role") }
            try db.execute("INSERT INTO member SELECT * FROM member WHERE member_id = 'M1'")
        }
        // The index serves the counter's kana search.
        try db.execute("SET enable_seqscan = off")
        let plan = try db.query(
            """
            EXPLAIN SELECT member_id FROM member WHERE insurer_number = '131016'
              AND (coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE "C" >= 'ヤ'
            ORDER BY insurer_number, (coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE "C", member_id
            """
        ).rows.map { $0[0] ?? "" }.joined(separator: "\n")
        #expect(plan.contains("member_kana") && !plan.contains("Sort"), "in reading order without a sort: \(plan)")
    }

    @Test(
        "the kana index is led by the reading, then the member id, the insurer last (sql/045), also as a first load builds it again; the counter's page still comes in reading order without a sort"
    )
    func kanaIndexMemberIDSecond() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let file = try FeedFiles.write(dir, "members.csv", [FeedFiles.memberHeader] + (1...30).map { FeedFiles.member("M\($0)") })
        let r = try runKakunin(["import", "members", file.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("keys and indexes"), "a first load, which builds the index again: \(r.stdout)")
        let db = try tdb.connect()
        let definition = try db.query("SELECT pg_get_indexdef('member_kana'::regclass)").scalar ?? ""
        #expect(definition.hasSuffix("COLLATE \"C\", member_id, insurer_number)"), "\(definition)")
        try db.execute("SET enable_seqscan = off")
        let kana = "((coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE \"C\")"
        let plan = try db.query(
            """
            EXPLAIN SELECT member_id FROM member WHERE insurer_number = '131016' AND \(kana) >= 'ア' AND \(kana) < 'ン'
              AND (\(kana), member_id COLLATE "C") > ('アオキ' COLLATE "C", 'M1' COLLATE "C")
            ORDER BY \(kana), member_id COLLATE "C" LIMIT 50
            """
        ).rows.map { $0[0] ?? "" }.joined(separator: "\n")
        #expect(plan.contains("member_kana") && !plan.contains("Sort"), "in reading order without a sort: \(plan)")
    }

    @Test(
        "a first load builds its primary key and kana index with one parallel worker (sql/049), set inside the import's transaction only; the indexes come back whole"
    )
    func firstLoadIndexWorkers() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let before = try db.query("SHOW max_parallel_maintenance_workers").scalar
        #expect(before != "1", "the server's default is not already one worker: \(before ?? "nil")")
        try db.execute("BEGIN")
        #expect(try db.query("SELECT member_bulk_load_begin()").scalar == "t")
        #expect(try db.query("SELECT count(*) FROM pg_index WHERE indrelid = 'member'::regclass").scalar == "0")
        try db.execute("SELECT member_bulk_load_end()")
        #expect(try db.query("SHOW max_parallel_maintenance_workers").scalar == "1")
        #expect(
            try db.query(
                "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'member'::regclass"
            ).scalar
                == "member_kana,member_pkey")
        try db.execute("COMMIT")
        #expect(try db.query("SHOW max_parallel_maintenance_workers").scalar == before)
    }

    @Test("a wrong header refuses the file as a whole, saying what was expected; exit 20")
    func wrongHeader() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let header = FeedFiles.memberHeader.replacingOccurrences(of: "copay_ratio", with: "copay")
        let file = try FeedFiles.write(dir, "members.csv", [header, FeedFiles.member("M1")])
        let r = try runKakunin(["import", "members", file.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 20)
        #expect(r.stderr.contains("missing column(s) copay_ratio; unexpected column(s) 'copay' (did you mean copay_ratio?)"))
        #expect(r.stderr.contains("Expected the header row: insurer_number,member_id,scheme"))
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member").scalar == "0")
        #expect(try db.query("SELECT status FROM import").scalar == "refused")
    }

    @Test("a Shift_JIS file is refused as not UTF-8, with the conversion to run")
    func notUTF8() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        var bytes = Array((FeedFiles.memberHeader + "\n").utf8)
        let row = FeedFiles.member("M1").replacingOccurrences(of: "山田", with: "YAMADA")
        bytes += Array(row.utf8)
        bytes += [0x8E, 0x52, 0x93, 0x63, 0x0A]  // 山田 in Shift_JIS, inside the last field
        let file = dir.appendingPathComponent("sjis.csv")
        try Data(bytes).write(to: file)
        let r = try runKakunin(["import", "members", file.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 20)
        #expect(r.stderr.contains("not UTF-8"))
        #expect(r.stderr.contains("iconv -f CP932 -t UTF-8"))
        #expect(try tdb.connect().query("SELECT count(*) FROM member").scalar == "0")
    }

    @Test("an Individual Number column or value refuses the file, names the column, stores nothing of it")
    func individualNumber() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        // By header.
        let h = try FeedFiles.write(dir, "h.csv", [FeedFiles.memberHeader + ",my_number", FeedFiles.member("M1") + ",123456789012"])
        let r1 = try runKakunin(["import", "members", h.path, "--report-dir", dir.path], database: tdb)
        #expect(r1.status == 20)
        #expect(r1.stderr.contains("column 'my_number' is an Individual Number"))
        // By value, hidden in an ordinary column, grouped 4-4-4.
        let v = try FeedFiles.write(
            dir, "v.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("M1"),
                FeedFiles.member("M2", ["address_extra": "1234-5678-9012"]),
            ])
        let r2 = try runKakunin(["import", "members", v.path, "--report-dir", dir.path], database: tdb)
        #expect(r2.status == 20)
        #expect(r2.stderr.contains("column 'address_extra' holds a value that looks like a 12-digit Individual Number"))
        #expect(r2.stderr.contains("line 3"))
        #expect(!r2.stderr.contains("1234-5678-9012") && !r2.stdout.contains("1234-5678-9012"))
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM import_reject").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM import WHERE status = 'refused'").scalar == "2")
        let stored = try db.query(
            "SELECT count(*) FROM audit_event WHERE details::text LIKE '%123456789012%' OR details::text LIKE '%1234-5678-9012%'")
        #expect(stored.scalar == "0")
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasPrefix("import-") {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            #expect(!text.contains("123456789012") && !text.contains("1234-5678-9012"), "\(f)")
        }
    }

    @Test("a key twice in one file rejects every copy; Myna rows for unknown members are rejected")
    func duplicatesAndUnknownMembers() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2"),
                FeedFiles.member("M1", ["address": "別の住所"]),
            ])
        let r = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 10)
        #expect(r.stdout.contains("loaded:    1 (inserted 1"))
        #expect(r.stdout.contains("the same key (insurer_number, member_id) appears on lines 2, 4"))
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                FeedFormat.mynaStatus.columns.filter { !$0.optional }.map(\.name).joined(separator: ","),
                "131016,M2,2026-11-01,true,registered,active,2030-01-31,2034-01-31",
                "131016,M9,2026-11-01,false,,none,,",
                "131016,M2,2026-10-01,false,,active,,",
            ])
        let r2 = try runKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb)
        #expect(r2.status == 10)
        #expect(r2.stdout.contains("line 3, column member_id, value \"M9\", member M9: unknown member"))
        #expect(
            r2.stdout.contains(
                "line 4, column card_state, value \"active\", member M2: card_state must be none or returned when has_card is false"))
        #expect(try tdb.connect().query("SELECT count(*) FROM myna_status").scalar == "1")
    }

    @Test("applications: a special-consideration application without basis is recorded as rejected with NO_BASIS")
    func applications() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2")])
        _ = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        let a = try FeedFiles.write(
            dir, "a.csv",
            [
                FeedFormat.applications.columns.map(\.name).joined(separator: ","),
                "131016,M1,special_consideration,2026-11-01,,approved",
                "131016,M2,special_consideration,2026-11-02,disability,approved",
                "131016,M2,card_lost,2026-11-03,elderly,approved",
            ])
        let r = try runKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 10)
        #expect(r.stdout.contains("basis applies only to special_consideration applications"))
        let rows = try tdb.connect().query("SELECT member_id, kind, status, reject_reason FROM application ORDER BY member_id").rows
        #expect(rows == [["M1", "special_consideration", "rejected", "NO_BASIS"], ["M2", "special_consideration", "approved", nil]])
    }

    @Test(
        "applications: the 2026 bases care_need, guardianship and facility load and are stored; an unknown basis is rejected with line, column and reason"
    )
    func applicationBases2026() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + ["M1", "M2", "M3", "M4"].map { FeedFiles.member($0) })
        _ = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        let a = try FeedFiles.write(
            dir, "a.csv",
            [
                FeedFormat.applications.columns.map(\.name).joined(separator: ","),
                "131016,M1,special_consideration,2026-11-01,care_need,approved",  // line 2
                "131016,M2,special_consideration,2026-11-02,guardianship,pending",  // line 3
                "131016,M3,special_consideration,2026-11-03,facility,approved",  // line 4
                "131016,M4,special_consideration,2026-11-04,hospital,approved",  // line 5
            ])
        let r = try runKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("loaded:    3"), "\(r.stdout)")
        #expect(
            r.stdout.contains(
                "line 5, column basis, value \"hospital\", member M4: unknown value; expected one of elderly, disability, needs_helper, care_need, guardianship, facility, other"
            ),
            "\(r.stdout)")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT member_id, basis, status, reject_reason FROM application ORDER BY member_id").rows
                == [["M1", "care_need", "approved", nil], ["M2", "guardianship", "pending", nil], ["M3", "facility", "approved", nil]])
        // The database's own check (sql/029) takes the new bases and still refuses another value.
        #expect(throws: (any Error).self) {
            try db.execute(
                """
                INSERT INTO application (insurer_number, member_id, kind, received_on, basis, status, source)
                VALUES ('131016', 'M4', 'special_consideration', '2026-11-05', 'hospital', 'approved', 'staff')
                """)
        }
        // The run issues on an approved application with a new basis.
        let night = try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir)
        #expect(night.status == 0, "\(night.stdout)\(night.stderr)")
        let d = try NightlyRunTests().decisions(tdb, run: 1)
        #expect(d["M1"]?[0...1] == ["issue_on_application", "APP_SPECIAL_CONSIDERATION"], "\(d["M1"] ?? [])")
        #expect(d["M3"]?[0...1] == ["issue_on_application", "APP_SPECIAL_CONSIDERATION"], "\(d["M3"] ?? [])")
    }

    @Test("applications: one the insurer rejected in its own system is stored rejected with REJECTED_BY_INSURER")
    func applicationRejectedByInsurer() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1")])
        _ = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        let a = try FeedFiles.write(
            dir, "a.csv",
            [
                FeedFormat.applications.columns.map(\.name).joined(separator: ","),
                "131016,M1,card_lost,2026-11-01,,rejected",
                "131016,M1,special_consideration,2026-11-02,disability,pending",
            ])
        let r = try runKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let rows = try tdb.connect().query("SELECT kind, status, reject_reason, basis FROM application ORDER BY received_on").rows
        #expect(rows == [["card_lost", "rejected", "REJECTED_BY_INSURER", nil], ["special_consideration", "pending", nil, "disability"]])
    }

    @Test("a file that cannot be read is refused with the reason")
    func missingFile() throws {
        let tdb = try TestDatabase()
        let r = try runKakunin(["import", "members", "/nonexistent/members.csv"], database: tdb)
        #expect(r.status == 20)
        #expect(r.stderr.contains("cannot read /nonexistent/members.csv: No such file or directory"))
    }

    /// Every member column, in key order, for comparing two databases.
    static func stored(_ db: Connection) throws -> [[String?]] {
        let cols = FeedFormat.members.columns.map(\.name).joined(separator: ", ")
        return try db.query("SELECT \(cols), encode(row_digest, 'hex') FROM member ORDER BY insurer_number, member_id").rows
    }

    @Test("records validated on several threads come back in file order: rejects, duplicates and rows across many batches")
    func manyBatches() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        // 3,000 rows: several batches of 512 per worker. Bad rows and a duplicated key lie in
        // different batches.
        var lines = [FeedFiles.memberHeader] + (1...3000).map { FeedFiles.member("M\($0)") }
        lines[2] = FeedFiles.member("M2", ["birth_date": "1980-02-30"])  // line 3
        lines[1100] = FeedFiles.member("M1100", ["sex": "3"])  // line 1101
        lines[2600] = FeedFiles.member("M7")  // line 2601: M7 again
        lines[3000] = FeedFiles.member("M3000", ["scheme": "nhi2"])  // line 3001, the last
        let file = try FeedFiles.write(dir, "members.csv", lines)
        let reports = dir.appendingPathComponent("reports")
        let r = try runKakunin(["import", "members", file.path, "--report-dir", reports.path], database: tdb)
        #expect(r.status == 10, "\(r.stderr)")
        #expect(r.stdout.contains("rows read: 3000"))
        #expect(r.stdout.contains("loaded:    2995 (inserted 2995, updated 0, unchanged 0)"), "\(r.stdout)")
        let rejects = try csvRows(String(contentsOf: reports.appendingPathComponent("import-1-members.rejects.csv"), encoding: .utf8))
        #expect(
            rejects.dropFirst().map { [$0[0], $0[1], $0[4]] } == [
                ["3", "birth_date", "M2"], ["8", "member_id", "M7"], ["1101", "sex", "M1100"],
                ["2601", "member_id", "M7"], ["3001", "scheme", "M3000"],
            ])
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM member").scalar == "2995")
        #expect(try db.query("SELECT count(*) FROM member WHERE member_id IN ('M2', 'M7', 'M1100', 'M3000')").scalar == "0")

        // A value that looks like an Individual Number in the last batch refuses the whole file.
        var refused = lines
        refused[2999] = FeedFiles.member("M2999", ["address_extra": "123456789018"])
        let bad = try FeedFiles.write(dir, "refused.csv", refused)
        let rr = try runKakunin(["import", "members", bad.path, "--report-dir", reports.path], database: tdb)
        #expect(rr.status == 20, "\(rr.stderr)")
        #expect(rr.stderr.contains("column 'address_extra'") && rr.stderr.contains("at line 3000"), "\(rr.stderr)")
        #expect(try db.query("SELECT count(*), max(updated_by_import) FROM member").rows == [["2995", "1"]])
    }

    /// 3,000 members, and the same with M1 (the first row), M1500 and M3000 (the last) changed.
    static func threeThousandMembersThreeChanged() -> ([String], [String]) {
        let v1 = [FeedFiles.memberHeader] + (1...3000).map { FeedFiles.member("M\($0)") }
        var v2 = v1
        v2[1] = FeedFiles.member("M1", ["address": "大阪府大阪市北区梅田1丁目"])
        v2[1500] = FeedFiles.member("M1500", ["family_name_kana": "ヤマモト", "copay_ratio": "20"])
        v2[3000] = FeedFiles.member("M3000", ["disqualified_on": "2026-03-31"])
        return (v1, v2)
    }

    /// More members stored than a re-import holds in memory: the keys and digests are staged
    /// and compared in the server (a debug build's limit set to 0).
    static let stagedComparison = ["KAKUNIN_TEST_DIGEST_LIMIT": "0"]

    @Test(
        "a re-import with more members stored than memory holds compares staged keys and digests first, then reads only the new and changed rows again"
    )
    func changedRowsReadAgain() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let (v1, changed) = Self.threeThousandMembersThreeChanged()
        var v2 = changed
        v2.insert(FeedFiles.member("N1"), at: 700)  // new, line 701
        v2.insert(FeedFiles.member("N2", ["address_extra": "タワー\\2棟"]), at: 2200)  // new, with a backslash
        v2.insert(FeedFiles.member("N3", ["sex": "4"]), at: 2500)  // new but bad
        let f1 = try FeedFiles.write(dir, "v1.csv", v1)
        let f2 = try FeedFiles.write(dir, "v2.csv", v2)
        let reports = dir.appendingPathComponent("reports")
        #expect(try runKakunin(["import", "members", f1.path, "--report-dir", reports.path], database: tdb).status == 0)
        let r = try runKakunin(
            ["import", "members", f2.path, "--report-dir", reports.path], database: tdb, environment: Self.stagedComparison)
        #expect(r.status == 10, "\(r.stderr)")
        #expect(r.stdout.contains("loaded:    3002 (inserted 2, updated 3, unchanged 2997)"), "\(r.stdout)")
        #expect(r.stdout.contains("changed rows"), "\(r.stdout)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT member_id FROM member_history ORDER BY member_id").rows == [["M1"], ["M1500"], ["M3000"]])
        // The file's hash and size are those of one reading.
        let data = try Data(contentsOf: f2)
        #expect(
            try db.query(
                """
                SELECT file_sha256 = encode(sha256(decode($1, 'base64')), 'hex'), file_bytes FROM import WHERE import_id = 2
                """, [data.base64EncodedString()]
            ).rows == [["t", String(data.count)]])
        // The same as loading v2 into an empty database.
        let fresh = try TestDatabase()
        #expect(try runKakunin(["import", "members", f2.path, "--report-dir", reports.path], database: fresh).status == 10)
        #expect(try Self.stored(db) == Self.stored(try fresh.connect()))

        // Nothing changed: the second reading does not happen.
        let again = try runKakunin(
            ["import", "members", f2.path, "--report-dir", reports.path], database: tdb, environment: Self.stagedComparison)
        #expect(again.stdout.contains("loaded:    3002 (inserted 0, updated 0, unchanged 3002)"), "\(again.stdout)")
        #expect(!again.stdout.contains("changed rows"), "\(again.stdout)")
    }

    @Test(
        "a re-import compares each row's digest with the stored ones in memory and sends only new and changed members: the same members, history, rejects and summary as the staged comparison"
    )
    func changedRowsComparedInMemory() throws {
        let dir = try temporaryDirectory()
        let (v1, changed) = Self.threeThousandMembersThreeChanged()
        var v2 = changed
        v2[2000] = FeedFiles.member("M10", ["postal_code": "5300001"])  // M10 twice: changed here (line 2003)
        v2[2001] = FeedFiles.member("M20")  // M20 twice, unchanged both times (line 2004)
        v2[2002] = FeedFiles.member("M2002", ["sex": "4"])  // bad (line 2005)
        v2.insert(FeedFiles.member("N1"), at: 700)  // new, line 701
        v2.insert(FeedFiles.member("N1", ["given_name": "次郎"]), at: 900)  // new twice, line 901
        v2.insert(FeedFiles.member("N2", ["address_extra": "タワー\\2棟"]), at: 2200)  // new, with a backslash
        v2.append(FeedFiles.member("M5", ["insurer_number": "131024"]))  // another insurer's (new), line 3005
        let f1 = try FeedFiles.write(dir, "v1.csv", v1)
        let f2 = try FeedFiles.write(dir, "v2.csv", v2)
        let reports = dir.appendingPathComponent("reports")
        var outcomes: [[String]] = []
        for environment in [[:], Self.stagedComparison] {
            let tdb = try TestDatabase()
            #expect(try runKakunin(["import", "members", f1.path, "--report-dir", reports.path], database: tdb).status == 0)
            let r = try runKakunin(["import", "members", f2.path, "--report-dir", reports.path], database: tdb, environment: environment)
            #expect(r.status == 10, "\(r.stderr)")
            #expect(r.stdout.contains("loaded:    2997 (inserted 2, updated 3, unchanged 2992)"), "\(r.stdout)")
            #expect(r.stdout.contains(environment.isEmpty ? "stream changed" : "stream keys"), "\(r.stdout)")
            let db = try tdb.connect()
            let history = try db.query("SELECT member_id, changed_columns::text FROM member_history ORDER BY member_id").rows
            #expect(history == [["M1", "{address}"], ["M1500", "{copay_ratio,family_name_kana}"], ["M3000", "{disqualified_on}"]])
            let rejects = try db.query(
                "SELECT line, column_name, value, reason, member_id FROM import_reject WHERE import_id = 2 ORDER BY line, column_name")
            #expect(rejects.rows.map { $0[0]! } == ["11", "21", "701", "901", "2003", "2004", "2005"], "\(rejects.rows)")
            let twice = "the same key (insurer_number, member_id) appears on lines"
            #expect(rejects.rows.map { $0[3]! }.filter { $0.hasPrefix(twice) }.count == 6)
            #expect(rejects.rows[0][3] == "\(twice) 11, 2003; fix the extract so it appears once")
            #expect(rejects.rows[1][3] == "\(twice) 21, 2004; fix the extract so it appears once")
            #expect(rejects.rows[3][3] == "\(twice) 701, 901; fix the extract so it appears once")
            outcomes.append(
                [r.stdout.split(separator: "\n").filter { !$0.contains("took") && !$0.contains("file") }.joined(separator: "\n")]
                    + (try Self.stored(db)).map { $0.map { $0 ?? "∅" }.joined(separator: "|") }
                    + rejects.rows.map { $0.map { $0 ?? "∅" }.joined(separator: "|") })
        }
        #expect(outcomes[0] == outcomes[1])
    }

    @Test("a file rewritten between the two readings is refused, and nothing of it is stored")
    func fileRewrittenBetweenReadings() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let v1 = [FeedFiles.memberHeader] + (1...50).map { FeedFiles.member("M\($0)") }
        var v2 = v1
        v2[10] = FeedFiles.member("M10", ["postal_code": "5300001"])
        let file = try FeedFiles.write(dir, "members.csv", v1)
        let reports = dir.appendingPathComponent("reports")
        #expect(try runKakunin(["import", "members", file.path, "--report-dir", reports.path], database: tdb).status == 0)
        _ = try FeedFiles.write(dir, "members.csv", v2)
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let running = try startKakunin(
            ["import", "members", file.path, "--report-dir", reports.path], database: tdb,
            environment: Self.stagedComparison.merging(["KAKUNIN_PAUSE_AT": "import:merge", "KAKUNIN_PAUSE_FILE": gate.path]) { a, _ in a })
        #expect(eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        // Overwritten in place while the import waits between its two readings.
        v2[10] = FeedFiles.member("M10", ["postal_code": "9000001"])
        let handle = try FileHandle(forWritingTo: file)
        try handle.write(contentsOf: Data(v2.joined(separator: "\n").appending("\n").utf8))
        try handle.close()
        try FileManager.default.removeItem(at: gate)
        let r = running.wait()
        #expect(r.status == 20, "\(r.stderr)")
        #expect(r.stderr.contains("the file changed while it was being imported"), "\(r.stderr)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT postal_code FROM member WHERE member_id = 'M10'").scalar == "1000001")
        #expect(try db.query("SELECT status FROM import WHERE import_id = 2").scalar == "failed")
        #expect(try db.query("SELECT count(*) FROM member_history").scalar == "0")
    }
}

/// Parses CSV text for assertions (RFC 4180: quotes, doubled quotes, embedded newlines); a
/// leading byte-order mark (files for staff have one) is skipped.
func csvRows(_ text: String) throws -> [[String]] {
    let text = text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var quoted = false
    var it = Array(text).makeIterator()
    var pending: Character? = nil
    while let c = pending ?? it.next() {
        pending = nil
        if quoted {
            if c == "\"" {
                if let n = it.next() {
                    if n == "\"" {
                        field.append("\"")
                    } else {
                        quoted = false
                        pending = n
                    }
                } else {
                    quoted = false
                }
            } else {
                field.append(c)
            }
        } else if c == "\"" {
            quoted = true
        } else if c == "," {
            row.append(field)
            field = ""
        } else if c == "\n" {
            row.append(field)
            rows.append(row)
            row = []
            field = ""
        } else {
            field.append(c)
        }
    }
    if !field.isEmpty || !row.isEmpty {
        row.append(field)
        rows.append(row)
    }
    return rows
}
