import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 29 item 7: the optional columns of members.csv (SPEC.md 4 [2026-12]), through the CLI.
@Suite("Optional members.csv columns through the CLI")
struct OptionalMemberColumnsTests {
    static let optional = [
        "copay_effective_on", "special_care", "limit_category", "limit_effective_on", "long_stay_on",
        "specific_disease", "establishment_id", "voluntary_continuation",
    ]

    func importMembers(_ tdb: TestDatabase, _ dir: URL, _ name: String, _ lines: [String]) throws -> CommandResult {
        let file = try FeedFiles.write(dir, name, lines)
        return try runKakunin(["import", "members", file.path, "--report-dir", dir.appendingPathComponent("r").path], database: tdb)
    }

    func stored(_ db: Connection) throws -> [[String?]] {
        try db.query("SELECT member_id, \(Self.optional.map { "\($0)::text" }.joined(separator: ", ")) FROM member ORDER BY member_id").rows
    }

    @Test(
        "every optional column loads on the first load and in the merge; blank is none; the same file again changes nothing; a change is kept in history"
    )
    func loadMergeHistory() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let all = FeedFiles.allMemberColumns
        let m1: [String: String] = [
            "copay_effective_on": "2026-08-01", "limit_category": "区オ（境）", "limit_effective_on": "2026-04-01",
            "long_stay_on": "2026-02-10", "specific_disease": "A", "special_care": "true",
        ]
        let m2: [String: String] = ["scheme": "employee", "establishment_id": "E00042", "voluntary_continuation": "false"]
        let v1 = [
            FeedFiles.fullMemberHeader, FeedFiles.member("M1", m1, columns: all), FeedFiles.member("M2", m2, columns: all),
            FeedFiles.member("M3", [:], columns: all),
        ]
        var r = try importMembers(tdb, dir, "v1.csv", v1)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let db = try tdb.connect()
        let expected: [[String?]] = [
            ["M1", "2026-08-01", "true", "区オ（境）", "2026-04-01", "2026-02-10", "A", nil, nil],
            ["M2", nil, nil, nil, nil, nil, nil, "E00042", "false"],
            ["M3", nil, nil, nil, nil, nil, nil, nil, nil],
        ]
        #expect(try stored(db) == expected)
        r = try importMembers(tdb, dir, "v1.csv", v1)
        #expect(r.stdout.contains("loaded:    3 (inserted 0, updated 0, unchanged 3)"), "\(r.stdout)")
        #expect(try db.query("SELECT count(*) FROM member_history").scalar == "0")
        // The merge: a new member with entries, one entry changed, one removed.
        let v2 = [
            FeedFiles.fullMemberHeader,
            FeedFiles.member("M1", m1.merging(["limit_category": "区エ", "long_stay_on": ""]) { $1 }, columns: all),
            FeedFiles.member("M2", m2, columns: all), FeedFiles.member("M3", [:], columns: all),
            FeedFiles.member("M4", ["specific_disease": "C", "copay_effective_on": "2025-08-01"], columns: all),
        ]
        r = try importMembers(tdb, dir, "v2.csv", v2)
        #expect(r.stdout.contains("loaded:    4 (inserted 1, updated 1, unchanged 2)"), "\(r.stdout)")
        #expect(
            try db.query("SELECT specific_disease, copay_effective_on::text FROM member WHERE member_id = 'M4'").rows == [
                ["C", "2025-08-01"]
            ])
        let h = try db.query(
            """
            SELECT member_id, changed_columns::text, old_values->>'limit_category', new_values->>'limit_category',
                   old_values->>'long_stay_on', new_values->>'long_stay_on' FROM member_history
            """
        ).rows
        #expect(h == [["M1", "{limit_category,long_stay_on}", "区オ（境）", "区エ", "2026-02-10", nil]])
        r = try importMembers(tdb, dir, "v2.csv", v2)
        #expect(r.stdout.contains("loaded:    4 (inserted 0, updated 0, unchanged 4)"), "\(r.stdout)")
    }

    @Test("a file with some optional columns, in any order, validates each: bad values are rejected with line, column and reason")
    func subsetValidated() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let columns =
            ["specific_disease", "limit_category"] + FeedFiles.memberColumns + ["limit_effective_on", "special_care", "establishment_id"]
        let rows: [[String: String]] = [
            ["limit_category": "区ア", "limit_effective_on": "2026-04-01", "specific_disease": "B"],  // line 2: good
            ["specific_disease": "D"],  // line 3
            ["limit_category": "区 ア"],  // line 4
            ["limit_category": "区オ（境界層該当者等）"],  // line 5: 11 characters
            ["limit_effective_on": "2026-04-01"],  // line 6: without a category
            ["limit_category": "区ウ", "limit_effective_on": "2026-02-30"],  // line 7
            ["scheme": "employee", "special_care": "true"],  // line 8
            ["establishment_id": "E1"],  // line 9: nhi
            ["special_care": "yes"],  // line 10
            ["scheme": "employee", "establishment_id": "事業所1"],  // line 11
            ["limit_category": "=1+1"],  // line 12
        ]
        var lines = [columns.joined(separator: ",")]
        for (i, o) in rows.enumerated() { lines.append(FeedFiles.member("M\(i + 2)", o, columns: columns)) }
        let r = try importMembers(tdb, dir, "subset.csv", lines)
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("loaded:    1 (inserted 1, updated 0, unchanged 0)"), "\(r.stdout)")
        let rejects = try csvRows(String(contentsOf: dir.appendingPathComponent("r/import-1-members.rejects.csv"), encoding: .utf8))
        #expect(
            rejects.dropFirst().map { [$0[0], $0[1], $0[3]] } == [
                ["3", "specific_disease", "unknown value; expected one of A, B, C"],
                ["4", "limit_category", "a printed code holds no spaces (e.g. 区ア, 現役並みⅠ)"],
                ["5", "limit_category", "longer than 10 characters"],
                ["6", "limit_effective_on", "limit_effective_on is the 発効期日 of limit_category, which is blank"],
                ["7", "limit_effective_on", "not a date in YYYY-MM-DD form"],
                ["8", "special_care", "special_care (特別療養) applies only to nhi members, not employee"],
                ["9", "establishment_id", "establishment_id applies only to employee members, not nhi"],
                ["10", "special_care", "must be true or false"],
                ["11", "establishment_id", "identifier may hold only letters, digits, '-' and '_'"],
                ["12", "limit_category", "starts with '=': a spreadsheet would run it as a formula; correct the source record"],
            ])
        let db = try tdb.connect()
        #expect(try stored(db) == [["M2", nil, nil, "区ア", "2026-04-01", nil, "B", nil, nil]])
    }

    @Test(
        "members stored from an extract without the optional columns stay unchanged when a file brings them blank, and change when one is filled"
    )
    func digestUnchangedWithoutEntries() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        var r = try importMembers(tdb, dir, "old.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2")])
        #expect(r.status == 0)
        let db = try tdb.connect()
        let digests = try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows
        let all = FeedFiles.allMemberColumns
        r = try importMembers(
            tdb, dir, "new.csv",
            [
                FeedFiles.fullMemberHeader, FeedFiles.member("M1", [:], columns: all),
                FeedFiles.member("M2", [:], columns: all),
            ])
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 0, unchanged 2)"), "\(r.stdout)")
        #expect(try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows == digests)
        r = try importMembers(
            tdb, dir, "new2.csv",
            [
                FeedFiles.fullMemberHeader, FeedFiles.member("M1", ["special_care": "false"], columns: all),
                FeedFiles.member("M2", [:], columns: all),
            ])
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 1, unchanged 1)"), "\(r.stdout)")
        #expect(try db.query("SELECT member_id, changed_columns::text FROM member_history").rows == [["M1", "{special_care}"]])
        // Back to the old extract: the entry is gone again (none), and that is a change too.
        r = try importMembers(tdb, dir, "old.csv", [FeedFiles.memberHeader, FeedFiles.member("M1"), FeedFiles.member("M2")])
        #expect(r.stdout.contains("loaded:    2 (inserted 0, updated 1, unchanged 1)"), "\(r.stdout)")
        #expect(try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows == digests)
    }

    @Test(
        "generate --optional-entries fills the columns for some members, keeps every other value, is the same for a seed, and imports without rejects"
    )
    func generator() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        func generate(_ name: String, _ extra: [String]) throws -> [[String]] {
            let r = try runKakunin(
                ["generate", "--members", "3000", "--seed", "7", "--bad-rate", "0", "--out", dir.appendingPathComponent(name).path] + extra,
                database: tdb)
            #expect(r.status == 0, "\(r.stderr)")
            return try csvRows(String(contentsOf: dir.appendingPathComponent("\(name)/members.csv"), encoding: .utf8))
        }
        let plain = try generate("plain", [])
        let filled = try generate("filled", ["--optional-entries"])
        #expect(try generate("again", ["--optional-entries"]) == filled)
        #expect(filled[0] == FeedFiles.allMemberColumns)
        #expect(filled.map { Array($0.prefix(plain[0].count)) } == plain)
        let rows = filled.dropFirst()
        let col = { (name: String) in filled[0].firstIndex(of: name)! }
        func count(_ name: String, _ test: ([String]) -> Bool = { _ in true }) -> Int {
            rows.filter { !$0[col(name)].isEmpty && test($0) }.count
        }
        for name in Self.optional { #expect(count(name) > 0, "\(name)") }
        #expect(
            count("special_care") { $0[col("scheme")] == "nhi" && $0[col("birth_date")] > "2008-12-01" } > 0, "a child in a 特別療養 household")
        #expect(count("voluntary_continuation") { $0[col("voluntary_continuation")] == "true" } > 0)
        #expect(count("establishment_id") { $0[col("scheme")] != "employee" } == 0)
        let r = try runKakunin(
            [
                "import", "members", dir.appendingPathComponent("filled/members.csv").path,
                "--report-dir", dir.appendingPathComponent("r").path,
            ], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(
            try tdb.connect().query("SELECT count(*) FROM member WHERE limit_category IS NOT NULL").scalar
                == String(count("limit_category")))
    }
}
