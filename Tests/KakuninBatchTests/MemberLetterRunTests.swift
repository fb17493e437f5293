import Foundation
import Testing
import KakuninBatch
import KakuninCore
import KakuninStore
import KakuninTesting
import KakuninRuntime

/// The member letters of a run through the CLI (SPEC.md 5.2): generated members, each given
/// one of the letter languages in turn (and a missing, an unknown and a `fil` one), decided;
/// every mailed document has its letter, in the member's language, whose facts are the decision's.
@Suite("Member letters through the CLI", .serialized)
struct MemberLetterRunTests {
    static let languages = LetterCatalog.languages + ["", "fr", "fil", "pt-BR", "zh-Hans"]
    static let asOf = "2026-12-01"

    /// Generated members with their languages rewritten in turn, imported; the contact set.
    func prepared(members: Int = 1200, parameters: [String] = []) throws -> (TestDatabase, URL) {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", String(members), "--seed", "33", "--out", feeds.path], database: nil).status == 0)
        let url = feeds.appendingPathComponent("members.csv")
        var rows = try csvRows(try String(contentsOf: url, encoding: .utf8))
        let column = try #require(rows[0].firstIndex(of: "preferred_language"))
        for i in rows.indices.dropFirst() where rows[i].count > column { rows[i][column] = Self.languages[i % Self.languages.count] }
        try (rows.map { $0.map(FeedFiles.quote).joined(separator: ",") }.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        let tdb = try TestDatabase()
        for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
            let r = try runKakunin(["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", feeds.appendingPathComponent("r").path], database: tdb)
            #expect(r.status == 0 || r.status == 10, "\(r.stderr)")
        }
        #expect(try setParameters(tdb, from: "2026-04-01", ["insurer_name = 千代田区国民健康保険", "contact_phone = 03-3264-2111",
                                                              "contact_hours = 平日 8:30–17:15", "contact_languages = ja,en,zh"] + parameters).status == 0)
        return (tdb, feeds)
    }

    func records(_ url: URL) throws -> [[String: String]] {
        let rows = try csvRows(try String(contentsOf: url, encoding: .utf8))
        return rows.dropFirst().filter { $0.count == rows[0].count }.map { Dictionary(uniqueKeysWithValues: zip(rows[0], $0)) }
    }

    /// The file languages a member's `preferred_language` gets.
    func expected(_ tag: String) -> [String] { MemberLetter.languages(for: tag.isEmpty ? nil : tag) }

    @Test("every mailed document has one letter in the member's language whose reason, validity date and name are the decision's")
    func lettersMatchDecisions() throws {
        let (tdb, feeds) = try prepared()
        let out = try temporaryDirectory()
        let r = try nightly(tdb, Self.asOf, out: out, params: feeds)
        #expect(r.status == 0 || r.status == 11, "\(r.stderr)")
        #expect(r.stdout.contains("[pass] one member letter per mailed document"), "\(r.stdout)")
        let dir = out.appendingPathComponent("131016/\(Self.asOf)/nightly")
        let inserts = try records(dir.appendingPathComponent("inserts.csv"))
        let db = try tdb.connect()
        var decisions: [String: [String?]] = [:]
        for row in try db.query("""
            SELECT d.member_id, d.outcome, array_to_string(d.reasons, ';'), d.valid_from::text, d.valid_to::text, m.family_name, m.given_name,
                   coalesce(m.preferred_language, ''), d.certificate_number::text
            FROM decision d JOIN member m USING (member_id) WHERE m.insurer_number = '131016'
            """).rows { decisions[row[0]!] = row }
        let mailed = try ["certificates.csv", "eligibility_notices.csv", "apply_notices.csv"].reduce(0) { $0 + (try records(dir.appendingPathComponent($1)).count) }
        #expect(inserts.count == mailed && mailed > 200, "\(inserts.count) letters for \(mailed) documents")
        var languagesSeen = Set<String>(), reasonsSeen = Set<String>()
        for letter in inserts {
            let member = letter["member_id"]!
            let d = try #require(decisions[member], "\(member)")
            let (outcome, reasons, from, to) = (d[1]!, (d[2] ?? "").split(separator: ";").map(String.init), d[3].flatMap { LocalDate($0) }, d[4].flatMap { LocalDate($0) })
            let langs = expected(d[7]!)
            #expect(letter["language"] == langs.joined(separator: "+"), "\(member): \(d[7]!)")
            #expect(letter["document"] == LetterDocument(kind: outcome).rawValue, "\(member) \(outcome)")
            #expect(letter["certificate_number"] == (d[8] ?? ""), "\(member)")
            #expect(letter["greeting"]!.contains(d[5]!) && (d[6].map { letter["greeting"]!.contains($0) } ?? true), "the name as printed: \(member)")
            for l in langs {
                let texts = try #require(LetterCatalog.texts[l])
                #expect(letter["why"]!.contains(texts["outcome.\(outcome)"]!), "\(member) \(l) \(outcome)")
                for code in reasons {
                    #expect(letter["why"]!.contains(texts["reason.\(code)"]!), "\(member) \(l) \(code)")
                    reasonsSeen.insert(code)
                }
                if LetterDocument(kind: outcome) == .certificate, let from, let to {
                    let pattern = texts["format.date"]!
                    #expect(letter["validity"]!.contains(LetterContent.format(from, pattern: pattern)) && letter["validity"]!.contains(LetterContent.format(to, pattern: pattern)),
                            "\(member) \(l): \(letter["validity"]!)")
                }
                #expect(letter["insurer_contact"]!.contains("03-3264-2111") && letter["insurer_contact"]!.contains("平日 8:30–17:15"))
                #expect(letter["help_lines"]!.contains("0120-0178-26") && letter["help_lines"]!.contains("0120-95-0178"))
            }
            languagesSeen.insert(letter["language"]!)
        }
        #expect(languagesSeen == Set(LetterCatalog.languages + ["ja+en"]), "\(languagesSeen.sorted())")
        // Every reason of a mailed decision is one the letters explained.
        let mailedReasons = try db.query("""
            SELECT DISTINCT unnest(d.reasons) FROM decision d JOIN member m USING (member_id)
            WHERE m.insurer_number = '131016' AND d.outcome IN ('issue', 'renew', 'issue_on_application', 'eligibility_notice', 'apply_notice')
              AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.certificate_number = d.certificate_number AND c.mail_exception IS NOT NULL)
            """).rows.map { $0[0]! }
        #expect(Set(mailedReasons) == reasonsSeen, "\(Set(mailedReasons).symmetricDifference(reasonsSeen))")
        #expect(reasonsSeen.count >= 5, "\(reasonsSeen.sorted())")

        // One HTML file per letter language, one page per letter, fonts named, UTF-8 stated.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["inserts"] as? Int == inserts.count && manifest["inserts_encoding"] as? String == "UTF-8")
        let files = (manifest["files"] as! [[String: Any]])
        let listed = Dictionary(uniqueKeysWithValues: files.map { ($0["name"] as! String, $0) })
        #expect(listed["inserts.csv"]?["records"] as? Int == inserts.count && listed["inserts.csv"]?["encoding"] as? String == "UTF-8")
        for language in languagesSeen {
            let name = "letters_\(language.replacingOccurrences(of: "+", with: "_")).html"
            let html = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            let pages = html.components(separatedBy: "<section class=\"letter").count - 1
            #expect(pages == inserts.filter { $0["language"] == language }.count && listed[name]?["records"] as? Int == pages, "\(name)")
            #expect(html.contains("size: A4") && html.contains("Noto Sans"), "\(name)")
        }
        // The envelope list counts each envelope's letters.
        let envelopes = try records(dir.appendingPathComponent("envelopes.csv"))
        #expect(envelopes.allSatisfy { $0["inserts"] == $0["documents"] })
    }

    @Test("the vendor's CP932 does not limit the letters: inserts.csv is UTF-8 with Thai and Nepali, the manifest says so")
    func lettersStayUTF8WithCP932() throws {
        let (tdb, feeds) = try prepared(members: 400, parameters: ["vendor_encoding = cp932"])
        let out = try temporaryDirectory()
        let r = try nightly(tdb, Self.asOf, out: out, params: feeds)
        #expect(r.status == 0 || r.status == 11, "\(r.stderr)")
        let dir = out.appendingPathComponent("131016/\(Self.asOf)/nightly")
        let text = try String(contentsOf: dir.appendingPathComponent("inserts.csv"), encoding: .utf8)
        #expect(text.contains("บัตร My Number") && text.contains("कार्ड"))
        let manifest = try String(contentsOf: dir.appendingPathComponent("manifest.json"), encoding: .utf8)
        #expect(manifest.contains("\"encoding\" : \"CP932 (Windows-31J)\"") && manifest.contains("\"inserts_encoding\" : \"UTF-8\""))
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
    }

    /// The letter pages of an HTML file.
    static func pages(_ html: String) -> [String] {
        html.components(separatedBy: "<section class=\"letter").dropFirst().map { "<section class=\"letter" + $0.components(separatedBy: "</section>")[0] }
    }

    static func withoutReference(_ page: String) -> String {
        page.split(separator: "\n").filter { !$0.hasPrefix("<p class=\"ref\">") }.joined(separator: "\n")
    }

    @Test("the counter prints the same letter as the mail, in the member's language or another one")
    func counterPrintsTheLetter() throws {
        let tdb = try TestDatabase(), dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader,
            FeedFiles.member("P", ["preferred_language": "pt-BR", "family_name": "SILVA", "given_name": "MARIA", "family_name_kana": "シルバ", "given_name_kana": "マリア"])])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try setParameters(tdb, from: "2026-04-01", ["insurer_name = 千代田区国民健康保険", "contact_phone = 03-3264-2111"]).status == 0)
        let out = dir.appendingPathComponent("out")
        let r = try nightly(tdb, Self.asOf, out: out, params: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let mailed = try #require(try records(out.appendingPathComponent("131016/\(Self.asOf)/nightly/inserts.csv")).first)
        #expect(mailed["language"] == "pt" && mailed["member_id"] == "P")
        let cert = dir.appendingPathComponent("c.html"), letter = dir.appendingPathComponent("letter.html")
        let p = try runKakunin(["certificate", "print", "--insurer", "131016", "--certificate", mailed["certificate_number"]!, "--print", cert.path,
                                "--letter", letter.path], database: tdb)
        #expect(p.status == 0 && p.stdout.contains("member letter (pt)"), "\(p.stdout)\(p.stderr)")
        let html = try String(contentsOf: letter, encoding: .utf8)
        // Every paragraph the vendor printed is on the counter's page (escaped the same way).
        for paragraph in ["why", "validity", "insurer_contact"] {
            #expect(html.contains(LetterHTML.escape(mailed[paragraph]!)), "\(paragraph): \(mailed[paragraph]!)")
        }
        #expect(html.contains("SILVA MARIA") && html.contains("size: A4") && html.contains("Noto Sans"))
        // The vendor's page (composed from bytes on the letters' thread) is the counter's but for
        // the reference line, and a page in one language names its language once, on the page.
        let vendor = try String(contentsOf: out.appendingPathComponent("131016/\(Self.asOf)/nightly/letters_pt.html"), encoding: .utf8)
        let (mailPage, counterPage) = (try #require(Self.pages(vendor).first), try #require(Self.pages(html).first))
        #expect(Self.withoutReference(mailPage) == Self.withoutReference(counterPage), "\(mailPage)\n---\n\(counterPage)")
        #expect(mailPage.contains("<p class=\"ref\">\(mailed["envelope_id"]!) · P · certificate No. \(mailed["certificate_number"]!)</p>"), "\(mailPage)")
        #expect(mailPage.components(separatedBy: "lang=").count == 2 && mailPage.hasPrefix("<section class=\"letter\" lang=\"pt\">"), "\(mailPage)")
        let ja = try runKakunin(["certificate", "print", "--insurer", "131016", "--certificate", mailed["certificate_number"]!, "--print", cert.path,
                                 "--letter", letter.path, "--letter-language", "ja"], database: tdb)
        #expect(ja.status == 0 && ja.stdout.contains("member letter (ja)"))
        #expect(try String(contentsOf: letter, encoding: .utf8).contains("資格確認書についてのご説明"))
    }
}
