import Foundation
import KakuninBatch
import KakuninCore
import KakuninTesting
import Testing

@Suite("Generated feeds")
struct GeneratorTests {
    func generate(_ seed: UInt64, _ n: Int) throws -> (URL, [String: Data]) {
        let dir = try temporaryDirectory()
        let r = try runKakunin(["generate", "--members", String(n), "--seed", String(seed), "--out", dir.path], database: nil)
        #expect(r.status == 0, "\(r.stderr)")
        var files: [String: Data] = [:]
        for f in ["members.csv", "myna_status.csv", "applications.csv"] {
            files[f] = try Data(contentsOf: dir.appendingPathComponent(f))
        }
        return (dir, files)
    }

    @Test("the same seed gives the same bytes; another seed gives other bytes")
    func determinism() throws {
        let (_, a) = try generate(7, 2000)
        let (_, b) = try generate(7, 2000)
        let (_, c) = try generate(8, 2000)
        #expect(a == b)
        #expect(a["members.csv"] != c["members.csv"])
    }

    @Test("content is realistic: every scheme, one head per nhi household, non-JIS names, foreign residents, every Myna state")
    func content() throws {
        let (dir, files) = try generate(3, 20000)
        let members = try csvRows(String(decoding: files["members.csv"]!, as: UTF8.self))
        let header = members[0]
        #expect(header == FeedFormat.members.columns.filter { !$0.optional }.map(\.name))
        let rows = members.dropFirst()
        #expect(rows.count == 20000)
        let col = { (name: String) in header.firstIndex(of: name)! }
        #expect(Set(rows.map { $0[col("scheme")] }).isSuperset(of: ["nhi", "elderly", "employee"]))
        let names = rows.map { $0[col("family_name")] }
        #expect(names.contains("𠮷田") && names.contains("髙橋") && names.contains("山﨑"))
        let foreign = rows.filter { !$0[col("residence_expiry")].isEmpty }
        #expect(foreign.count > 200)
        #expect(foreign.allSatisfy { $0[col("family_name")].allSatisfy { $0.isASCII } && $0[col("preferred_language")] != "ja" })
        #expect(rows.allSatisfy { $0[col("postal_code")].isEmpty || $0[col("postal_code")].count == 7 })
        // nhi households: one head each, apart from a few planted anomalies (held at decision time).
        var heads: [String: Int] = [:]
        for r in rows where r[col("scheme")] == "nhi" {
            heads[r[col("household_id")], default: 0] += r[col("household_head")] == "true" ? 1 : 0
        }
        let oneHead = heads.values.filter { $0 == 1 }.count
        #expect(Double(oneHead) / Double(heads.count) > 0.99)
        let myna = try csvRows(String(decoding: files["myna_status.csv"]!, as: UTF8.self)).dropFirst()
        #expect(Set(myna.map { $0[5] }).subtracting(["broken"]) == ["active", "suspended", "renewing", "returned", "none"])
        #expect(Set(myna.map { $0[4] }) == ["", "registered", "not_registered", "cancel_requested", "cancelled"])
        let apps = try csvRows(String(decoding: files["applications.csv"]!, as: UTF8.self)).dropFirst()
        #expect(Set(apps.map { $0[2] }).isSuperset(of: ["special_consideration", "card_lost", "card_renewing", "reissue"]))
        // Files are owner-only.
        let mode =
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("members.csv").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("the planted bad rows are rejected on import, and only they")
    func badRowsRejected() throws {
        let tdb = try TestDatabase()
        let (dir, _) = try generate(5, 3000)
        let r = try runKakunin(
            [
                "import", "members", dir.appendingPathComponent("members.csv").path,
                "--report-dir", dir.path,
            ], database: tdb)
        #expect(r.status == 10)
        let db = try tdb.connect()
        let counts = try db.query("SELECT rows_read, rows_loaded, rows_rejected FROM import").rows[0].map { Int($0!)! }
        #expect(counts[0] == 3000 && counts[1] + counts[2] == 3000)
        #expect(counts[2] > 0 && counts[2] < 30)
    }
}
