import Foundation
import KakuninBatch
import KakuninCounter
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 12 (first part): find, show, applications, void and ending special consideration,
/// through the CLI, each audited with the person.
@Suite("Counter work through the CLI", .serialized)
struct CounterTests {
    let tdb: TestDatabase
    let dir: URL
    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("A", ["family_name_kana": "ヤマダ", "given_name_kana": "タロウ", "postal_code": "100-0001"]),
                FeedFiles.member(
                    "B", ["family_name_kana": "ヤマグチ", "given_name_kana": "ハナコ", "birth_date": "1962-02-03", "postal_code": "5300001"]),
                FeedFiles.member(
                    "G", ["family_name_kana": "ガッコウ", "given_name_kana": "ジロウ", "scheme": "elderly", "birth_date": "1948-01-01"]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
    }

    func k(_ args: [String]) throws -> CommandResult { try runKakunin(args, database: tdb) }

    @Test("find by id, by kana prefix (half-width and hiragana normalised, with a birth date) and by postal code")
    func find() throws {
        var r = try k(["member", "find", "--insurer", "131016", "--kana", "ﾔﾏ", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let hits = try JSONDecoder().decode([CounterDesk.MemberHit].self, from: Data(r.stdout.utf8))
        #expect(hits.map(\.member_id) == ["B", "A"])
        r = try k(["member", "find", "--insurer", "131016", "--kana", "やま", "--birth-date", "1962-02-03"])
        #expect(r.stdout.contains("B\t") && !r.stdout.contains("A\t"), "\(r.stdout)")
        r = try k(["member", "find", "--insurer", "131016", "--kana", "ｶﾞｯｺｳ"])
        #expect(r.stdout.contains("G\t"), "voiced marks combine: \(r.stdout)")
        r = try k(["member", "find", "--insurer", "131016", "--postal-code", "1000001"])
        #expect(r.stdout.contains("A\t") && !r.stdout.contains("B\t"))
        r = try k(["member", "find", "--insurer", "131016", "--postal-code", "530-0001"])
        #expect(r.stdout.contains("B\t"))
        r = try k(["member", "find", "--insurer", "131016", "--member", "A"])
        #expect(r.stdout.contains("A\t山田 太郎\tヤマダ タロウ\t1980-04-01\tnhi"), "\(r.stdout)")
        #expect(try k(["member", "find", "--insurer", "999999", "--member", "A"]).status == 66)
        #expect(try k(["member", "find", "--insurer", "131016"]).status == 64)
    }

    @Test(
        "a malformed --insurer or --member is a usage error (64) naming the rule, checked before the database; a well-formed unknown one is 66",
        arguments: [
            (["member", "show", "--insurer", "13101a", "--member", "A"], "insurer number must be 6 or 8 digits"),
            (["member", "show", "--insurer", "1310160", "--member", "A"], "insurer number must be 6 or 8 digits"),
            (["member", "find", "--insurer", "131016", "--member", "A B"], "(got \"A B\")"),
            (["member", "show", "--insurer", "131016", "--member", String(repeating: "A", count: 21)], "--member"),
            (["counter", "issue", "--insurer", "131016", "--member", "A/1"], "(got \"A/1\")"),
            (["run", "--insurer", "12345", "--as-of", "2026-12-01"], "insurer number must be 6 or 8 digits"),
            (["staff", "scope", "somebody", "--insurer", "131016", "--insurer", "x"], "--insurer"),
            (["explain", "--insurer", "abcdef", "--member", "A"], "insurer number must be 6 or 8 digits"),
        ])
    func malformedIdentifiers(_ args: [String], said: String) throws {
        let r = try k(args + ["--database-url", "postgresql://nobody@127.0.0.1:1/none"])
        #expect(r.status == 64, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains(said), "\(r.stderr)")
        #expect(!r.stderr.contains("cannot connect"), "refused before connecting: \(r.stderr)")
    }

    @Test("a well-formed insurer the database does not know stays 66 (not found)")
    func unknownInsurerIsNotFound() throws {
        let r = try k(["member", "show", "--insurer", "999999", "--member", "A"])
        #expect(r.status == 66, "\(r.stderr)")
    }

    @Test("show: one screen, exit 66 for an unknown member, and the viewing is recorded")
    func show() throws {
        let r = try k(["member", "show", "--insurer", "131016", "--member", "A", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect((obj["member"] as? [String: Any])?["family_name"] as? String == "山田")
        for key in ["history", "myna_status", "applications", "certificates", "notices", "decisions"] {
            #expect(obj[key] is [Any], "\(key)")
        }
        let missing = try k(["member", "show", "--insurer", "131016", "--member", "NOPE"])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("insurer 131016 has no member NOPE"))
        let db = try tdb.connect()
        let viewed = try db.query("SELECT member_id, details->>'person' FROM audit_event WHERE action = 'member_viewed'").rows
        #expect(viewed.count == 1 && viewed.first?[0] == "A")
        #expect(viewed.first?[1]?.contains("@") == true, "the OS user and host")
    }

    @Test("applications: validated like the import, NO_BASIS with the elderly exception, decided once, audited")
    func applications() throws {
        var r = try k([
            "application", "add", "--insurer", "131016", "--member", "A", "--kind", "special_consideration",
            "--received-on", "2026-11-20", "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let rejected = try JSONDecoder().decode(CounterDesk.ApplicationRecord.self, from: Data(r.stdout.utf8))
        #expect(rejected.status == "rejected" && rejected.reject_reason == "NO_BASIS")
        r = try k([
            "application", "add", "--insurer", "131016", "--member", "G", "--kind", "special_consideration", "--received-on", "2026-11-20",
        ])
        #expect(r.stdout.contains("pending") && !r.stdout.contains("NO_BASIS"), "an elderly member needs no basis: \(r.stdout)")
        r = try k([
            "application", "add", "--insurer", "131016", "--member", "A", "--kind", "card_lost", "--received-on", "2026-11-21", "--status",
            "pending",
        ])
        #expect(r.status == 0)
        let id = String(r.stdout.split(separator: " ")[1].dropLast())
        // Bad input: unknown kind, a basis on card_lost, a bad date, the same application twice.
        #expect(try k(["application", "add", "--insurer", "131016", "--member", "A", "--kind", "lost"]).status == 64)
        #expect(
            try k(["application", "add", "--insurer", "131016", "--member", "A", "--kind", "card_lost", "--basis", "elderly"]).status == 64)
        #expect(
            try k(["application", "add", "--insurer", "131016", "--member", "A", "--kind", "card_lost", "--received-on", "2026-13-01"])
                .status == 64)
        #expect(
            try k(["application", "add", "--insurer", "131016", "--member", "A", "--kind", "card_lost", "--received-on", "2026-11-21"])
                .status == 65)
        #expect(try k(["application", "add", "--insurer", "131016", "--member", "ZZ", "--kind", "card_lost"]).status == 66)
        // Decide: a rejection needs a reason; a decided application is not decided again.
        #expect(try k(["application", "decide", "--insurer", "131016", "--application", id, "--reject"]).status == 64)
        r = try k(["application", "decide", "--insurer", "131016", "--application", id, "--approve"])
        #expect(r.status == 0 && r.stdout.contains("approved"), "\(r.stderr)")
        #expect(try k(["application", "decide", "--insurer", "131016", "--application", id, "--reject", "--reason", "x"]).status == 65)
        let db = try tdb.connect()
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE action IN ('application_added', 'application_decided')").scalar == "4")
        #expect(try db.query("SELECT DISTINCT source FROM application").scalar == "staff")
    }

    @Test("application add takes the 2026 bases care_need, guardianship and facility, stores and audits them; an unknown basis exits 64")
    func applicationBases2026() throws {
        for (n, basis) in ["care_need", "guardianship", "facility"].enumerated() {
            let r = try k([
                "application", "add", "--insurer", "131016", "--member", "B", "--kind", "special_consideration",
                "--basis", basis, "--received-on", "2026-11-2\(n)", "--status", "approved", "--format", "json",
            ])
            #expect(r.status == 0, "\(basis): \(r.stderr)")
            let added = try JSONDecoder().decode(CounterDesk.ApplicationRecord.self, from: Data(r.stdout.utf8))
            #expect(added.basis == basis && added.status == "approved" && added.reject_reason == nil, "\(r.stdout)")
        }
        let bad = try k([
            "application", "add", "--insurer", "131016", "--member", "B", "--kind", "special_consideration",
            "--basis", "hospital", "--received-on", "2026-11-23",
        ])
        #expect(bad.status == 64)
        #expect(
            bad.stderr.contains(
                "basis: unknown value; expected one of elderly, disability, needs_helper, care_need, guardianship, facility, other"),
            "\(bad.stderr)")
        let help = try k(["application", "add", "--help"])
        #expect(help.stdout.contains("care_need | guardianship | facility"), "\(help.stdout)")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT basis FROM application WHERE member_id = 'B' ORDER BY received_on").rows
                == [["care_need"], ["guardianship"], ["facility"]])
        #expect(
            try db.query("SELECT details->>'basis' FROM audit_event WHERE action = 'application_added' ORDER BY event_id").rows
                == [["care_need"], ["guardianship"], ["facility"]])
    }

    @Test("void and end special consideration: once, with a reason, audited; the nightly run then issues anew")
    func voidAndConsideration() throws {
        let a = try FeedFiles.write(
            dir, "a.csv", [NightlyRunTests.appHeader, "131016,B,special_consideration,2026-11-10,disability,approved"])
        #expect(try k(["import", "applications", a.path, "--report-dir", dir.path]).status == 0)
        let night = try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir)
        try #require(night.status == 0, "\(night.stdout)\(night.stderr)")
        let db = try tdb.connect()
        let b = try #require(try db.query("SELECT certificate_number FROM certificate WHERE member_id = 'B'").scalar)
        var r = try k([
            "consideration", "end", "--insurer", "131016", "--member", "B", "--on", "2026-11-25", "--reason", "no longer needed",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try db.query("SELECT consideration_ended_on::text FROM certificate WHERE member_id = 'B'").scalar == "2026-11-25")
        #expect(try k(["consideration", "end", "--insurer", "131016", "--member", "B", "--reason", "again"]).status == 65)
        #expect(try k(["certificate", "void", "--insurer", "131016", "--certificate", b]).status == 64, "a reason is required")
        r = try k(["certificate", "void", "--insurer", "131016", "--certificate", b, "--reason", "issued in error", "--on", "2026-11-26"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try k(["certificate", "void", "--insurer", "131016", "--certificate", b, "--reason", "again"]).status == 65)
        #expect(try k(["certificate", "void", "--insurer", "131016", "--certificate", "999", "--reason", "x"]).status == 66)
        #expect(
            try db.query("SELECT status, voided_on::text, void_reason FROM certificate WHERE member_id = 'B'").rows
                == [["voided", "2026-11-26", "issued in error"]])
        // Both actions are in the audit trail, with the person and the certificate's change.
        #expect(
            try db.query("SELECT count(*) FROM audit_event WHERE action IN ('certificate_voided', 'consideration_ended')").scalar == "2")
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE action = 'certificate_changed'").scalar == "2")
        // B holds no active certificate any more: the next run issues one.
        #expect(try nightly(tdb, "2026-11-27", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        #expect(try db.query("SELECT count(*) FROM certificate WHERE member_id = 'B' AND status = 'active'").scalar == "1")
    }

    @Test("returned mail: recorded once, the member held with MAIL_RETURNED until an import changes the address")
    func returnedMail() throws {
        let out = dir.appendingPathComponent("out")
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        let db = try tdb.connect()
        let a = try db.query("SELECT certificate_number FROM certificate WHERE member_id = 'A'").scalar!
        var r = try k(["certificate", "return", "--insurer", "131016", "--certificate", a, "--on", "2026-11-25", "--note", "宛所に尋ねあたりません"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try k(["certificate", "return", "--insurer", "131016", "--certificate", a]).status == 65, "recorded once")
        #expect(try k(["certificate", "return", "--insurer", "131016", "--certificate", "999"]).status == 66)
        #expect(try k(["certificate", "return", "--insurer", "131016", "--certificate", a, "--on", "25/11/2026"]).status == 64)
        // A certificate handed over at the counter was never mailed.
        try db.execute(
            """
            INSERT INTO certificate (insurer_number, certificate_number, member_id, kind, reasons, valid_from, valid_to, issued_on)
            VALUES ('131016', 500, 'B', 'issue', '{NO_CARD}', '2026-11-21', '2027-07-31', '2026-11-21')
            """)
        #expect(try k(["certificate", "return", "--insurer", "131016", "--certificate", "500"]).status == 65)
        try db.execute("DELETE FROM certificate WHERE certificate_number = 500")
        let show = try k(["member", "show", "--insurer", "131016", "--member", "A"])
        #expect(show.stdout.contains("not mailed again until the address changes"), "\(show.stdout)")
        // At renewal time A is held, not mailed.
        r = try nightly(tdb, "2027-06-25", out: out, params: dir)
        #expect(r.status == 11, "\(r.stdout)\(r.stderr)")
        var d = try NightlyRunTests().decisions(tdb, run: 2)
        #expect(d["A"]?[0...1] == ["held", "MAIL_RETURNED;MYNA_STATUS_UNKNOWN"], "\(d["A"] ?? [])")
        // A new address from the core system: the next night renews.
        let moved = try FeedFiles.write(
            dir, "moved.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member(
                    "A", ["family_name_kana": "ヤマダ", "given_name_kana": "タロウ", "postal_code": "5300001", "address": "大阪府大阪市北区梅田1丁目"]),
                FeedFiles.member(
                    "B", ["family_name_kana": "ヤマグチ", "given_name_kana": "ハナコ", "birth_date": "1962-02-03", "postal_code": "5300001"]),
                FeedFiles.member(
                    "G", ["family_name_kana": "ガッコウ", "given_name_kana": "ジロウ", "scheme": "elderly", "birth_date": "1948-01-01"]),
            ])
        #expect(try k(["import", "members", moved.path, "--report-dir", dir.path]).status == 0)
        r = try nightly(tdb, "2027-06-26", out: out, params: dir)
        d = try NightlyRunTests().decisions(tdb, run: 3)
        #expect(d["A"]?[0...1] == ["renew", "MYNA_STATUS_UNKNOWN"], "\(d["A"] ?? [])")
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE action = 'mail_returned'").scalar == "1")
    }
}
