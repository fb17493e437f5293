import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

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
        try (rows.map { $0.map(FeedFiles.quote).joined(separator: ",") }.joined(separator: "\n") + "\n").write(
            to: url, atomically: true, encoding: .utf8)
        let tdb = try TestDatabase()
        for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
            let r = try runKakunin(
                ["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", feeds.appendingPathComponent("r").path],
                database: tdb)
            #expect(r.status == 0 || r.status == 10, "\(r.stderr)")
        }
        #expect(
            try setParameters(
                tdb, from: "2026-04-01",
                [
                    "insurer_name = 千代田区国民健康保険", "contact_phone = 03-3264-2111",
                    "contact_hours = 平日 8:30–17:15", "contact_languages = ja,en,zh",
                ] + parameters
            ).status == 0)
        return (tdb, feeds)
    }

    func records(_ url: URL) throws -> [[String: String]] {
        let rows = try csvRows(try String(contentsOf: url, encoding: .utf8))
        return rows.dropFirst().filter { $0.count == rows[0].count }.map { Dictionary(uniqueKeysWithValues: zip(rows[0], $0)) }
    }

    /// The letters of a run with their paragraphs resolved: each section's text from
    /// letter_paragraphs.csv (by its id), the name as printed filled in; "?" for an unknown id.
    func resolved(_ dir: URL) throws -> [[String: String]] {
        let paragraphs = try records(dir.appendingPathComponent("letter_paragraphs.csv"))
        let texts = Dictionary(paragraphs.map { ($0["paragraph_id"]!, $0["text"]!) }, uniquingKeysWith: { a, _ in a })
        #expect(texts.count == paragraphs.count, "each paragraph once")
        return try records(dir.appendingPathComponent("inserts.csv")).map { row in
            var r = row
            for s in MemberLetter.Section.allCases {
                r[s.rawValue] = texts[row[s.rawValue]!]?.replacingOccurrences(of: "{name}", with: row["name"]!) ?? "?"
            }
            return r
        }
    }

    /// `kakunin letters html` for the run of `out`, into a new folder.
    func letterPages(_ tdb: TestDatabase, out: URL, language: String? = nil) throws -> (CommandResult, URL, Int) {
        let runID = Int(try tdb.connect().query("SELECT max(run_id) FROM run").scalar!)!
        let html = try temporaryDirectory()
        let r = try runKakunin(
            ["letters", "html", "--run", String(runID), "--files", out.path, "--out", html.path] + (language.map { ["--lang", $0] } ?? []),
            database: tdb)
        return (r, html, runID)
    }

    static let contact = InsurerContact(name: "千代田区国民健康保険", phone: "03-3264-2111", hours: "平日 8:30–17:15", languages: ["ja", "en", "zh"])

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
        let inserts = try resolved(dir)
        let db = try tdb.connect()
        var decisions: [String: [String?]] = [:]
        for row in try db.query(
            """
            SELECT d.member_id, d.outcome, array_to_string(d.reasons, ';'), d.valid_from::text, d.valid_to::text, m.family_name, m.given_name,
                   coalesce(m.preferred_language, ''), d.certificate_number::text
            FROM decision d JOIN member m USING (member_id) WHERE m.insurer_number = '131016'
            """
        ).rows { decisions[row[0]!] = row }
        let mailed = try ["certificates.csv", "eligibility_notices.csv", "apply_notices.csv"].reduce(0) {
            $0 + (try records(dir.appendingPathComponent($1)).count)
        }
        #expect(inserts.count == mailed && mailed > 200, "\(inserts.count) letters for \(mailed) documents")
        var languagesSeen = Set<String>()
        var reasonsSeen = Set<String>()
        for letter in inserts {
            let member = letter["member_id"]!
            let d = try #require(decisions[member], "\(member)")
            let (outcome, reasons, from, to) = (
                d[1]!, (d[2] ?? "").split(separator: ";").map(String.init), d[3].flatMap { LocalDate($0) }, d[4].flatMap { LocalDate($0) }
            )
            let langs = expected(d[7]!)
            #expect(letter["language"] == langs.joined(separator: "+"), "\(member): \(d[7]!)")
            #expect(letter["document"] == LetterDocument(kind: outcome).rawValue, "\(member) \(outcome)")
            #expect(letter["certificate_number"] == (d[8] ?? ""), "\(member)")
            #expect(
                letter["name"]!.contains(d[5]!) && (d[6].map { letter["name"]!.contains($0) } ?? true), "the name as printed: \(member)")
            #expect(letter["greeting"]!.contains(letter["name"]!), "the greeting names the member: \(member)")
            for l in langs {
                let texts = try #require(LetterCatalog.texts[l])
                #expect(letter["why"]!.contains(texts["outcome.\(outcome)"]!), "\(member) \(l) \(outcome)")
                for code in reasons {
                    #expect(letter["why"]!.contains(texts["reason.\(code)"]!), "\(member) \(l) \(code)")
                    reasonsSeen.insert(code)
                }
                if LetterDocument(kind: outcome) == .certificate, let from, let to {
                    let pattern = texts["format.date"]!
                    #expect(
                        letter["validity"]!.contains(LetterContent.format(from, pattern: pattern))
                            && letter["validity"]!.contains(LetterContent.format(to, pattern: pattern)),
                        "\(member) \(l): \(letter["validity"]!)")
                }
                #expect(letter["insurer_contact"]!.contains("03-3264-2111") && letter["insurer_contact"]!.contains("平日 8:30–17:15"))
                #expect(letter["help_lines"]!.contains("0120-0178-26") && letter["help_lines"]!.contains("0120-95-0178"))
            }
            languagesSeen.insert(letter["language"]!)
        }
        #expect(languagesSeen == Set(LetterCatalog.languages + ["ja+en"]), "\(languagesSeen.sorted())")
        // Every reason of a mailed decision is one the letters explained.
        let mailedReasons = try db.query(
            """
            SELECT DISTINCT unnest(d.reasons) FROM decision d JOIN member m USING (member_id)
            WHERE m.insurer_number = '131016' AND d.outcome IN ('issue', 'renew', 'issue_on_application', 'eligibility_notice', 'apply_notice')
              AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.certificate_number = d.certificate_number AND c.mail_exception IS NOT NULL)
            """
        ).rows.map { $0[0]! }
        #expect(Set(mailedReasons) == reasonsSeen, "\(Set(mailedReasons).symmetricDifference(reasonsSeen))")
        #expect(reasonsSeen.count >= 5, "\(reasonsSeen.sorted())")

        // Both files UTF-8 and in the manifest; each paragraph once, shared by the letters.
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["inserts"] as? Int == inserts.count && manifest["inserts_encoding"] as? String == "UTF-8")
        let files = (manifest["files"] as! [[String: Any]])
        let listed = Dictionary(uniqueKeysWithValues: files.map { ($0["name"] as! String, $0) })
        #expect(listed["inserts.csv"]?["records"] as? Int == inserts.count && listed["inserts.csv"]?["encoding"] as? String == "UTF-8")
        let paragraphs = try records(dir.appendingPathComponent("letter_paragraphs.csv"))
        #expect(
            listed["letter_paragraphs.csv"]?["records"] as? Int == paragraphs.count
                && listed["letter_paragraphs.csv"]?["encoding"] as? String == "UTF-8")
        #expect(paragraphs.count < inserts.count, "\(paragraphs.count) paragraphs for \(inserts.count) letters")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("letters_ja.html").path), "pages are written on request")

        // On request: one HTML file per letter language, byte for byte the pages composed from
        // the decisions (what the run wrote itself before): head, a page per letter in the order
        // of inserts.csv, with its reference line.
        let (h, html, runID) = try letterPages(tdb, out: out)
        #expect(h.status == 0, "\(h.stdout)\(h.stderr)")
        for language in languagesSeen {
            let name = "letters_\(language.replacingOccurrences(of: "+", with: "_")).html"
            let pages = inserts.filter { $0["language"] == language }.map { letter -> String in
                let d = decisions[letter["member_id"]!]!
                let facts = LetterFacts(
                    kind: d[1]!, reasons: (d[2] ?? "").split(separator: ";").map(String.init), name: letter["name"]!,
                    validFrom: d[3].flatMap { LocalDate($0) }, validTo: d[4].flatMap { LocalDate($0) },
                    preferredLanguage: d[7]!.isEmpty ? nil : d[7]!, insurer: Self.contact)
                let reference =
                    "\(letter["envelope_id"]!) · \(letter["member_id"]!) · \(letter["document"]!)"
                    + (letter["certificate_number"]!.isEmpty ? "" : " No. \(letter["certificate_number"]!)")
                return LetterHTML.page(MemberLetter(facts), reference: reference)
            }
            let expected =
                LetterHTML.head(language: language, title: "kakunin run \(runID): member letters (\(language))") + pages.joined()
                + LetterHTML.tail
            let got = try String(contentsOf: html.appendingPathComponent(name), encoding: .utf8)
            #expect(got == expected, "\(name)")
            #expect(h.stdout.contains("\(name): \(pages.count) pages"), "\(h.stdout)")
            #expect(got.contains("size: A4") && got.contains("Noto Sans"), "\(name)")
        }
        // One language only.
        let (th, thDir, _) = try letterPages(tdb, out: out, language: "th")
        let thFiles = try FileManager.default.contentsOfDirectory(atPath: thDir.path)
        #expect(th.status == 0 && thFiles == ["letters_th.html"], "\(th.stdout)\(th.stderr)")
        // The envelope list counts each envelope's letters.
        let envelopes = try records(dir.appendingPathComponent("envelopes.csv"))
        #expect(envelopes.allSatisfy { $0["inserts"] == $0["documents"] })
    }

    @Test("the vendor's CP932 does not limit the letters: letter_paragraphs.csv is UTF-8 with Thai and Nepali, the manifest says so")
    func lettersStayUTF8WithCP932() throws {
        let (tdb, feeds) = try prepared(members: 400, parameters: ["vendor_encoding = cp932"])
        let out = try temporaryDirectory()
        let r = try nightly(tdb, Self.asOf, out: out, params: feeds)
        #expect(r.status == 0 || r.status == 11, "\(r.stderr)")
        let dir = out.appendingPathComponent("131016/\(Self.asOf)/nightly")
        let text = try String(contentsOf: dir.appendingPathComponent("letter_paragraphs.csv"), encoding: .utf8)
        #expect(text.contains("บัตร My Number") && text.contains("कार्ड"))
        let manifest = try String(contentsOf: dir.appendingPathComponent("manifest.json"), encoding: .utf8)
        #expect(manifest.contains("\"encoding\" : \"CP932 (Windows-31J)\"") && manifest.contains("\"inserts_encoding\" : \"UTF-8\""))
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
    }

    /// The letter pages of an HTML file.
    static func pages(_ html: String) -> [String] {
        html.components(separatedBy: "<section class=\"letter").dropFirst().map {
            "<section class=\"letter" + $0.components(separatedBy: "</section>")[0]
        }
    }

    static func withoutReference(_ page: String) -> String {
        page.split(separator: "\n").filter { !$0.hasPrefix("<p class=\"ref\">") }.joined(separator: "\n")
    }

    @Test("the counter prints the same letter as the mail, in the member's language or another one")
    func counterPrintsTheLetter() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member(
                    "P",
                    [
                        "preferred_language": "pt-BR", "family_name": "SILVA", "given_name": "MARIA", "family_name_kana": "シルバ",
                        "given_name_kana": "マリア",
                    ]),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try setParameters(tdb, from: "2026-04-01", ["insurer_name = 千代田区国民健康保険", "contact_phone = 03-3264-2111"]).status == 0)
        let out = dir.appendingPathComponent("out")
        let r = try nightly(tdb, Self.asOf, out: out, params: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let mailed = try #require(try resolved(out.appendingPathComponent("131016/\(Self.asOf)/nightly")).first)
        #expect(mailed["language"] == "pt" && mailed["member_id"] == "P")
        let cert = dir.appendingPathComponent("c.html")
        let letter = dir.appendingPathComponent("letter.html")
        let p = try runKakunin(
            [
                "certificate", "print", "--insurer", "131016", "--certificate", mailed["certificate_number"]!, "--print", cert.path,
                "--letter", letter.path,
            ], database: tdb)
        #expect(p.status == 0 && p.stdout.contains("member letter (pt)"), "\(p.stdout)\(p.stderr)")
        let html = try String(contentsOf: letter, encoding: .utf8)
        // Every paragraph the vendor printed is on the counter's page (escaped the same way).
        for paragraph in ["why", "validity", "insurer_contact"] {
            #expect(html.contains(LetterHTML.escape(mailed[paragraph]!)), "\(paragraph): \(mailed[paragraph]!)")
        }
        #expect(html.contains("SILVA MARIA") && html.contains("size: A4") && html.contains("Noto Sans"))
        // The vendor's page (`letters html` from the run's two files) is the counter's but for
        // the reference line, and a page in one language names its language once, on the page.
        let (h, pages, _) = try letterPages(tdb, out: out)
        #expect(h.status == 0, "\(h.stderr)")
        let vendor = try String(contentsOf: pages.appendingPathComponent("letters_pt.html"), encoding: .utf8)
        let (mailPage, counterPage) = (try #require(Self.pages(vendor).first), try #require(Self.pages(html).first))
        #expect(Self.withoutReference(mailPage) == Self.withoutReference(counterPage), "\(mailPage)\n---\n\(counterPage)")
        #expect(
            mailPage.contains("<p class=\"ref\">\(mailed["envelope_id"]!) · P · certificate No. \(mailed["certificate_number"]!)</p>"),
            "\(mailPage)")
        #expect(
            mailPage.components(separatedBy: "lang=").count == 2 && mailPage.hasPrefix("<section class=\"letter\" lang=\"pt\">"),
            "\(mailPage)")
        let ja = try runKakunin(
            [
                "certificate", "print", "--insurer", "131016", "--certificate", mailed["certificate_number"]!, "--print", cert.path,
                "--letter", letter.path, "--letter-language", "ja",
            ], database: tdb)
        #expect(ja.status == 0 && ja.stdout.contains("member letter (ja)"))
        #expect(try String(contentsOf: letter, encoding: .utf8).contains("資格確認書についてのご説明"))
    }

    @Test(
        "member_letters = off: no inserts files, envelopes count 0 inserts, the report skips the letter check and says why; `letters html` finds none"
    )
    func lettersOff() throws {
        let (tdb, feeds) = try prepared(members: 300, parameters: ["member_letters = off"])
        let out = try temporaryDirectory()
        let r = try nightly(tdb, Self.asOf, out: out, params: feeds)
        #expect(r.status == 0 || r.status == 11, "\(r.stderr)")
        #expect(r.stdout.contains("[skip] one member letter per mailed document: skipped: member_letters = off"), "\(r.stdout)")
        #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
        let dir = out.appendingPathComponent("131016/\(Self.asOf)/nightly")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(
            !names.contains("inserts.csv") && !names.contains("letter_paragraphs.csv") && names.contains("certificates.csv"), "\(names)")
        let envelopes = try records(dir.appendingPathComponent("envelopes.csv"))
        #expect(envelopes.count > 20 && envelopes.allSatisfy { $0["inserts"] == "0" })
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["member_letters"] as? String == "off" && manifest["inserts"] as? Int == 0 && manifest["inserts_encoding"] == nil)
        let report = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(report.contains("対象外"), "the auditors' report says the check does not apply")
        let (h, _, _) = try letterPages(tdb, out: out)
        #expect(h.status == 66 && h.stderr.contains("member_letters = off"), "\(h.stderr)")
        let list = try runKakunin(["insurer", "params", "show", "--insurer", "131016"], database: tdb)
        #expect(list.stdout.contains("member_letters = off"), "\(list.stdout)\(list.stderr)")
    }

    @Test("a letter whose paragraph id letter_paragraphs.csv lacks fails the report's check and `letters html` (exit 13)")
    func unknownParagraph() throws {
        let (tdb, feeds) = try prepared(members: 200)
        let out = try temporaryDirectory()
        #expect([0, 11].contains(try nightly(tdb, Self.asOf, out: out, params: feeds).status))
        let dir = out.appendingPathComponent("131016/\(Self.asOf)/nightly")
        let url = dir.appendingPathComponent("letter_paragraphs.csv")
        let letters = try records(dir.appendingPathComponent("inserts.csv"))
        let used = try #require(letters.last?["help_lines"])
        // Every letter that names the paragraph is counted (the check compares each id with the
        // letter before's, then looks up only those that differ).
        let naming = letters.filter { $0.values.contains(used) }.count
        // Drop the paragraph's row (its html spans lines: cut from its line to the next row's).
        let text = try String(contentsOf: url, encoding: .utf8)
        let start = try #require(text.range(of: "," + used + ","))
        let lineStart = text[..<start.lowerBound].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
        let rest = text[start.upperBound...]
        let next =
            rest.range(of: "\n[a-z+]+,[0-9a-f]{12},", options: .regularExpression).map { text.index(after: $0.lowerBound) } ?? text.endIndex
        try (String(text[..<lineStart]) + String(text[next...])).write(to: url, atomically: true, encoding: .utf8)
        let runID = try tdb.connect().query("SELECT max(run_id) FROM run").scalar!
        let show = try runKakunin(["runs", "show", runID, "--out", out.path], database: tdb)
        #expect(
            show.stdout.contains("[FAIL] one member letter per mailed document")
                && show.stdout.contains("missing from letter_paragraphs.csv"), "\(show.stdout)")
        #expect(naming > 1 && show.stdout.contains("; \(naming) letters of inserts.csv refer to paragraph ids missing"), "\(show.stdout)")
        let (h, _, _) = try letterPages(tdb, out: out)
        #expect(h.status == 13 && h.stderr.contains(used), "\(h.stderr)")
    }
}
