import Foundation
import KakuninTesting
import Testing

/// Issue 29 item 2 (SPEC.md 3 [2026-12]): an nhi member who has attained 70 gets documents that
/// end by the first renewal day (the copay is re-decided every 08-01), without the
/// min_validity_days extension, and an eligibility notice that carries 有効期限, the copay ratio
/// and its 発効期日, sent again when it lapses, like a renewal. Nights through the CLI.
@Suite("Aged 70–74 in nhi over several nights", .serialized)
struct SeventyToSeventyFourTests {
    /// T: nhi, born 1955-06-10 (71), Myna usable. K: the same without a card. Y: nhi, 47, usable.
    @Test("a 70–74 certificate ends at 07-31 and renews at 08-01; the notice carries 有効期限 and is sent again when it lapses")
    func nights() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("T", ["birth_date": "1955-06-10", "qualified_on": "2000-04-01", "copay_ratio": "20"]),
                FeedFiles.member("K", ["birth_date": "1955-06-10", "qualified_on": "2000-04-01", "copay_ratio": "20"]),
                FeedFiles.member("Y", ["birth_date": "1980-04-01"]),
            ])
        let s = try FeedFiles.write(
            dir, "s.csv",
            [NightlyRunTests.mynaHeader] + ["T", "Y"].map { "131016,\($0),2027-06-01,true,registered,active,2030-01-31," }
                + ["131016,K,2027-06-01,false,,none,,"])
        for (feed, file) in [("members", m), ("myna-status", s)] {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        }
        let runner = NightlyRunTests()
        func night(_ asOf: String, _ run: Int) throws -> [String: [String]] {
            let r = try nightly(tdb, asOf, out: out, params: dir)
            #expect(r.status == 0, "\(asOf): \(r.stdout)\(r.stderr)")
            return try runner.decisions(tdb, run: run)
        }
        func notices(_ asOf: String) throws -> [String: [String: String]] {
            let rows = MailFilesTests().csvRecords(
                try String(contentsOf: out.appendingPathComponent("131016/\(asOf)/nightly/eligibility_notices.csv"), encoding: .utf8))
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["member_id"]!, $0) })
        }

        // Night 1, 2027-06-10: 07-31 is 51 days away, fewer than min_validity_days, yet neither
        // K's certificate nor T's notice is extended to 2028.
        var d = try night("2027-06-10", 1)
        #expect(d["K"]?[0...3] == ["issue", "NO_CARD", "2027-06-10", "2027-07-31"], "\(d["K"] ?? [])")
        #expect(d["T"]?[0...3] == ["eligibility_notice", "MYNA_USABLE", "2027-06-10", "2027-07-31"], "\(d["T"] ?? [])")
        #expect(d["Y"]?[0...3] == ["eligibility_notice", "MYNA_USABLE", "", ""], "\(d["Y"] ?? [])")
        var n = try notices("2027-06-10")
        #expect(
            n["T"]?["valid_to"] == "2027-07-31" && n["T"]?["copay_effective_on"] == "2027-06-10" && n["T"]?["copay_ratio"] == "20",
            "\(n["T"] ?? [:])")
        #expect(
            n["T"]?["valid_to_era"]?.contains("令和") == true && n["T"]?["copay_effective_on_era"]?.contains("令和") == true, "\(n["T"] ?? [:])"
        )
        #expect(n["Y"]?["valid_to"] == "" && n["Y"]?["copay_effective_on"] == "" && n["Y"]?["copay_ratio"] == "", "\(n["Y"] ?? [:])")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT member_id, valid_from::text, valid_to::text FROM notice WHERE kind = 'eligibility_notice' ORDER BY 1").rows
                == [["T", "2027-06-10", "2027-07-31"], ["Y", nil, nil]])

        // Night 2, 2027-06-21 (horizon 07-31): both still current.
        d = try night("2027-06-21", 2)
        #expect(d["K"]?[0...1] == ["none", "COVERED"], "\(d["K"] ?? [])")
        #expect(d["T"]?[0...1] == ["none", "MYNA_USABLE"], "\(d["T"] ?? [])")
        #expect(d["Y"]?[0...1] == ["none", "MYNA_USABLE"], "\(d["Y"] ?? [])")

        // Night 3, 2027-06-22 (horizon 08-01): K's certificate renews from 08-01; T's notice has
        // lapsed, and a new one from 08-01 is sent, like a renewal; Y's (no 有効期限) is not.
        d = try night("2027-06-22", 3)
        #expect(d["K"]?[0...3] == ["renew", "NO_CARD", "2027-08-01", "2028-07-31"], "\(d["K"] ?? [])")
        #expect(d["T"]?[0...3] == ["eligibility_notice", "MYNA_USABLE", "2027-08-01", "2028-07-31"], "\(d["T"] ?? [])")
        #expect(d["Y"]?[0...1] == ["none", "MYNA_USABLE"], "\(d["Y"] ?? [])")
        n = try notices("2027-06-22")
        #expect(n.keys.sorted() == ["T"])
        #expect(n["T"]?["valid_to"] == "2028-07-31" && n["T"]?["copay_effective_on"] == "2027-08-01", "\(n["T"] ?? [:])")

        // Night 4, 2027-06-23: sent once, not every night.
        d = try night("2027-06-23", 4)
        #expect(d["T"]?[0...1] == ["none", "MYNA_USABLE"], "\(d["T"] ?? [])")
        #expect(d["K"]?[0...1] == ["none", "COVERED"], "\(d["K"] ?? [])")

        // explain names the rule and its source.
        let e = try runKakunin(["explain", "--insurer", "131016", "--member", "T", "--as-of", "2027-06-22"], database: tdb)
        #expect(e.status == 0 && e.stdout.contains("SPEC.md 3 [2026-12]"), "\(e.stdout)\(e.stderr)")

        // The files rebuilt from the stored notices print the same dates, byte for byte.
        let f = out.appendingPathComponent("131016/2027-06-22/nightly")
        let original = try Data(contentsOf: f.appendingPathComponent("eligibility_notices.csv"))
        try FileManager.default.removeItem(at: f)
        let rebuilt = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2027-06-22", "--out", out.path, "--params-dir", dir.path,
                "--rebuild-files",
            ], database: tdb)
        #expect(rebuilt.status == 0, "\(rebuilt.stdout)\(rebuilt.stderr)")
        #expect(try Data(contentsOf: f.appendingPathComponent("eligibility_notices.csv")) == original)
    }
}
