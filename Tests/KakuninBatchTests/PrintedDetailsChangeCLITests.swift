import Foundation
import KakuninTesting
import Testing

/// Issue 29 item 9 (SPEC.md 2.5 "Printed details change" [2026-12]) through the CLI over nights:
/// a changed printed detail is reissued once, the old certificate voided and linked; within the
/// mailing horizon the ordinary renewal serves instead.
@Suite("Printed details change over several nights", .serialized)
struct PrintedDetailsChangeCLITests {
    static let all = FeedFiles.allMemberColumns
    /// A, B, C: nhi, no Myna status on file, so each gets a certificate on the first night. B has 限度区分 区ア.
    static func members(_ edit: [String: [String: String]] = [:]) -> [String] {
        var rows: [String: [String: String]] = ["A": [:], "B": ["limit_category": "区ア"], "C": [:]]
        for (k, v) in edit { rows[k]!.merge(v) { $1 } }
        return [FeedFiles.fullMemberHeader] + rows.keys.sorted().map { FeedFiles.member($0, rows[$0]!, columns: all) }
    }

    /// Imports `lines` as a members file.
    static func load(_ tdb: TestDatabase, _ dir: URL, _ name: String, _ lines: [String]) throws {
        let r = try runKakunin(["import", "members", try FeedFiles.write(dir, name, lines).path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test(
        "a name and a 限度区分 changed between nights: one replacement each to the same end, the old one voided and linked, then nothing; near the end the ordinary renewal serves"
    )
    func nights() throws {
        let (tdb, dir) = (try TestDatabase(), try temporaryDirectory())
        let out = dir.appendingPathComponent("out")
        func load(_ name: String, _ lines: [String]) throws { try Self.load(tdb, dir, name, lines) }
        try load("m1.csv", Self.members())
        let runner = NightlyRunTests()
        func night(_ asOf: String, _ run: Int) throws -> [String: [String]] {
            let r = try nightly(tdb, asOf, out: out, params: dir)
            #expect(r.status == 0, "\(asOf): \(r.stdout)\(r.stderr)")
            return try runner.decisions(tdb, run: run)
        }
        let db = try tdb.connect()
        func certificates(_ member: String) throws -> [[String?]] {
            try db.query(
                """
                SELECT certificate_number::text, valid_from::text, valid_to::text, status, void_reason, replaces_certificate_number::text,
                       printed_snapshot IS NOT NULL
                FROM certificate WHERE member_id = $1 ORDER BY certificate_number
                """, [member]
            )
            .rows
        }

        var d = try night("2026-11-21", 1)
        for m in ["A", "B", "C"] {
            #expect(d[m]?[0...3] == ["issue", "MYNA_STATUS_UNKNOWN", "2026-11-21", "2027-07-31"], "\(m): \(d[m] ?? [])")
        }
        let oldA = try certificates("A")[0][0]!
        let oldB = try certificates("B")[0][0]!
        d = try night("2026-11-22", 2)
        for m in ["A", "B", "C"] { #expect(d[m]?[0...1] == ["none", "COVERED"], "\(m): \(d[m] ?? [])") }

        // A's name and B's 限度区分 change; C's address (not printed on the certificate) too.
        try load(
            "m2.csv",
            Self.members([
                "A": ["family_name": "佐藤"], "B": ["limit_category": "区イ"],
                "C": ["address": "東京都千代田区千代田2丁目2番2号"],
            ]))
        d = try night("2026-11-23", 3)
        for m in ["A", "B"] {
            #expect(d[m]?[0...3] == ["renew", "PRINTED_DETAILS_CHANGED", "2026-11-23", "2027-07-31"], "\(m): \(d[m] ?? [])")
        }
        #expect(d["C"]?[0...1] == ["none", "COVERED"], "\(d["C"] ?? [])")
        let a = try certificates("A")
        #expect(a.count == 2)
        #expect(a[0][3] == "voided" && a[0][4] == "replaced by certificate \(a[1][0]!)", "\(a)")
        #expect(a[1][1...6] == ["2026-11-23", "2027-07-31", "active", nil, oldA, "t"], "\(a)")
        #expect(try certificates("B")[1][5] == oldB)
        let files = MailFilesTests().csvRecords(
            try String(
                contentsOf: out.appendingPathComponent("131016/2026-11-23/nightly/certificates.csv"),
                encoding: .utf8))
        #expect(
            files.map { [$0["member_id"]!, $0["family_name"]!, $0["limit_category"]!, $0["replaces_certificate_number"]!] }
                == [["A", "佐藤", "＊", oldA], ["B", "山田", "区イ", oldB]])
        // explain names the field that changed, not its value.
        let e = try runKakunin(["explain", "--member", "B", "--run", "3"], database: tdb)
        #expect(e.status == 0 && e.stdout.contains("(limit_category)") && !e.stdout.contains("区イ"), "\(e.stdout)\(e.stderr)")
        // The report counts them among the changes since the previous run.
        let report = try runKakunin(["report", "--run", "3", "--out", out.path], database: tdb)
        #expect(report.stdout.contains("PRINTED_DETAILS_CHANGED"), "\(report.stdout)")
        #expect(report.stdout.contains("members whose outcome changed: 2"), "\(report.stdout)")

        // Reissued once, not every night.
        d = try night("2026-11-24", 4)
        for m in ["A", "B", "C"] { #expect(d[m]?[0...1] == ["none", "COVERED"], "\(m): \(d[m] ?? [])") }

        // Within the mailing horizon of the end (07-31 + 1 ≤ 06-22 + 40): the ordinary renewal.
        try load("m3.csv", Self.members(["A": ["family_name": "佐藤"], "B": ["limit_category": "区イ"], "C": ["given_name": "次郎"]]))
        d = try night("2027-06-21", 5)
        #expect(
            d["C"]?[0...3] == ["renew", "PRINTED_DETAILS_CHANGED", "2027-06-21", "2027-07-31"],
            "the day before the horizon reaches the end: \(d["C"] ?? [])")
        try load("m4.csv", Self.members(["A": ["family_name": "佐藤"], "B": ["limit_category": "区ウ"], "C": ["given_name": "次郎"]]))
        d = try night("2027-06-22", 6)
        #expect(d["B"]?[0...3] == ["renew", "MYNA_STATUS_UNKNOWN", "2027-08-01", "2028-07-31"], "\(d["B"] ?? [])")
        #expect(try certificates("B").filter { $0[3] == "active" }.count == 2, "the ordinary renewal voids nothing")

        let replay = try runKakunin(["replay", "--run", "3"], database: tdb)
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
    }

    @Test(
        "the run's COPY of its certificates meets no row trigger before INSERT (PostgreSQL then inserts one row at a time); the counter's snapshot comes from the column's default (sql/037)"
    )
    func noRowTriggerBeforeCertificateInsert() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        defer { withExtendedLifetime(tdb) {} }
        // tgtype bits: 1 row, 2 before, 4 insert.
        let triggers = try db.query(
            """
            SELECT tgname FROM pg_trigger WHERE tgrelid = 'kakunin.certificate'::regclass AND NOT tgisinternal AND tgtype & 7 = 7
            """
        ).rows
        #expect(triggers.isEmpty, "\(triggers)")
        let fallback = try db.query(
            """
            SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
            JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            WHERE d.adrelid = 'kakunin.certificate'::regclass AND a.attname = 'printed_snapshot'
            """
        ).scalar
        #expect(fallback?.hasSuffix("counter_printed_snapshot()") == true, "\(fallback ?? "no default")")
    }

    @Test("a certificate handed over at the counter keeps its printed snapshot: a later change of 特定疾病区分 replaces it the next night, once")
    func counterCertificate() throws {
        let (tdb, dir) = (try TestDatabase(), try temporaryDirectory())
        let out = dir.appendingPathComponent("out")
        func load(_ name: String, _ lines: [String]) throws { try Self.load(tdb, dir, name, lines) }
        try load("m1.csv", Self.members())
        let issued = try runKakunin(["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"], database: tdb)
        #expect(issued.status == 0, "\(issued.stdout)\(issued.stderr)")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT run_id IS NULL, octet_length(printed_snapshot) FROM certificate WHERE member_id = 'A'").rows == [
                ["t", "48"]
            ])
        try load("m2.csv", Self.members(["A": ["specific_disease": "B"]]))
        var r = try nightly(tdb, "2026-11-22", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let d = try NightlyRunTests().decisions(tdb, run: 1)
        #expect(d["A"]?[0...3] == ["renew", "PRINTED_DETAILS_CHANGED", "2026-11-22", "2027-07-31"], "\(d["A"] ?? [])")
        #expect(
            try db.query("SELECT status FROM certificate WHERE member_id = 'A' ORDER BY certificate_number").rows.map { $0[0] } == [
                "voided", "active",
            ])
        r = try nightly(tdb, "2026-11-23", out: out, params: dir)
        #expect(try NightlyRunTests().decisions(tdb, run: 2)["A"]?[0...1] == ["none", "COVERED"])
    }
}
