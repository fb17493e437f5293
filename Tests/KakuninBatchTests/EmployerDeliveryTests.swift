import Foundation
import KakuninBatch
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 31 [2026-12]: employee_delivery = employer (事業主経由, SPEC.md 5.1), through the CLI.
@Suite("Delivery through employers: establishment envelopes and list", .serialized)
struct EmployerDeliveryTests {
    let mail = MailFilesTests()

    /// An nhi household; employee members of establishment E001 (a certificate and a notice),
    /// one of them in 任意継続, one of an establishment the feed does not know, one of E002
    /// (no address), one without an establishment.
    func fixture(_ tdb: TestDatabase, _ dir: URL, establishmentName: String = "かくにん製作所") throws {
        let all = FeedFiles.allMemberColumns
        func employee(_ id: String, _ more: [String: String]) -> String {
            FeedFiles.member(id, ["scheme": "employee", "household_id": "", "household_head": "false"].merging(more) { $1 }, columns: all)
        }
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.fullMemberHeader,
                FeedFiles.member("H", ["household_id": "HH1"], columns: all),
                employee("A1", ["establishment_id": "E001", "given_name": "一郎"]),
                employee("A2", ["establishment_id": "E001", "given_name": "二郎"]),
                employee("V", ["establishment_id": "E001", "voluntary_continuation": "true"]),
                employee("U", ["establishment_id": "E999"]),
                employee("X", ["establishment_id": "E002"]),
                employee("Z", [:]),
            ])
        let s = try FeedFiles.write(dir, "s.csv", [MailFilesTests.mynaHeader, "131016,A2,\(MailFilesTests.activeCard)"])
        let e = try FeedFiles.write(
            dir, "e.csv",
            [
                EstablishmentsFeedTests.header,
                EstablishmentsFeedTests.row("E001", ["insurer_number": "131016", "name": establishmentName, "address_extra": ""]),
                EstablishmentsFeedTests.row("E002", ["insurer_number": "131016", "name": "住所なし商事", "postal_code": "", "address": ""]),
            ])
        for (feed, file) in [("members", m), ("myna-status", s), ("establishments", e)] {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(feed): \(r.stdout)\(r.stderr)")
        }
    }

    func rows(_ dir: URL, _ name: String, _ encoding: String = "UTF-8") throws -> [[String: String]] {
        try mail.decoded(mail.files(dir).appendingPathComponent(name), from: encoding)
    }

    @Test(
        "one envelope per establishment (御中, its name and contact, the certificate class), its list in enclosing order; 任意継続, unknown and no establishment go home; no address holds; every document in exactly one envelope"
    )
    func employerLayout() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try fixture(tdb, dir)
        let r = try mail.run(tdb, dir, params: try mail.params(dir, ["employee_delivery = employer"]))
        #expect(r.status == 11, "X is held: \(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)")
        let envelopes = try rows(dir, "envelopes.csv")
        #expect(
            envelopes.map { [$0["envelope_id"]!, $0["member_ids"]!, $0["documents"]!, $0["honorific"]!, $0["mail_class"]!] } == [
                ["E-E001", "A1;A2", "2", "御中", "tokutei_kiroku"], ["H-HH1+C", "H", "1", "様", "tokutei_kiroku"],
                ["M-U", "U", "1", "様", "tokutei_kiroku"], ["M-V", "V", "1", "様", "tokutei_kiroku"],
                ["M-Z", "Z", "1", "様", "tokutei_kiroku"],
            ])
        let e1 = try #require(envelopes.first)
        #expect(
            e1["addressee"] == "かくにん製作所 人事部 健康保険担当" && e1["postal_code"] == "1000005"
                && e1["address"] == "東京都千代田区丸の内1丁目1番1号" && e1["postage_yen"] == "320")
        #expect(try rows(dir, "certificates.csv").first { $0["member_id"] == "A1" }?["honorific"] == "御中")
        #expect(try rows(dir, "eligibility_notices.csv").first { $0["member_id"] == "A2" }?["addressee"] == "かくにん製作所 人事部 健康保険担当")
        // The list the employer checks: each document of the envelope, in the order it is enclosed.
        let number = try #require(try rows(dir, "certificates.csv").first { $0["member_id"] == "A1" }?["certificate_number"])
        let list = try rows(dir, "establishment_list.csv")
        #expect(
            list.map {
                [
                    $0["envelope_id"]!, $0["establishment_id"]!, $0["establishment"]!, $0["position"]!, $0["member_id"]!,
                    $0["given_name"]!, $0["document"]!, $0["certificate_number"]!,
                ]
            } == [
                ["E-E001", "E001", "かくにん製作所 人事部 健康保険担当", "1", "A1", "一郎", "certificate", number],
                ["E-E001", "E001", "かくにん製作所 人事部 健康保険担当", "2", "A2", "二郎", "eligibility_notice", ""],
            ])
        #expect(try rows(dir, "inserts.csv").filter { $0["envelope_id"] == "E-E001" }.map { $0["member_id"]! } == ["A1", "A2"])
        // X waits: its establishment has no address.
        let held = try rows(dir, "exceptions.csv").filter { $0["member_id"] == "X" }
        #expect(held.count == 1 && held[0]["outcome"] == "held" && held[0]["reasons"]!.contains("ESTABLISHMENT_ADDRESS_MISSING"))
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: mail.files(dir).appendingPathComponent("manifest.json")))
            as! [String: Any]
        let files = (manifest["files"] as! [[String: Any]])
        #expect(files.first { $0["name"] as? String == "establishment_list.csv" }?["records"] as? Int == 2)
        #expect(manifest["envelopes"] as? Int == 5 && manifest["postage_total_yen"] as? Int == 5 * 320)
        // What staff must do, in the CLI's explanation.
        let explain = try runKakunin(["explain", "--insurer", "131016", "--member", "X", "--as-of", "2026-11-21"], database: tdb)
        #expect(
            explain.stdout.contains("ESTABLISHMENT_ADDRESS_MISSING")
                && explain.stdout.contains("import establishments.csv with the address"),
            "\(explain.stdout)\(explain.stderr)")
    }

    @Test("home delivery (the default) ignores establishments: every member mailed home, no establishment list")
    func homeDelivery() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try fixture(tdb, dir)
        let r = try mail.run(tdb, dir, params: try mail.params(dir, []))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try rows(dir, "envelopes.csv").map { $0["envelope_id"]! } == ["H-HH1+C", "M-A1", "M-A2", "M-U", "M-V", "M-X", "M-Z"])
        #expect(!FileManager.default.fileExists(atPath: mail.files(dir).appendingPathComponent("establishment_list.csv").path))
    }

    @Test(
        "an establishment of another insurer with the same id takes no member's mail: the envelope key looks the id up among the insurer's own establishments"
    )
    func otherInsurersEstablishment() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try fixture(tdb, dir)
        let other = try FeedFiles.write(
            dir, "e2.csv",
            [
                EstablishmentsFeedTests.header,
                EstablishmentsFeedTests.row("E999", ["insurer_number": "06139999", "name": "よその保険者の事業所"]),
            ])
        let i = try runKakunin(["import", "establishments", other.path, "--report-dir", dir.path], database: tdb)
        #expect(i.status == 0, "\(i.stdout)\(i.stderr)")
        let r = try mail.run(tdb, dir, params: try mail.params(dir, ["employee_delivery = employer"]))
        #expect(r.status == 11, "X is held: \(r.stdout)\(r.stderr)")
        #expect(try rows(dir, "envelopes.csv").map { $0["envelope_id"]! } == ["E-E001", "H-HH1+C", "M-U", "M-V", "M-Z"])
        #expect(try rows(dir, "establishment_list.csv").map { $0["member_id"]! } == ["A1", "A2"])
    }

    @Test("killed after the commit, the rerun writes the employer layout's files byte for byte")
    func crashRerun() throws {
        func prepare() throws -> (TestDatabase, URL) {
            let tdb = try TestDatabase()
            let dir = try temporaryDirectory()
            try fixture(tdb, dir)
            return (tdb, dir)
        }
        let layout = ["vendor_encoding = cp932", "employee_delivery = employer"]
        let (clean, cleanDir) = try prepare()
        #expect(try mail.run(clean, cleanDir, params: try mail.params(cleanDir, layout)).status == 11)
        let (tdb, dir) = try prepare()
        let p = try mail.params(dir, layout)
        let crashed = try mail.run(tdb, dir, params: p, env: ["KAKUNIN_CRASH_AT": "after-commit"])
        #expect(crashed.status != 0 && crashed.status != 11, "\(crashed.stdout)\(crashed.stderr)")
        let rerun = try mail.run(tdb, dir, params: p)
        #expect(rerun.status == 11, "\(rerun.stdout)\(rerun.stderr)")
        for name in [
            "certificates.csv", "eligibility_notices.csv", "envelopes.csv", "establishment_list.csv", "exceptions.csv",
            "inserts.csv", "manifest.json",
        ] {
            let a = try Data(contentsOf: mail.files(cleanDir).appendingPathComponent(name))
            let b = try Data(contentsOf: mail.files(dir).appendingPathComponent(name))
            #expect(a == b, "\(name) differs after the rerun")
        }
        #expect(try rows(dir, "establishment_list.csv", "CP932").count == 2)
    }

    @Test("CP932: an establishment name with 𠮷 cannot be printed: its members' documents wait in exceptions, no envelope or list row")
    func cp932Establishment() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try fixture(tdb, dir, establishmentName: "𠮷野工業")
        let r = try mail.run(tdb, dir, params: try mail.params(dir, ["vendor_encoding = cp932", "employee_delivery = employer"]))
        #expect(r.status == 11, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)")
        let waiting = try rows(dir, "exceptions.csv").filter { $0["code_point"] == "U+20BB7" }
        #expect(Set(waiting.map { $0["member_id"]! }) == ["A1", "A2"] && waiting.allSatisfy { $0["field"] == "addressee" })
        #expect(try rows(dir, "envelopes.csv", "CP932").allSatisfy { $0["envelope_id"] != "E-E001" })
        #expect(try rows(dir, "establishment_list.csv", "CP932").isEmpty)
    }

    @Test(
        "a returned certificate that went through the employer is recorded against the establishment; its address changing (establishments.csv) lets the member be mailed again; one mailed home is not"
    )
    func returnedThroughEmployer() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try fixture(tdb, dir)
        #expect(try mail.run(tdb, dir, params: try mail.params(dir, ["employee_delivery = employer"])).status == 11)
        let certs = try rows(dir, "certificates.csv")
        let a1 = try #require(certs.first { $0["member_id"] == "A1" }?["certificate_number"])
        let u = try #require(certs.first { $0["member_id"] == "U" }?["certificate_number"])
        var r = try runKakunin(["certificate", "return", "--insurer", "131016", "--certificate", a1, "--on", "2026-11-28"], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("was delivered through establishment E001 and is recorded as returned from it"), "\(r.stdout)")
        r = try runKakunin(["certificate", "return", "--insurer", "131016", "--certificate", u, "--on", "2026-11-28"], database: tdb)
        #expect(
            r.stdout.contains("recorded as returned on 2026-11-28; the member is not mailed again until the address changes"), "\(r.stdout)"
        )
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT member_id, establishment_id FROM mail_return ORDER BY member_id").rows == [["A1", "E001"], ["U", nil]])
        func returns(_ member: String) throws -> [String: Any] {
            let show = try runKakunin(["member", "show", "--insurer", "131016", "--member", member, "--format", "json"], database: tdb)
            let json = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as! [String: Any]
            return try #require((json["mail_returns"] as? [[String: Any]])?.first)
        }
        var shown = try returns("A1")
        #expect(shown["establishment_id"] as? String == "E001" && shown["state"] as? String == "stopped")
        #expect((shown["what_to_do"] as? String)?.contains("came back from establishment E001") == true, "\(shown)")
        // The member's own address changing does not help: the envelope went to the establishment.
        let all = FeedFiles.allMemberColumns
        let moved = try FeedFiles.write(
            dir, "moved.csv",
            [
                FeedFiles.fullMemberHeader,
                FeedFiles.member(
                    "A1",
                    [
                        "scheme": "employee", "household_id": "", "household_head": "false", "establishment_id": "E001",
                        "given_name": "一郎", "address": "東京都港区芝公園4丁目2番8号",
                    ], columns: all),
            ])
        #expect(try runKakunin(["import", "members", moved.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try returns("A1")["state"] as? String == "stopped")
        let e = try FeedFiles.write(
            dir, "e2.csv",
            [
                EstablishmentsFeedTests.header,
                EstablishmentsFeedTests.row("E001", ["insurer_number": "131016", "name": "かくにん製作所", "address": "東京都千代田区大手町1丁目1番1号"]),
            ])
        #expect(try runKakunin(["import", "establishments", e.path, "--report-dir", dir.path], database: tdb).status == 0)
        shown = try returns("A1")
        #expect(shown["state"] as? String == "address_changed", "\(shown)")
        #expect(try returns("U")["establishment_id"] as? String == nil)
    }

    @Test("a returned notice that went through the employer is recorded against the establishment, like a certificate")
    func noticeReturnedThroughEmployer() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try fixture(tdb, dir)
        #expect(try mail.run(tdb, dir, params: try mail.params(dir, ["employee_delivery = employer"])).status == 11)
        #expect(try rows(dir, "eligibility_notices.csv").first { $0["member_id"] == "A2" } != nil)
        let r = try runKakunin(
            ["notice", "return", "--insurer", "131016", "--member", "A2", "--kind", "eligibility_notice", "--on", "2026-11-28"],
            database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("was delivered through establishment E001 and is recorded as returned from it"), "\(r.stdout)")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT member_id, document, establishment_id FROM mail_return").rows == [["A2", "eligibility_notice", "E001"]])
        let show = try runKakunin(["member", "show", "--insurer", "131016", "--member", "A2", "--format", "json"], database: tdb)
        let json = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as! [String: Any]
        #expect((json["notices"] as? [[String: Any]])?.first?["establishment_id"] as? String == "E001", "\(show.stdout)")
        let shown = try #require((json["mail_returns"] as? [[String: Any]])?.first)
        #expect((shown["what_to_do"] as? String)?.contains("came back from establishment E001") == true, "\(shown)")
    }

    /// A temporary folder with `feeds/`: 4,000 generated members with their optional entries
    /// and establishments.csv (seed 42).
    func generatedFeeds() throws -> (dir: URL, feeds: URL) {
        let dir = try temporaryDirectory()
        let feeds = dir.appendingPathComponent("feeds")
        let g = try runKakunin(
            ["generate", "--members", "4000", "--seed", "42", "--bad-rate", "0", "--optional-entries", "--out", feeds.path],
            database: nil)
        #expect(g.stdout.contains("establishments.csv (39 rows)"), "\(g.stdout)")
        return (dir, feeds)
    }

    /// The generated feeds imported; the employee insurer 06139999 delivers through its establishments.
    func importGenerated(_ tdb: TestDatabase, _ feeds: URL, _ dir: URL) throws {
        for (feed, file) in [
            ("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv"),
            ("establishments", "establishments.csv"),
        ] {
            let r = try runKakunin(["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(feed): \(r.stdout)\(r.stderr)")
        }
        let conf = try FeedFiles.write(dir, "p.conf", ["insurer_name = 全国健康保険協会 東京支部", "employee_delivery = employer"])
        #expect(
            try runKakunin(["insurer", "params", "set", "--insurer", "06139999", "--from", "2026-04-01", conf.path], database: tdb).status
                == 0)
    }

    @Test(
        "read in two halves of the members (split at the median home key), each in envelope order and merged row by row, the employer layout writes the same files byte for byte as read whole"
    )
    func splitAtHomeKeysMerged() throws {
        let (dir, feeds) = try generatedFeeds()
        var files: [[String: Data]] = []
        var boundary = ""
        for split in ["1", "100000000"] {
            let (r, written) = try reconciledRun(feeds, dir, out: "out-\(split)", environment: ["KAKUNIN_SPLIT_ABOVE": split])
            #expect(r.stderr.contains("the second (from M-") == (split == "1"), "\(r.stderr.prefix(3000))")
            if split == "1", let from = r.stderr.range(of: "the second (from M-") {
                boundary = String(r.stderr[from.upperBound...].prefix { $0 != ")" })
            }
            files.append(written)
        }
        #expect(files[0].keys.sorted() == files[1].keys.sorted() && files[0]["establishment_list.csv"] != nil)
        for (name, data) in files[0] { #expect(data == files[1][name], "\(name) differs") }
        // The merge was needed: an establishment's members lie on both sides of the boundary,
        // so the halves concatenated would have broken its envelope in two.
        let listed = try mail.decoded(
            dir.appendingPathComponent("out-1/06139999/2026-12-01/nightly/establishment_list.csv"), from: "UTF-8")
        let sides = Dictionary(grouping: listed, by: { $0["envelope_id"]! }).mapValues { Set($0.map { $0["member_id"]! < boundary }) }
        #expect(!boundary.isEmpty && sides.values.contains { $0.count == 2 }, "boundary \(boundary)")
    }

    @Test(
        "a failure in the middle of a merged read (two halves, employer layout) cancels both reads; the rerun finishes and writes the same files as a run that never failed"
    )
    func mergedReadFailsCleanly() throws {
        let (dir, feeds) = try generatedFeeds()
        var files: [[String: Data]] = []
        for failing in [true, false] {
            let (_, written) = try reconciledRun(feeds, dir, out: "out-\(failing)", environment: ["KAKUNIN_SPLIT_ABOVE": "1"]) { runWith in
                guard failing else { return }
                let failed = try runWith(["KAKUNIN_FAIL_AT": "mail:300"])
                #expect(failed.status != 0 && failed.status != 11, "\(failed.stdout)\(failed.stderr)")
                #expect(failed.stderr.contains("failure injected at mail:300"), "\(failed.stderr.suffix(2000))")
            }
            files.append(written)
        }
        #expect(!files[0].isEmpty && files[0].keys.sorted() == files[1].keys.sorted())
        for (name, data) in files[0] { #expect(data == files[1][name], "\(name) differs") }
    }

    /// 06139999's run on a fresh database with the generated feeds (`importGenerated`), into
    /// `dir/out`, checked to reconcile every document in exactly one envelope; `before` may first
    /// run it with more environment (e.g. a failure injected). The run's result and its CSV files.
    private func reconciledRun(
        _ feeds: URL, _ dir: URL, out: String, environment: [String: String],
        before: ((_ runWith: ([String: String]) throws -> CommandResult) throws -> Void) = { _ in }
    ) throws -> (CommandResult, [String: Data]) {
        let tdb = try TestDatabase()
        try importGenerated(tdb, feeds, dir)
        let folder = dir.appendingPathComponent(out)
        let args = ["run", "--insurer", "06139999", "--as-of", "2026-12-01", "--out", folder.path]
        try before { extra in try runKakunin(args, database: tdb, environment: environment.merging(extra) { $1 }) }
        let r = try runKakunin(args, database: tdb, environment: environment)
        #expect(r.status == 11 && r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)\(r.stderr)")
        return (r, try csvFiles(folder))
    }

    /// The CSV files of a run's published folder, by name.
    private func csvFiles(_ out: URL) throws -> [String: Data] {
        let folder = out.appendingPathComponent("06139999/2026-12-01/nightly")
        var written: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".csv") {
            written[name] = try Data(contentsOf: folder.appendingPathComponent(name))
        }
        return written
    }

    @Test(
        "end to end on generated feeds: the employee insurer delivers through its establishments; every document is in exactly one envelope (read back from the published files); 任意継続 and unknown establishments go home; the establishment without an address holds its members"
    )
    func generatedEmployerInsurer() throws {
        let tdb = try TestDatabase()
        let (dir, feeds) = try generatedFeeds()
        let insurer = "06139999"
        try importGenerated(tdb, feeds, dir)
        let r = try runKakunin(
            ["run", "--insurer", insurer, "--as-of", "2026-12-01", "--out", dir.appendingPathComponent("out").path], database: tdb)
        #expect(r.status == 11, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)")
        let out = dir.appendingPathComponent("out/\(insurer)/2026-12-01/nightly")
        func file(_ name: String) throws -> [[String: String]] { try mail.decoded(out.appendingPathComponent(name), from: "UTF-8") }
        // Every document in exactly one envelope of envelopes.csv, counted there.
        var envelopeOf: [String: String] = [:]
        for name in ["certificates.csv", "eligibility_notices.csv", "apply_notices.csv"] {
            for d in try file(name) {
                #expect(
                    envelopeOf.updateValue(d["envelope_id"]!, forKey: d["member_id"]!) == nil, "member \(d["member_id"]!) has two documents"
                )
            }
        }
        let envelopes = try file("envelopes.csv")
        #expect(Set(envelopes.map { $0["envelope_id"]! }).count == envelopes.count)
        var held: [String: Int] = [:]
        for e in envelopes {
            let members = e["member_ids"]!.split(separator: ";").map(String.init)
            #expect(members.count == Int(e["documents"]!) && members.allSatisfy { envelopeOf[$0] == e["envelope_id"] }, "\(e)")
            for m in members { held[m, default: 0] += 1 }
        }
        #expect(held.count == envelopeOf.count && held.values.allSatisfy { $0 == 1 })
        // Who goes where.
        let members = try mail.decoded(feeds.appendingPathComponent("members.csv"), from: "UTF-8").filter {
            $0["insurer_number"] == insurer
        }
        var voluntaryHome = 0
        var unknownHome = 0
        var throughEmployer = 0
        for m in members {
            guard let envelope = envelopeOf[m["member_id"]!] else { continue }
            let est = m["establishment_id"]!
            let k = Int(est.dropFirst()) ?? 0
            if m["voluntary_continuation"] == "true" || est.isEmpty || !FeedGenerator.establishmentKnown(k) {
                #expect(envelope == "M-" + m["member_id"]!, "\(m["member_id"]!)")
                if m["voluntary_continuation"] == "true" && !est.isEmpty { voluntaryHome += 1 }
                if !est.isEmpty && !FeedGenerator.establishmentKnown(k) { unknownHome += 1 }
            } else {
                #expect(envelope == "E-" + est && est != FeedGenerator.establishmentWithoutAddress, "\(m["member_id"]!)")
                throughEmployer += 1
            }
        }
        #expect(voluntaryHome > 0 && unknownHome > 0 && throughEmployer > 100, "\(voluntaryHome) \(unknownHome) \(throughEmployer)")
        // The list covers exactly the documents in establishment envelopes; E00007's members wait.
        let list = try file("establishment_list.csv")
        #expect(
            Set(list.map { "\($0["envelope_id"]!)/\($0["member_id"]!)" })
                == Set(envelopeOf.filter { $0.value.hasPrefix("E-") }.map { "\($0.value)/\($0.key)" }))
        #expect(list.count == throughEmployer)
        let waiting = try file("exceptions.csv").filter { $0["reasons"]!.contains("ESTABLISHMENT_ADDRESS_MISSING") }
        #expect(!waiting.isEmpty)
        let e7 = Set(members.filter { $0["establishment_id"] == FeedGenerator.establishmentWithoutAddress }.map { $0["member_id"]! })
        #expect(waiting.allSatisfy { e7.contains($0["member_id"]!) })
    }
}
