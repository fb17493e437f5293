import Foundation
import KakuninCore
import KakuninRuntime
import KakuninTesting
import Testing

/// Issue 29 item 8 (SPEC.md 5.1 [2026-12]): the printed fields in the vendor files and the
/// counter's print view, from the members as the run saw them.
@Suite("Printed fields in the vendor files and the print view", .serialized)
struct PrintedFieldsCLITests {
    static let all = FeedFiles.allMemberColumns
    /// Y: nhi, 46, no card. O: nhi, 71, optional entries. SH/SC: a 特別療養 household, head 46
    /// and child 10, no card. N: nhi, 46, 特別療養, Myna usable (eligibility notice).
    static func members(_ edit: [String: [String: String]] = [:]) -> [String] {
        var rows: [String: [String: String]] = [
            "Y": ["birth_date": "1980-04-01"],
            "O": [
                "birth_date": "1955-06-10", "copay_ratio": "20", "copay_effective_on": "2026-08-01", "limit_category": "一般Ⅱ",
                "limit_effective_on": "2026-08-01", "specific_disease": "A",
            ],
            "SH": ["household_id": "HS", "special_care": "true"],
            "SC": ["household_id": "HS", "household_head": "false", "birth_date": "2016-05-05", "special_care": "true"],
            "N": ["special_care": "true", "long_stay_on": "2026-03-01"],
        ]
        for (k, v) in edit { rows[k]!.merge(v) { $1 } }
        return [FeedFiles.fullMemberHeader] + rows.keys.sorted().map { FeedFiles.member($0, rows[$0]!, columns: all) }
    }

    func prepare() throws -> (TestDatabase, URL, URL) {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", Self.members())
        let s = try FeedFiles.write(dir, "s.csv", [NightlyRunTests.mynaHeader, "131016,N,2026-11-01,true,registered,active,2030-01-31,"])
        for (feed, file) in [("members", m), ("myna-status", s)] {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        }
        return (tdb, dir, try MailFilesTests().params(dir, []))
    }

