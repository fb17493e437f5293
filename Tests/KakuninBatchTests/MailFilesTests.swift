import Foundation
import KakuninBatch
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 13: mailing files a print/mail vendor can take as they are.
@Suite("Mailing files: encodings, exceptions, envelopes, mail class, postage", .serialized)
struct MailFilesTests {
    static let mynaHeader = "insurer_number,member_id,status_as_of,has_card,registration,card_state,ecert_expiry,card_expiry"
    static let activeCard = "2026-11-01,true,registered,active,2030-01-31,"

    func params(_ dir: URL, _ lines: [String]) throws -> URL {
        let p = dir.appendingPathComponent("params")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try (["insurer_name = 千代田区国民健康保険"] + lines).joined(separator: "\n").write(
            to: p.appendingPathComponent("131016.conf"), atomically: true, encoding: .utf8)
        return p
    }

    func run(_ tdb: TestDatabase, _ dir: URL, params: URL, asOf: String = "2026-11-21", env: [String: String] = [:]) throws -> CommandResult
    {
        try runKakunin(
            ["run", "--insurer", "131016", "--as-of", asOf, "--out", dir.appendingPathComponent("out").path, "--params-dir", params.path],
            database: tdb, environment: env)
    }

    func files(_ dir: URL, _ asOf: String = "2026-11-21") -> URL { dir.appendingPathComponent("out/131016/\(asOf)/nightly") }

    /// The file decoded by glibc's iconv command (not kakunin's table), as CSV records by name.
    func decoded(_ file: URL, from encoding: String) throws -> [[String: String]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/iconv")
        p.arguments = ["-f", encoding, "-t", "UTF-8", file.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "iconv could not decode \(file.lastPathComponent)")
        return csvRecords(String(decoding: data, as: UTF8.self))
    }

