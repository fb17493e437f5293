import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 31 [2026-12]: the establishments feed (SPEC.md 4), imported through the CLI like the
/// other feeds.
@Suite("establishments.csv through the CLI")
struct EstablishmentsFeedTests {
    static let header = FeedFormat.establishments.columns.map(\.name).joined(separator: ",")

    /// A valid establishment row; fields overridden by column name.
    static func row(_ id: String, _ overrides: [String: String] = [:]) -> String {
        var f: [String: String] = [
            "insurer_number": "06131016", "establishment_id": id, "name": "株式会社かくにん製作所",
            "postal_code": "1000005", "address": "東京都千代田区丸の内1丁目1番1号", "address_extra": "丸の内ビル3階",
            "contact": "人事部 健康保険担当",
        ]
        for (k, v) in overrides { f[k] = v }
        return FeedFormat.establishments.columns.map { FeedFiles.quote(f[$0.name] ?? "") }.joined(separator: ",")
    }

    func importFile(_ tdb: TestDatabase, _ dir: URL, _ name: String, _ lines: [String]) throws -> CommandResult {
        let file = try FeedFiles.write(dir, name, lines)
        return try runKakunin(
            ["import", "establishments", file.path, "--report-dir", dir.appendingPathComponent("r").path],
            database: tdb)
    }

    @Test(
        "rows load (an address may be blank); the same file again changes nothing; a change is kept in establishment_history with its import"
    )
    func loadMergeHistory() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let v1 = [
            Self.header, Self.row("E001"), Self.row("E002", ["name": "丸の内商事", "postal_code": "", "address": "", "address_extra": ""]),
        ]
        var r = try importFile(tdb, dir, "v1.csv", v1)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("loaded:    2 (inserted 2, updated 0, unchanged 0)"), "\(r.stdout)")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT establishment_id, name, address, contact FROM establishment ORDER BY 1").rows
                == [
                    ["E001", "株式会社かくにん製作所", "東京都千代田区丸の内1丁目1番1号", "人事部 健康保険担当"],
                    ["E002", "丸の内商事", nil, "人事部 健康保険担当"],
                ])
        r = try importFile(tdb, dir, "v1.csv", v1)
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 0, unchanged 2)"), "\(r.stdout)")
        #expect(try db.query("SELECT count(*) FROM establishment_history").scalar == "0")
        // E002 gets its address; E003 is new; E001 is left out of the file and stays.
        let v2 = [Self.header, Self.row("E002", ["name": "丸の内商事", "contact": "総務課"]), Self.row("E003")]
        r = try importFile(tdb, dir, "v2.csv", v2)
        #expect(r.stdout.contains("loaded:    2 (inserted 1, updated 1, unchanged 0)"), "\(r.stdout)")
        let h = try db.query(
            """
            SELECT h.establishment_id, h.changed_columns::text, h.old_values->>'address', h.new_values->>'address',
                   h.old_values->>'contact', h.new_values->>'contact', i.file_name LIKE '%v2.csv'
            FROM establishment_history h JOIN import i USING (import_id)
            """
        ).rows
        #expect(
            h == [
                [
                    "E002", "{address,address_extra,contact,postal_code}", nil, "東京都千代田区丸の内1丁目1番1号",
                    "人事部 健康保険担当", "総務課", "t",
                ]
            ])
        #expect(try db.query("SELECT count(*) FROM establishment").scalar == "3")
        #expect(try db.query("SELECT feed FROM import ORDER BY import_id DESC LIMIT 1").scalar == "establishments")
    }

    @Test("bad rows are rejected with line, column and reason (establishment id in the rejects file); the good rows still load")
    func rejects() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let lines = [
            Self.header,
            Self.row("E001"),  // line 2: good
            Self.row("E002", ["name": ""]),  // line 3: name required
            Self.row("事業所3"),  // line 4: not an identifier
            Self.row("E004", ["insurer_number": "12"]),  // line 5
            Self.row("E005"),  // line 6: twice
            Self.row("E005", ["contact": "総務"]),  // line 7
            Self.row("E008", ["name": String(repeating: "株", count: 101)]),
        ]  // line 8
        let r = try importFile(tdb, dir, "bad.csv", lines)
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT establishment_id FROM establishment").rows == [["E001"]])
        let rejects = try db.query("SELECT line::text, column_name, member_id FROM import_reject ORDER BY line").rows
        #expect(
            rejects == [
                ["3", "name", "E002"], ["4", "establishment_id", "事業所3"], ["5", "insurer_number", "E004"],
                ["6", "establishment_id", "E005"], ["7", "establishment_id", "E005"], ["8", "name", "E008"],
            ])
        let file = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("r").path)
                .first { $0.hasSuffix("rejects.csv") })
        let text = try String(contentsOf: dir.appendingPathComponent("r").appendingPathComponent(file), encoding: .utf8)
        #expect(text.contains("line,column,value,reason,establishment_id\n"))
        #expect(text.contains("the same key (insurer_number, establishment_id) appears on lines 6, 7"))
    }

    @Test("an Individual Number column or value refuses the whole file and stores nothing")
    func individualNumber() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        var r = try importFile(tdb, dir, "h.csv", [Self.header + ",個人番号", Self.row("E001") + ",123456789018"])
        #expect(r.status == 20)
        #expect(r.stderr.contains("is an Individual Number (個人番号) column"), "\(r.stderr)")
        r = try importFile(tdb, dir, "v.csv", [Self.header, Self.row("E001"), Self.row("E002", ["contact": "1234 5678 9018"])])
        #expect(r.status == 20)
        #expect(r.stderr.contains("column 'contact' holds a value that looks like a 12-digit Individual Number"), "\(r.stderr)")
        #expect(!r.stderr.contains("1234 5678 9018") && !r.stdout.contains("1234 5678 9018"))
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM establishment").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM import WHERE status = 'refused' AND feed = 'establishments'").scalar == "2")
    }

    @Test("a file that is not an establishments feed (a members file) is refused as a whole, naming the expected header")
    func wrongHeader() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let r = try importFile(tdb, dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("M1")])
        #expect(r.status == 20)
        #expect(
            r.stderr.contains("this is not a establishments feed") || r.stderr.contains("this is not an establishments feed"), "\(r.stderr)"
        )
        #expect(r.stderr.contains("Expected the header row: \(Self.header)"))
        #expect(try tdb.connect().query("SELECT count(*) FROM establishment").scalar == "0")
    }
}