    func records(_ dir: URL, _ name: String) throws -> [String: [String: String]] {
        let rows = MailFilesTests().csvRecords(
            try String(contentsOf: MailFilesTests().files(dir).appendingPathComponent(name), encoding: .utf8))
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["member_id"]!, $0) })
    }

    @Test(
        "certificates.csv and eligibility_notices.csv: copay line, 発効期日 from copay_effective_on, optional entries with ＊, 特別療養 variant never for a child; new columns at the end"
    )
    func vendorFiles() throws {
        let (tdb, dir, p) = try prepare()
        let r = try MailFilesTests().run(tdb, dir, params: p)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let text = try String(contentsOf: MailFilesTests().files(dir).appendingPathComponent("certificates.csv"), encoding: .utf8)
        let header = text.split(separator: "\n")[0].split(separator: ",").map(String.init)
        // [2026-12] honorific and certificate_format (issue 31) come after these.
        #expect(
            Array(header.dropLast(2).suffix(9)) == [
                "variant", "title", "copay_text", "limit_category", "limit_effective_on", "limit_effective_on_era",
                "long_stay_on", "long_stay_on_era", "specific_disease",
            ])
        #expect(header[header.count - 12] == "no_forwarding", "the older columns keep their places")
        let c = try records(dir, "certificates.csv")
        #expect(c.keys.sorted() == ["O", "SC", "SH", "Y"])
        let fields = [
            "variant", "title", "copay_ratio", "copay_text", "copay_effective_on", "limit_category", "limit_effective_on",
            "limit_effective_on_era", "long_stay_on", "long_stay_on_era", "specific_disease",
        ]
        func row(_ id: String) -> [String] { fields.map { c[id]?[$0] ?? "?" } }
        #expect(row("Y") == ["standard", "資格確認書", "", "法定負担割合のとおり", "", "＊", "", "＊", "", "＊", "＊"])
        #expect(row("O") == ["standard", "資格確認書", "20", "2割", "2026-08-01", "一般Ⅱ", "2026-08-01", "令和8年8月1日", "", "＊", "A"])
        #expect(row("SH") == ["special_care", "資格確認書（特別療養）", "", "法定負担割合のとおり", "", "＊", "", "＊", "", "＊", "＊"])
        #expect(row("SC") == ["standard", "資格確認書", "", "法定負担割合のとおり", "", "＊", "", "＊", "", "＊", "＊"])
        let n = try records(dir, "eligibility_notices.csv")
        #expect([n["N"]?["variant"], n["N"]?["title"], n["N"]?["copay_text"]] == ["special_care", "資格情報のお知らせ（特別療養）", "法定負担割合のとおり"])

        // The counter's print view of the same certificate prints the same.
        let number = c["O"]!["certificate_number"]!
        let html = dir.appendingPathComponent("o.html")
        let pr = try runKakunin(
            ["certificate", "print", "--insurer", "131016", "--certificate", number, "--print", html.path], database: tdb)
        #expect(pr.status == 0, "\(pr.stdout)\(pr.stderr)")
        let page = try String(contentsOf: html, encoding: .utf8)
        for line in [
            "<h1 data-variant=\"standard\">資格確認書</h1>", "2割（発効期日 令和8年8月1日）", "一般Ⅱ（発効期日 令和8年8月1日）",
            "<span class=\"l\">長期入院該当日</span><span class=\"v\">＊</span>",
            "<span class=\"l\">特定疾病区分</span><span class=\"v\">A</span>",
        ] {
            #expect(page.contains(line), "\(line)")
        }
        let sh = try runKakunin(
            [
                "certificate", "print", "--insurer", "131016", "--certificate", c["SH"]!["certificate_number"]!,
                "--print", html.path,
            ], database: tdb)
        #expect(sh.status == 0)
        #expect(try String(contentsOf: html, encoding: .utf8).contains("<h1 data-variant=\"special_care\">資格確認書（特別療養）</h1>"))
    }

    @Test("killed after the commit, then an import changes the entries: the rerun and --rebuild-files write the bytes the run saw")
    func entriesTheRunSaw() throws {
        let (clean, cleanDir, cleanParams) = try prepare()
        #expect(try MailFilesTests().run(clean, cleanDir, params: cleanParams).status == 0)

        let (tdb, dir, p) = try prepare()
        let crashed = try MailFilesTests().run(tdb, dir, params: p, env: ["KAKUNIN_CRASH_AT": "after-commit"])
        #expect(crashed.status != 0 && crashed.status != 11)
        let changed = try FeedFiles.write(
            dir, "m2.csv",
            Self.members([
                "O": ["limit_category": "現役並みⅠ", "copay_effective_on": "", "specific_disease": ""],
                "SH": ["special_care": ""], "N": ["special_care": "false"],
            ]))
        #expect(try runKakunin(["import", "members", changed.path, "--report-dir", dir.path], database: tdb).status == 0)
        let rerun = try MailFilesTests().run(tdb, dir, params: p)
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        func same(_ what: String) throws {
            for name in ["certificates.csv", "eligibility_notices.csv", "envelopes.csv", "manifest.json"] {
                let a = try Data(contentsOf: MailFilesTests().files(cleanDir).appendingPathComponent(name))
                let b = try Data(contentsOf: MailFilesTests().files(dir).appendingPathComponent(name))
                #expect(a == b, "\(name) differs after \(what)")
            }
        }
        try same("the rerun")
        try FileManager.default.removeItem(at: MailFilesTests().files(dir))
        let rebuilt = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path,
                "--params-dir", p.path, "--rebuild-files",
            ], database: tdb)
        #expect(rebuilt.status == 0, "\(rebuilt.stdout)\(rebuilt.stderr)")
        try same("--rebuild-files")
    }
}