    func csvRecords(_ text: String) -> [[String: String]] {
        var rows: [[String]] = []
        // exceptions.csv, for staff, starts with a byte-order mark.
        let text = text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            // By scalars: a combining mark after a comma is one Character with it.
            var fields: [String] = []
            var field = String.UnicodeScalarView()
            var quoted = false
            var chars = Array(line.unicodeScalars)
            var i = 0
            while i < chars.count {
                let c = chars[i]
                if quoted {
                    if c == "\"" {
                        if i + 1 < chars.count && chars[i + 1] == "\"" {
                            field.append("\"" as Unicode.Scalar)
                            i += 1
                        } else {
                            quoted = false
                        }
                    } else {
                        field.append(c)
                    }
                } else if c == "\"" {
                    quoted = true
                } else if c == "," {
                    fields.append(String(field))
                    field = String.UnicodeScalarView()
                } else {
                    field.append(c)
                }
                i += 1
            }
            chars.removeAll()
            fields.append(String(field))
            rows.append(fields)
        }
        guard let header = rows.first else { return [] }
        return rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }

    @Test("CP932: every generated name and address CP932 can carry round-trips through glibc iconv; the rest wait in exceptions")
    func cp932RoundTrip() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let feeds = dir.appendingPathComponent("feeds")
        #expect(
            try runKakunin(["generate", "--members", "3000", "--seed", "7", "--bad-rate", "0", "--out", feeds.path], database: nil).status
                == 0)
        for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
            let r = try runKakunin(["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0 || r.status == 10)
        }
        let r = try run(tdb, dir, params: try params(dir, ["vendor_encoding = cp932"]), asOf: "2026-12-01")
        #expect(r.status == 0 || r.status == 11, "\(r.stdout)\(r.stderr)")
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
        let out = files(dir, "2026-12-01")
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["encoding"] as? String == "CP932 (Windows-31J)")
        let db = try tdb.connect()
        // What the database holds for every member, addressee included (the household head's).
        var truth: [String: [String: String]] = [:]
        for row in try db.query(
            """
            SELECT m.member_id, m.family_name, coalesce(m.given_name, ''), coalesce(m.family_name_kana, ''), coalesce(m.given_name_kana, ''),
                   coalesce(m.address, ''), coalesce(m.address_extra, '')
            FROM member m WHERE m.insurer_number = '131016'
            """
        ).rows {
            truth[row[0]!] = ["family_name": row[1]!, "given_name": row[2]!, "family_name_kana": row[3]!, "given_name_kana": row[4]!]
        }
        var checked = 0
        var carried = Set<Character>()
        for name in ["certificates.csv", "eligibility_notices.csv", "apply_notices.csv"] {
            for rec in try decoded(out.appendingPathComponent(name), from: "CP932") {
                let t = try #require(truth[rec["member_id"]!])
                for k in ["family_name", "given_name", "family_name_kana", "given_name_kana"] {
                    #expect(rec[k] == t[k], "\(name) \(rec["member_id"]!) \(k): \(rec[k] ?? "nil") vs \(t[k]!)")
                    carried.formUnion(rec[k] ?? "")
                }
                #expect(rec["insurer_name"] == "千代田区国民健康保険")
                checked += 1
            }
        }
        #expect(checked > 1000, "\(checked) records compared")
        #expect(
            carried.contains("髙") && carried.contains("﨑") || carried.contains("髙"),
            "NEC/IBM extensions carried: \(carried.filter { "髙﨑邉".contains($0) })")
        // 𠮷 is not in CP932: its members' documents are in exceptions.csv, not in any vendor file.
        let exceptions = try decoded(out.appendingPathComponent("exceptions.csv"), from: "UTF-8")
        let yoshida = exceptions.filter { $0["code_point"] == "U+20BB7" }
        #expect(
            !yoshida.isEmpty
                && yoshida.allSatisfy {
                    $0["character"] == "𠮷" && ["family_name", "addressee"].contains($0["field"]!) && $0["problem"] == "character"
                })
        let waiting = Set(exceptions.filter { !($0["document"] ?? "").isEmpty }.map { $0["member_id"]! })
        for name in ["certificates.csv", "eligibility_notices.csv", "apply_notices.csv", "envelopes.csv"] {
            let text = String(decoding: try Data(contentsOf: out.appendingPathComponent(name)), as: UTF8.self)
            for m in waiting { #expect(!text.contains(m + ","), "\(m) is in \(name)") }
        }
        #expect(try db.query("SELECT count(*) FROM certificate WHERE mail_exception LIKE '%U+20BB7%'").scalar != "0")
    }

    /// E1 𠮷, E2 a private-use character, E3 a combining mark without a precomposed form, E4 an
    /// address of 61 characters; K1 髙橋 / 﨑 (carried), K2 a decomposed が (composed, carried).
    func exceptionMembers(_ tdb: TestDatabase, _ dir: URL) throws {
        let long = String(repeating: "東", count: 61)
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("E1", ["family_name": "𠮷田"]),
                FeedFiles.member("E2", ["given_name": "太\u{E000}郎"]),
                FeedFiles.member("E3", ["address": "東京都千代田区か\u{309A}町1番"]),
                FeedFiles.member("E4", ["address": long]),
                FeedFiles.member("K1", ["family_name": "髙橋", "address_extra": "山﨑ハイツ"]),
                FeedFiles.member("K2", ["address": "東京都千代田区か\u{3099}ら町1番"]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
    }

    @Test(
        "exceptions: 𠮷, a private-use character, a combining mark and an over-long address, each with its code point or length; never in a vendor file"
    )
    func exceptions() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try exceptionMembers(tdb, dir)
        let r = try run(tdb, dir, params: try params(dir, ["vendor_encoding = cp932"]))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("4 documents issued but not mailed"), "\(r.stdout)")
        let out = files(dir)
        let ex = try decoded(out.appendingPathComponent("exceptions.csv"), from: "UTF-8")
        func row(_ m: String) -> [String: String]? { ex.first { $0["member_id"] == m } }
        #expect(row("E1")?["field"] == "family_name" && row("E1")?["code_point"] == "U+20BB7" && row("E1")?["character"] == "𠮷")
        #expect(row("E2")?["field"] == "given_name" && row("E2")?["code_point"] == "U+E000")
        #expect(row("E3")?["field"] == "address" && row("E3")?["code_point"] == "U+309A")
        #expect(
            row("E4")?["field"] == "address" && row("E4")?["problem"] == "length" && row("E4")?["length"] == "61"
                && row("E4")?["limit"] == "60")
        for m in ["E1", "E2", "E3", "E4"] {
            #expect(row(m)?["document"] == "certificate" && !(row(m)?["certificate_number"] ?? "").isEmpty)
        }
        #expect(row("K1") == nil && row("K2") == nil)
        let certs = try decoded(out.appendingPathComponent("certificates.csv"), from: "CP932")
        #expect(Set(certs.map { $0["member_id"]! }) == ["K1", "K2"])
        #expect(certs.first { $0["member_id"] == "K1" }?["family_name"] == "髙橋")
        #expect(certs.first { $0["member_id"] == "K1" }?["address_extra"] == "山﨑ハイツ")
        #expect(certs.first { $0["member_id"] == "K2" }?["address"] == "東京都千代田区がら町1番", "composed")
        let raw = try Data(contentsOf: out.appendingPathComponent("certificates.csv"))
        #expect(!raw.contains(Data("髙".utf8)) && raw.contains(Data([0xFB, 0xFC])), "髙 as CP932 0xFBFC, not UTF-8")
        // The documents wait: issued, numbered, not mailed, and the database says why.
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT member_id, mail_exception FROM certificate WHERE mail_exception IS NOT NULL ORDER BY 1").rows.map {
                $0[0]!
            }
                == ["E1", "E2", "E3", "E4"])
        #expect(try db.query("SELECT mail_exception FROM certificate WHERE member_id = 'E4'").scalar == "address: 61 characters, limit 60")
        // Staff see why, and print the waiting certificate at the counter.
        let show = try runKakunin(["member", "show", "--insurer", "131016", "--member", "E1"], database: tdb)
        #expect(
            show.stdout.contains("delivery=not mailed, waiting for staff") && show.stdout.contains("kakunin certificate print"),
            "\(show.stdout)")
        let e1 = try db.query("SELECT certificate_number FROM certificate WHERE member_id = 'E1'").scalar!
        let printed = dir.appendingPathComponent("e1.html")
        let p = try runKakunin(
            ["certificate", "print", "--insurer", "131016", "--certificate", e1, "--print", printed.path], database: tdb)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(try String(contentsOf: printed, encoding: .utf8).contains("𠮷田"))
        #expect(
            try db.query("SELECT details->>'mail_exception' FROM audit_event WHERE action = 'certificate_printed'").scalar?.contains(
                "U+20BB7") == true)
        let back = try runKakunin(["certificate", "return", "--insurer", "131016", "--certificate", e1], database: tdb)
        #expect(back.status == 65 && back.stderr.contains("never mailed"), "\(back.stderr)")
        #expect(
            try runKakunin(["certificate", "void", "--insurer", "131016", "--certificate", e1, "--reason", "test"], database: tdb).status
                == 0)
        #expect(
            try runKakunin(["certificate", "print", "--insurer", "131016", "--certificate", e1, "--print", printed.path], database: tdb)
                .status == 65)
        #expect(
            try runKakunin(["certificate", "print", "--insurer", "131016", "--certificate", "999", "--print", printed.path], database: tdb)
                .status == 66)

        // UTF-8 carries the characters but the private-use one (each vendor's 外字 differ: issue 28
        // item 19); the length and control checks still apply.
        let tdb2 = try TestDatabase()
        let dir2 = try temporaryDirectory()
        try exceptionMembers(tdb2, dir2)
        #expect(try run(tdb2, dir2, params: try params(dir2, [])).status == 0)
        let ex2 = try decoded(files(dir2).appendingPathComponent("exceptions.csv"), from: "UTF-8")
        #expect(ex2.map { $0["member_id"]! } == ["E2", "E2", "E4"])
        #expect(ex2.filter { $0["member_id"] == "E2" }.allSatisfy { $0["code_point"] == "U+E000" && $0["problem"] == "character" })
        let certs2 = try decoded(files(dir2).appendingPathComponent("certificates.csv"), from: "UTF-8")
        #expect(certs2.first { $0["member_id"] == "E1" }?["family_name"] == "𠮷田")
    }

    /// An nhi household: head H (no card: certificate), D1 (active card: eligibility notice),
    /// D2 (no card: certificate); S an employee with an active card (a notice alone).
    func household(_ tdb: TestDatabase, _ dir: URL) throws {
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("H", ["household_id": "HH1"]),
                FeedFiles.member("D1", ["household_id": "HH1", "household_head": "false", "given_name": "一郎"]),
                FeedFiles.member("D2", ["household_id": "HH1", "household_head": "false", "given_name": "次郎"]),
                FeedFiles.member("S", ["scheme": "employee", "household_id": ""]),
            ])
        let s = try FeedFiles.write(dir, "s.csv", [Self.mynaHeader, "131016,D1,\(Self.activeCard)", "131016,S,\(Self.activeCard)"])
        for (feed, file) in [("members", m), ("myna-status", s)] {
            #expect(try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
    }

    // [2026-12] Pinned to nhi_mixed_household = stricter_class on purpose: the default is now
    // split (`householdPolicies`).
    @Test(
        "envelopes (stricter_class): one per nhi household with mixed contents, counts and members reconciled, the stricter class wins, postage summed"
    )
    func envelopes() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try household(tdb, dir)
        let r = try run(tdb, dir, params: try params(dir, ["nhi_mixed_household = stricter_class"]))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)")
        let out = files(dir)
        let env = try decoded(out.appendingPathComponent("envelopes.csv"), from: "UTF-8")
        #expect(env.count == 2)
        let hh = try #require(env.first { $0["envelope_id"] == "H-HH1" })
        #expect(hh["certificates"] == "2" && hh["eligibility_notices"] == "1" && hh["apply_notices"] == "0" && hh["documents"] == "3")
        #expect(
            hh["member_ids"] == "D1;D2;H" && hh["mail_class"] == "tokutei_kiroku" && hh["no_forwarding"] == "true"
                && hh["postage_yen"] == "320")
        #expect(hh["addressee"] == "山田 太郎")
        let s = try #require(env.first { $0["envelope_id"] == "M-S" })
        #expect(
            s["mail_class"] == "ordinary" && s["no_forwarding"] == "false" && s["postage_yen"] == "110" && s["eligibility_notices"] == "1")
        // Every document names its envelope, with its own class and 転送不要.
        let certs = try decoded(out.appendingPathComponent("certificates.csv"), from: "UTF-8")
        #expect(certs.allSatisfy { $0["envelope_id"] == "H-HH1" && $0["mail_class"] == "tokutei_kiroku" && $0["no_forwarding"] == "true" })
        let notices = try decoded(out.appendingPathComponent("eligibility_notices.csv"), from: "UTF-8")
        #expect(Set(notices.map { $0["envelope_id"]! }) == ["H-HH1", "M-S"] && notices.allSatisfy { $0["mail_class"] == "ordinary" })
        // Postage: in the manifest and the report, the same totals.
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["postage_total_yen"] as? Int == 430 && manifest["envelopes"] as? Int == 2)
        #expect(r.stdout.contains("Postage: 2 envelopes, 430 yen"), "\(r.stdout)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        #expect((report["postage"] as? [String: Any])?["total_yen"] as? Int == 430)

        // A notice class stricter than the certificate's: the household envelope takes it.
        let tdb2 = try TestDatabase()
        let dir2 = try temporaryDirectory()
        try household(tdb2, dir2)
        #expect(
            try run(
                tdb2, dir2,
                params: try params(
                    dir2,
                    [
                        "mail_class.notice = kani_kakitome", "postage.kani_kakitome = 500",
                        "nhi_mixed_household = stricter_class",
                    ])
            ).status == 0)
        let env2 = try decoded(files(dir2).appendingPathComponent("envelopes.csv"), from: "UTF-8")
        #expect(env2.first { $0["envelope_id"] == "H-HH1" }?["mail_class"] == "kani_kakitome")
        #expect(env2.first { $0["envelope_id"] == "H-HH1" }?["postage_yen"] == "500")

        // The check reads the files: an envelope that lost a document fails it.
        let envFile = out.appendingPathComponent("envelopes.csv")
        let text = try String(contentsOf: envFile, encoding: .utf8)
        try text.replacingOccurrences(of: "D1;D2;H", with: "D2;H").write(to: envFile, atomically: true, encoding: .utf8)
        let again = try runKakunin(["report", "--run", "1", "--out", dir.appendingPathComponent("out").path], database: tdb)
        #expect(
            again.stdout.contains("[FAIL] every document is in exactly one envelope") && again.stdout.contains("lists members D2;H"),
            "\(again.stdout)\(again.stderr)")
    }

    @Test(
        "mailing files handed to the disk as they grow (sync_file_range after every write) are byte for byte those written back at the fsync only"
    )
    func writebackAsTheyGrow() throws {
        var published: [[String: Data]] = []
        for every in ["1", "0"] {
            let tdb = try TestDatabase()
            let dir = try temporaryDirectory()
            try household(tdb, dir)
            let r = try run(tdb, dir, params: try params(dir, []), env: ["KAKUNIN_WRITEBACK_BYTES": every])
            #expect(r.status == 0 && r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)\(r.stderr)")
            let out = files(dir)
            let names = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { !$0.hasPrefix("report.") }
            published.append(Dictionary(uniqueKeysWithValues: try names.map { ($0, try Data(contentsOf: out.appendingPathComponent($0))) }))
        }
        #expect(published[0].keys.contains("manifest.json") && published[0]["certificates.csv"]?.isEmpty == false)
        #expect(published[0] == published[1])
    }

    @Test("the old single mail_class keeps working for both kinds, with a deprecation note")
    func deprecatedMailClass() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try household(tdb, dir)
        let r = try run(tdb, dir, params: try params(dir, ["mail_class = kani_kakitome"]))
        #expect(r.status == 0)
        #expect(r.stderr.contains("mail_class is deprecated"), "\(r.stderr)")
        let env = try decoded(files(dir).appendingPathComponent("envelopes.csv"), from: "UTF-8")
        #expect(env.allSatisfy { $0["mail_class"] == "kani_kakitome" })
    }

    @Test(
        "era forms from the run's cache of dates: each birth date in the era of its day (昭和64年 / 平成元年, 平成31年 / 令和元年), a date seen again alike"
    )
    func eraForms() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let births = [("A", "1989-01-07"), ("B", "1989-01-08"), ("C", "2019-04-30"), ("D", "2019-05-01"), ("E", "1989-01-07")]
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader] + births.map { FeedFiles.member($0.0, ["birth_date": $0.1]) })
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try run(tdb, dir, params: try params(dir, [])).status == 0)
        let certs = try decoded(files(dir).appendingPathComponent("certificates.csv"), from: "UTF-8")
        let era = Dictionary(uniqueKeysWithValues: certs.map { ($0["member_id"] ?? "", $0["birth_date"]! + " " + $0["birth_date_era"]!) })
        #expect(
            era == [
                "A": "1989-01-07 昭和64年1月7日", "B": "1989-01-08 平成元年1月8日", "C": "2019-04-30 平成31年4月30日",
                "D": "2019-05-01 令和元年5月1日", "E": "1989-01-07 昭和64年1月7日",
            ], "\(era)")
        #expect(certs.allSatisfy { $0["valid_from_era"] == "令和8年11月21日" && $0["issued_on_era"] == "令和8年11月21日" }, "\(certs)")
    }

    @Test("printed fields: insurer name, copay ratio with its effective date only where printed, preferred language")
    func printedFields() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("Y", ["preferred_language": "vi"]),
                FeedFiles.member("O", ["birth_date": "1954-05-06", "copay_ratio": "20"]),
                FeedFiles.member("G", ["scheme": "elderly", "birth_date": "1948-01-01", "copay_ratio": "10", "household_id": ""]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try run(tdb, dir, params: try params(dir, [])).status == 0)
        let certs = try decoded(files(dir).appendingPathComponent("certificates.csv"), from: "UTF-8")
        func c(_ id: String) -> [String: String] { certs.first { $0["member_id"] == id } ?? [:] }
        #expect(certs.allSatisfy { $0["insurer_name"] == "千代田区国民健康保険" })
        #expect(c("Y")["copay_ratio"] == "" && c("Y")["copay_effective_on"] == "" && c("Y")["preferred_language"] == "vi")
        #expect(
            c("O")["copay_ratio"] == "20" && c("O")["copay_effective_on"] == c("O")["valid_from"]
                && c("O")["copay_effective_on_era"] == "令和8年11月21日")
        #expect(c("G")["copay_ratio"] == "10" && c("G")["copay_effective_on"] == c("G")["valid_from"])
    }

    @Test(
        "killed after the commit, then an import changes an address and adds a household member: the rerun writes the same bytes",
        arguments: ["nhi_mixed_household = split", "nhi_mixed_household = stricter_class", "nhi_envelope = per_person_to_head"])
    func addressesTheRunSaw(layout: String) throws {
        func prepare() throws -> (TestDatabase, URL) {
            let tdb = try TestDatabase()
            let dir = try temporaryDirectory()
            try household(tdb, dir)
            return (tdb, dir)
        }
        let (clean, cleanDir) = try prepare()
        #expect(try run(clean, cleanDir, params: try params(cleanDir, ["vendor_encoding = cp932", layout])).status == 0)

        let (tdb, dir) = try prepare()
        let p = try params(dir, ["vendor_encoding = cp932", layout])
        let crashed = try run(tdb, dir, params: p, env: ["KAKUNIN_CRASH_AT": "after-commit"])
        #expect(crashed.status != 0 && crashed.status != 11)
        let moved = try FeedFiles.write(
            dir, "moved.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("H", ["household_id": "HH1", "postal_code": "5300001", "address": "大阪府大阪市北区梅田1丁目"]),
                FeedFiles.member("D1", ["household_id": "HH1", "household_head": "false", "given_name": "一郎"]),
                FeedFiles.member("D2", ["household_id": "HH1", "household_head": "false", "given_name": "次郎", "address": "大阪府大阪市北区梅田1丁目"]),
                FeedFiles.member("S", ["scheme": "employee", "household_id": "", "family_name": "佐藤"]),
                FeedFiles.member("N", ["household_id": "HH1", "given_name": "新"]),
            ])
        #expect(try runKakunin(["import", "members", moved.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try tdb.connect().query("SELECT address FROM member WHERE member_id = 'H'").scalar == "大阪府大阪市北区梅田1丁目")
        let rerun = try run(tdb, dir, params: p)
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        for name in [
            "certificates.csv", "eligibility_notices.csv", "apply_notices.csv", "envelopes.csv", "exceptions.csv", "inserts.csv",
            "letter_paragraphs.csv", "manifest.json",
        ] {
            let a = try Data(contentsOf: files(cleanDir).appendingPathComponent(name))
            let b = try Data(contentsOf: files(dir).appendingPathComponent(name))
            #expect(a == b, "\(name) differs after the rerun")
        }
    }

    /// The envelopes of a run as (id, class, member ids, documents, honorific), in file order.
    func envelopeRows(_ dir: URL) throws -> [[String]] {
        try decoded(files(dir).appendingPathComponent("envelopes.csv"), from: "UTF-8").map {
            [$0["envelope_id"]!, $0["mail_class"]!, $0["member_ids"]!, $0["documents"]!, $0["honorific"]!]
        }
    }

    @Test(
        "[2026-12] nhi households: split (the default) puts certificates and notices in envelopes of their own class; per_person_to_head one per member, to the head; every document in one envelope"
    )
    func householdPolicies() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try household(tdb, dir)
        let r = try run(tdb, dir, params: try params(dir, []))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)")
        #expect(
            try envelopeRows(dir) == [
                ["H-HH1+C", "tokutei_kiroku", "D2;H", "2", "様"], ["H-HH1+N", "ordinary", "D1", "1", "様"],
                ["M-S", "ordinary", "S", "1", "様"],
            ])
        let out = files(dir)
        let certs = try decoded(out.appendingPathComponent("certificates.csv"), from: "UTF-8")
        #expect(certs.allSatisfy { $0["envelope_id"] == "H-HH1+C" && $0["addressee"] == "山田 太郎" })
        let letters = try decoded(out.appendingPathComponent("inserts.csv"), from: "UTF-8")
        #expect(
            letters.map { [$0["envelope_id"]!, $0["member_id"]!] } == [
                ["H-HH1+C", "D2"], ["H-HH1+C", "H"], ["H-HH1+N", "D1"], ["M-S", "S"],
            ])
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["postage_total_yen"] as? Int == 540 && manifest["envelopes"] as? Int == 3)
        #expect(r.stdout.contains("Postage: 3 envelopes, 540 yen"), "\(r.stdout)")
        // The report lists the policy in force.
        let report = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(report.contains("<code>nhi_mixed_household</code></td><td><code>split</code><br><small>2026年12月から既定値が変わりました"), "\(report)")
        #expect(report.contains("は次の値です：<code>stricter_class</code></small>"))
        #expect(report.contains("<code>nhi_envelope</code></td><td><code>household</code>"))

        let tdb2 = try TestDatabase()
        let dir2 = try temporaryDirectory()
        try household(tdb2, dir2)
        let r2 = try run(tdb2, dir2, params: try params(dir2, ["nhi_envelope = per_person_to_head"]))
        #expect(r2.stdout.contains("[pass] every document is in exactly one envelope"), "\(r2.stdout)")
        #expect(
            try envelopeRows(dir2) == [
                ["H-HH1+D1", "ordinary", "D1", "1", "様"], ["H-HH1+D2", "tokutei_kiroku", "D2", "1", "様"],
                ["H-HH1+H", "tokutei_kiroku", "H", "1", "様"], ["M-S", "ordinary", "S", "1", "様"],
            ])
        let env2 = try decoded(files(dir2).appendingPathComponent("envelopes.csv"), from: "UTF-8")
        #expect(env2.filter { $0["envelope_id"]!.hasPrefix("H-") }.allSatisfy { $0["addressee"] == "山田 太郎" })
    }

    @Test("[2026-12] addressee text: names without an honorific, a separate honorific column in every vendor file, never 様様")
    func honorificColumn() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try household(tdb, dir)
        #expect(try run(tdb, dir, params: try params(dir, ["vendor_encoding = cp932"])).status == 0)
        for name in ["certificates.csv", "eligibility_notices.csv", "envelopes.csv"] {
            let text = try String(decoding: Data(contentsOf: files(dir).appendingPathComponent(name)), as: UTF8.self)
            let rows = try decoded(files(dir).appendingPathComponent(name), from: "CP932")
            #expect(!rows.isEmpty && rows.allSatisfy { $0["honorific"] == "様" && !$0["addressee"]!.hasSuffix("様") }, "\(name)")
            let header = text.split(separator: "\n").first!.split(separator: ",")
            #expect(
                header.suffix(2).contains("honorific") && header.firstIndex(of: "honorific")! > header.firstIndex(of: "addressee")!,
                "\(name): the column is appended after the older ones")
            #expect(!(rows.map { $0["addressee"]! + $0["honorific"]! }.joined()).contains("様様"))
        }
    }
}
