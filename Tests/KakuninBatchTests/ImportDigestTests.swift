import Foundation
import KakuninCore
import KakuninStore
import KakuninTesting
import Testing

@Suite("Import: row digests of a first load")
struct ImportDigestTests {
    /// sql/016's row digest of a file row, computed by the server: the first 16 bytes of SHA-256
    /// over the format's columns in COPY text, tab-separated (a blank column as its default or
    /// `\N`, a backslash doubled); the optional columns count only when one of them is filled.
    func expectedDigest(_ line: String, columns: [String], _ db: Connection) throws -> String {
        let values = Dictionary(
            uniqueKeysWithValues: zip(columns, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        let all = FeedFormat.members.columns
        let optionalFilled = all.contains { $0.optional && !(values[$0.name] ?? "").isEmpty }
        let text = all.filter { optionalFilled || !$0.optional }.map { column -> String in
            let v = values[column.name] ?? ""
            return v.isEmpty ? column.blankDefault ?? "\\N" : v.replacingOccurrences(of: "\\", with: "\\\\")
        }.joined(separator: "\t")
        return try db.query("SELECT encode(substring(sha256(convert_to($1, 'UTF8')) FROM 1 FOR 16), 'hex')", [text]).scalar!
    }

    @Test(
        "a first load stores each member's digest of its COPY text: a plain row, a row with a backslash (escaped), blank columns (their defaults, \\N), an optional column filled or all left blank; a re-import takes the same digests before any check"
    )
    func firstLoadDigests() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let all = FeedFiles.allMemberColumns
        let rows = [
            FeedFiles.member("M1", [:], columns: all),
            FeedFiles.member("M2", ["address_extra": "タワー\\2棟"], columns: all),
            FeedFiles.member("M3", ["branch": "", "household_head": "", "given_name": "", "postal_code": ""], columns: all),
            FeedFiles.member("M4", ["specific_disease": "A", "long_stay_on": "2024-04-01"], columns: all),
            FeedFiles.member("M5", ["address": "東京都\\港区", "specific_disease": "B"], columns: all),
        ]
        let file = try FeedFiles.write(dir, "members.csv", [FeedFiles.fullMemberHeader] + rows)
        let r = try runKakunin(["import", "members", file.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0 && r.stdout.contains("inserted 5"), "\(r.stdout)\(r.stderr)")
        let db = try tdb.connect()
        let stored = try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows
        let expected = try zip(["M1", "M2", "M3", "M4", "M5"], rows).map { id, line in [id, try expectedDigest(line, columns: all, db)] }
        #expect(stored == expected)
        #expect(Set(stored.map { $0[1] }).count == 5)

        // The night after: the same rows are unchanged (their digests taken again, before any
        // check), and the two changed ones, plain and with a backslash, store the server's digest.
        var again = rows
        again[0] = FeedFiles.member("M1", ["address_extra": "コーポ3号"], columns: all)
        again[1] = FeedFiles.member("M2", ["address_extra": "タワー\\3棟"], columns: all)
        let next = try FeedFiles.write(dir, "members-2.csv", [FeedFiles.fullMemberHeader] + again)
        let r2 = try runKakunin(["import", "members", next.path, "--report-dir", dir.path], database: tdb)
        #expect(r2.stdout.contains("loaded:    5 (inserted 0, updated 2, unchanged 3)"), "\(r2.stdout)\(r2.stderr)")
        let restored = try db.query("SELECT member_id, encode(row_digest, 'hex') FROM member ORDER BY member_id").rows
        let reexpected = try zip(["M1", "M2", "M3", "M4", "M5"], again).map { id, line in [id, try expectedDigest(line, columns: all, db)] }
        #expect(restored == reexpected)
    }
}
