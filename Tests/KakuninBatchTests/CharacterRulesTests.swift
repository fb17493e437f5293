import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 28 items 12, 14, 19 and 20 through the CLI: NUL in a feed's key, the dates staff enter
/// at the counter, characters that must not reach a vendor file or pass the import, Individual
/// Numbers in disguise, and the CSV files for staff (UTF-8 with BOM).
@Suite("Characters, dates and files for staff through the CLI (issue 28)", .serialized)
struct CharacterRulesTests {
    let tdb: TestDatabase
    let dir: URL

    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
    }

    func k(_ args: [String]) throws -> CommandResult { try runKakunin(args, database: tdb) }

    func importFeed(_ feed: String, _ name: String, _ lines: [String]) throws -> CommandResult {
        try k(["import", feed, try FeedFiles.write(dir, name, lines).path, "--report-dir", dir.appendingPathComponent("reports").path])
    }

    /// A CSV file for staff: starts with the UTF-8 byte-order mark; its rows.
    func staffCSV(_ url: URL) throws -> [[String]] {
        let data = try Data(contentsOf: url)
        #expect(Array(data.prefix(3)) == [0xEF, 0xBB, 0xBF], "\(url.lastPathComponent) starts with a UTF-8 BOM")
        return try csvRows(String(decoding: data.dropFirst(3), as: UTF8.self))
    }

    func rejects(_ importID: Int, _ feed: String) throws -> [[String]] {
        Array(try staffCSV(dir.appendingPathComponent("reports/import-\(importID)-\(feed).rejects.csv")).dropFirst())
    }

    static let mynaHeader = FeedFormat.mynaStatus.columns.filter { !$0.optional }.map(\.name).joined(separator: ",")
    static let appHeader = FeedFormat.applications.columns.map(\.name).joined(separator: ",")

    // MARK: - Item 12

    @Test(
        "a NUL byte in member_id rejects that row (line, column, U+FFFD) and loads the others, in each feed (item 12)",
        arguments: ["members", "myna-status", "applications"])
    func nulInMemberID(_ feed: String) throws {
        let db = try tdb.connect()
        var importID = 1
        if feed != "members" {
            #expect(try importFeed("members", "m.csv", [FeedFiles.memberHeader, FeedFiles.member("A"), FeedFiles.member("C")]).status == 0)
            importID = 2
        }
        let table = feed == "members" ? "member" : feed == "myna-status" ? "myna_status" : "application"
        func row(_ id: String) -> String {
            switch feed {
            case "members": return FeedFiles.member(id, ["household_id": "H1"])
            case "myna-status": return "131016,\(id),2026-11-01,true,registered,active,2030-01-31,"
            default: return "131016,\(id),card_lost,2026-11-20,,pending"
            }
        }
        let header = feed == "members" ? FeedFiles.memberHeader : feed == "myna-status" ? Self.mynaHeader : Self.appHeader
        // Twice the same key with NUL: the duplicate-key check sees it too.
        let r = try importFeed(feed, "nul-\(feed).csv", [header, row("A"), row("N\u{0}1"), row("N\u{0}1"), row("C")])
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        #expect(!r.stderr.contains("22021") && !r.stdout.contains("22021"))
        #expect(r.stdout.contains("rejected:  2"), "\(r.stdout)")
        let rows = try rejects(importID, feed.replacingOccurrences(of: "-", with: "_"))
        #expect(
            rows.map { [$0[0], $0[1], $0[2], $0[4]] } == [
                ["3", "member_id", "N\u{FFFD}1", "N\u{FFFD}1"], ["4", "member_id", "N\u{FFFD}1", "N\u{FFFD}1"],
            ],
            "\(rows)")
        #expect(rows.allSatisfy { $0[3].contains("NUL") })
        #expect(try db.query("SELECT string_agg(member_id, ',' ORDER BY member_id) FROM \(table)").scalar == "A,C")

        if feed == "members" {
            // A re-import (keys and digests first) does the same.
            let again = try importFeed(feed, "nul-again.csv", [header, row("A"), row("N\u{0}1"), row("N\u{0}1"), row("D")])
            #expect(again.status == 10, "\(again.stdout)\(again.stderr)")
            #expect(try rejects(2, "members").map { $0[2] } == ["N\u{FFFD}1", "N\u{FFFD}1"])
            #expect(try db.query("SELECT string_agg(member_id, ',' ORDER BY member_id) FROM member").scalar == "A,C,D")
        }
    }

    // MARK: - Item 19: the import

    @Test("C1 controls and bidirectional controls fail the import's control-character check, naming the code point (item 19)")
    func importControls() throws {
        let r = try importFeed(
            "members", "controls.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("A"),
                FeedFiles.member("B", ["address": "東京都千代田区\u{9B}1丁目"]),
                FeedFiles.member("C", ["family_name": "山田\u{202E}"]),
                FeedFiles.member("D", ["address_extra": "メゾン\u{2066}101\u{2069}"]),
                FeedFiles.member("E", ["given_name": "太\u{80}郎"]),
                FeedFiles.member("F", ["address": "東京都千代田区\u{200B}1丁目"]),
            ])
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        let rows = try rejects(1, "members")
        #expect(
            rows.map { [$0[0], $0[1], $0[4]] } == [
                ["3", "address", "B"], ["4", "family_name", "C"], ["5", "address_extra", "D"],
                ["6", "given_name", "E"],
            ], "\(rows)")
        try #require(rows.count == 4)
        #expect(rows[0][3].contains("control character U+009B"))
        #expect(rows[1][3].contains("control character U+202E"))
        #expect(rows[2][3].contains("control character U+2066"))
        #expect(rows[3][3].contains("control character U+0080"))
        // An invisible character that is no control loads (and never reaches a vendor file: below).
        #expect(try tdb.connect().query("SELECT string_agg(member_id, ',' ORDER BY member_id) FROM member").scalar == "A,F")
    }

    @Test(
        "Individual Numbers written in circled digits, kanji numerals or with / and _ refuse the file (item 19)",
        arguments: ["①②③④⑤⑥⑦⑧⑨⓪①⑧", "一二三四五六七八九〇一八", "1234/5678/9018", "1234_5678_9018", "番号⑫③④⑤⑥⑦⑧⑨⓪①⑧"])
    func individualNumberDisguises(_ value: String) throws {
        let r = try importFeed(
            "members", "mynumber.csv",
            [
                FeedFiles.memberHeader, FeedFiles.member("A"),
                FeedFiles.member("B", ["address_extra": value]),
            ])
        #expect(r.status == 20, "\(value): \(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("Individual Number") && r.stderr.contains("line 3"), "\(r.stderr)")
        #expect(!r.stderr.contains(value))
        #expect(try tdb.connect().query("SELECT count(*) FROM member").scalar == "0")
    }

    // MARK: - Items 19 (vendor files), 20 and 14

    func writeParams() throws -> URL {
        let p = dir.appendingPathComponent("params")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "insurer_name = 千代田区国民健康保険\n".write(to: p.appendingPathComponent("131016.conf"), atomically: true, encoding: .utf8)
        return p
    }

    /// Members with invisible or private-use characters, K without; N gets an application notice.
    func runWithInvisibles() throws -> URL {
        let m = try importFeed(
            "members", "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("K"),
                FeedFiles.member("N"),
                FeedFiles.member("Z1", ["address": "東京都千代田区\u{200B}千代田1丁目"]),
                FeedFiles.member("Z2", ["address_extra": "メゾン\u{2060}101"]),
                FeedFiles.member("Z3", ["address_extra": "メゾン\u{FEFF}102"]),
                FeedFiles.member("Z4", ["address": "東京都\u{200E}千代田区"]),
                FeedFiles.member("Z5", ["address_extra": "\u{E000}荘"]),
            ])
        #expect(m.status == 0, "\(m.stdout)\(m.stderr)")
        let s = try importFeed("myna-status", "s.csv", [Self.mynaHeader, "131016,N,2026-11-01,true,registered,suspended,2030-01-31,"])
        #expect(s.status == 0, "\(s.stdout)\(s.stderr)")
        let out = dir.appendingPathComponent("out")
        let r = try k(["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", out.path, "--params-dir", try writeParams().path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("5 documents issued but not mailed"), "\(r.stdout)")
        return out.appendingPathComponent("131016/2026-11-21/nightly")
    }

    @Test(
        "invisible and private-use characters never reach a UTF-8 vendor file: the record waits in exceptions.csv with its code point (item 19); exceptions.csv is UTF-8 with BOM and the manifest says so (item 20)"
    )
    func vendorCharactersAndBOM() throws {
        let files = try runWithInvisibles()
        for name in ["certificates.csv", "eligibility_notices.csv", "apply_notices.csv", "envelopes.csv"] {
            let bytes = try Data(contentsOf: files.appendingPathComponent(name))
            let text = String(decoding: bytes, as: UTF8.self)
            for hidden in ["\u{200B}", "\u{2060}", "\u{FEFF}", "\u{200E}", "\u{E000}"] {
                #expect(
                    !text.unicodeScalars.contains(hidden.unicodeScalars.first!),
                    "\(name) holds U+\(String(hidden.unicodeScalars.first!.value, radix: 16))")
            }
            for z in ["Z1", "Z2", "Z3", "Z4", "Z5"] { #expect(!text.contains(",\(z),"), "\(z) is in \(name)") }
            #expect(Array(bytes.prefix(3)) != [0xEF, 0xBB, 0xBF], "vendor files have no BOM: \(name)")
        }
        #expect(try String(contentsOf: files.appendingPathComponent("certificates.csv"), encoding: .utf8).contains(",K,"))
        let rows = try staffCSV(files.appendingPathComponent("exceptions.csv"))
        let header = try #require(rows.first)
        #expect(header.first == "member_id")
        let ex = rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        func problem(_ m: String) -> [String]? {
            ex.first { $0["member_id"] == m }.map { [$0["field"]!, $0["problem"]!, $0["character"]!, $0["code_point"]!] }
        }
        #expect(problem("Z1") == ["address", "invisible", "", "U+200B"])
        #expect(problem("Z2") == ["address_extra", "invisible", "", "U+2060"])
        #expect(problem("Z3") == ["address_extra", "invisible", "", "U+FEFF"])
        #expect(problem("Z4") == ["address", "invisible", "", "U+200E"])
        #expect(problem("Z5") == ["address_extra", "character", "\u{E000}", "U+E000"])
        #expect(
            try tdb.connect().query("SELECT mail_exception FROM certificate WHERE member_id = 'Z1'").scalar
                == "address: invisible character U+200B")
        // The manifest names the encoding of each file; the report's own reading of
        // exceptions.csv (its checks) still agrees with the database.
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: files.appendingPathComponent("manifest.json"))) as! [String: Any]
        let entries = manifest["files"] as! [[String: Any]]
        let encodings = Dictionary(uniqueKeysWithValues: entries.map { ($0["name"] as! String, $0["encoding"] as! String) })
        #expect(encodings["exceptions.csv"] == "UTF-8 with BOM")
        #expect(encodings["certificates.csv"] == "UTF-8")
        let exceptionsEntry = entries.first { $0["name"] as? String == "exceptions.csv" }!
        #expect(exceptionsEntry["bytes"] as? Int == (try Data(contentsOf: files.appendingPathComponent("exceptions.csv"))).count)
        let report = try k(["report", "--run", "1", "--out", dir.appendingPathComponent("out").path])
        #expect(report.status == 0, "\(report.stdout)\(report.stderr)")
        #expect(report.stdout.contains("exceptions") && !report.stdout.contains("FAIL"), "\(report.stdout)")
    }

    @Test(
        "return dates: before the issue (or sending) date or in the future are refused naming the range; a future received_on too (item 14)"
    )
    func counterDates() throws {
        _ = try runWithInvisibles()
        let db = try tdb.connect()
        let today = LocalDate.todayInJapan()
        let cert = try db.query("SELECT certificate_number::text FROM certificate WHERE member_id = 'K'").scalar!
        let ret = ["certificate", "return", "--insurer", "131016", "--certificate", cert, "--on"]
        var r = try k(ret + ["2026-11-20"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("outside 2026-11-21 … \(today)") && r.stderr.contains("issued on 2026-11-21"), "\(r.stderr)")
        r = try k(ret + [today.adding(days: 1).description])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("outside 2026-11-21 … \(today)"), "\(r.stderr)")
        #expect(try db.query("SELECT count(*) FROM mail_return").scalar == "0")
        #expect(try k(ret + ["2026-11-21"]).status == 0)

        let notice = ["notice", "return", "--insurer", "131016", "--member", "N", "--kind", "apply_notice", "--on"]
        r = try k(notice + ["2026-11-20"])
        #expect(
            r.status == 64 && r.stderr.contains("sent on 2026-11-21") && r.stderr.contains("outside 2026-11-21 … \(today)"), "\(r.stderr)")
        r = try k(notice + ["2099-01-01"])
        #expect(r.status == 64 && r.stderr.contains("outside 2026-11-21 … \(today)"), "\(r.stderr)")
        #expect(try k(notice + [today.description]).status == 0)
        #expect(try db.query("SELECT count(*) FROM mail_return").scalar == "2")

        let add = ["application", "add", "--insurer", "131016", "--member", "K", "--kind", "card_lost", "--received-on"]
        r = try k(add + [today.adding(days: 1).description])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(
            r.stderr.contains("received_on: \(today.adding(days: 1)) is in the future") && r.stderr.contains("today (\(today))"),
            "\(r.stderr)")
        #expect(try db.query("SELECT count(*) FROM application").scalar == "0")
        #expect(try k(add + [today.description]).status == 0)
    }
}
