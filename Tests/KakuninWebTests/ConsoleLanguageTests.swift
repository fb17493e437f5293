import Foundation
import KakuninCore
import KakuninRuntime
import KakuninTesting
import Testing

/// Issue 32: every word staff read in the console is Japanese. Each role (counter, auditor,
/// operator, admin) walks every page it may open (and the refusals it meets), and the visible
/// text of each page is searched for ASCII words outside a short allow-list: identifiers and
/// codes inside `<code>`, numbers and ids (a letter with digits), the product name, the
/// people's own user names.
@Suite("The console speaks Japanese")
struct ConsoleLanguageTests {
    /// What a person reads: the page without its style, its tags' attributes, and `<code>`.
    static func visibleText(_ html: String) -> String {
        var text = html
        for pattern in ["<style[^>]*>[\\s\\S]*?</style>", "<code>[\\s\\S]*?</code>", "<[^>]+>", "&[a-z]+;|&#[0-9]+;"] {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        return text
    }

    /// The product name, the fixture's user names, ID (加入者ID, as Japanese offices write it)
    /// and JIS (シフトJIS, the vendor files' encoding, as offices name it).
    static let allowed: Set<String> = ["kakunin", "clerk", "other", "audi", "boss", "ops", "ID", "JIS"]

    /// ASCII words (two letters or more in a row, not part of an id with digits) not allowed.
    static func englishWords(_ html: String) -> [String] {
        let tokens = visibleText(html).split { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-")) }
        return tokens.map(String.init).filter { token in
            token.range(of: "[A-Za-z]{2,}", options: .regularExpression) != nil && !allowed.contains(token)
        }
    }

    /// The pages a role opens (GET), after the fixture's run: search, a member and its
    /// explanations, the counter's confirmation pages, runs, a report and a drill-down, the
    /// audit log, operations, people, and a refusal.
    static func pages(_ f: ConsoleFixture, member: String) -> [String] {
        [
            "/members", "/members?q=\(member)", "/members?q=%E3%83%A4&birth=bad", "/members/131016/\(member)",
            "/members/131016/\(member)/explain",
            "/members/131016/\(member)/explain?run=1", "/members/131016/\(member)/issue", "/members/131016/NOPE",
            "/runs", "/runs?from=nope", "/runs/1", "/runs/1/members?kind=outcome&outcome=held",
            "/runs/1/members?kind=held&reason=MISSING_ADDRESS",
            "/audit", "/operations", "/users", "/runs/999999",
        ]
    }

    @Test("every page as counter, auditor, operator and admin: no English word outside <code>, ids and the product name")
    func everyPageEveryRole() throws {
        let f = try ConsoleFixture()
        let member = try f.query(
            """
            SELECT d.member_id FROM decision d JOIN member m USING (insurer_number, member_id)
            WHERE d.run_id = 1 AND m.postal_code IS NOT NULL ORDER BY (SELECT count(*) FROM notice n WHERE n.member_id = d.member_id) DESC, d.member_id LIMIT 1
            """)[0][0]!
        var found: [String] = []
        for user in ["clerk", "audi", "ops", "boss"] {
            let s = try f.login(user)
            for path in Self.pages(f, member: member) {
                let r = try s.get(path)
                guard r.status != 303 else { continue }
                let words = Self.englishWords(r.body)
                if !words.isEmpty {
                    found.append("\(user) \(path) [\(r.status)]: \(Array(Set(words)).sorted().prefix(12).joined(separator: " "))")
                }
            }
            // The refusals and confirmations of the counter's forms (nothing is recorded), then a
            // counter issue and a reissue, and the member's page with the voided certificate.
            if user == "clerk" {
                try issueAndReissue(s, f)
                let page = "/members/131016/\(member)"
                for (path, form) in [
                    ("/applications", [("kind", "special_consideration"), ("received_on", "20261201")]),
                    ("/applications", [("kind", "card_lost"), ("received_on", "令和8年12月1日")]),
                    ("/applications", [("kind", "card_lost"), ("received_on", "2099-01-01")]),
                    ("/reissue", [("note", "紛失")]), ("/notice-return", [("kind", "apply_notice"), ("run", "1"), ("on", "x")]),
                ] {
                    let r = try s.post(page + path, from: page, form)
                    let words = Self.englishWords(r.body)
                    if !words.isEmpty {
                        found.append("clerk POST \(path) \(form) [\(r.status)]: \(Array(Set(words)).sorted().joined(separator: " "))")
                    }
                }
            }
        }
        #expect(found.isEmpty, "English on the pages:\n\(found.joined(separator: "\n"))")
        #expect(f.stop().status == 0)
    }

    /// A counter issue and a reissue as the clerk would do them; the member's page afterwards
    /// (a voided certificate, a fulfilled application) must read in Japanese too.
    func issueAndReissue(_ s: HTTP.Session, _ f: ConsoleFixture) throws {
        let candidates = try f.query(
            """
            SELECT d.member_id FROM decision d WHERE d.run_id = 1 AND d.outcome = 'held'
              AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.insurer_number = d.insurer_number AND c.member_id = d.member_id)
            ORDER BY d.member_id
            """
        ).map { $0[0]! }
        guard let m = try candidates.first(where: { try s.get("/members/131016/\($0)/issue").body.contains("id=\"confirm-issue\"") }) else {
            Issue.record("no member the counter can issue to")
            return
        }
        let page = "/members/131016/\(m)"
        _ = try s.post(page + "/issue", from: page + "/issue", [])
        _ = try s.post(page + "/reissue", from: page, [("note", "紛失"), ("confirm", "1")])
        _ = try s.post(page + "/issue", from: page + "/issue", [])
        let words = Self.englishWords(try s.get(page).body)
        #expect(words.isEmpty, "member \(m) after a reissue: \(words)")
        #expect(try f.query("SELECT count(*) FROM certificate WHERE member_id = $1 AND status = 'voided'", [m])[0][0] == "1")
    }

    /// The `<li>` items of a page's decision steps (「判定の手順」).
    static func stepItems(_ html: String) -> [String] {
        guard let start = html.range(of: "<ol class=\"steps\">"), let end = html.range(of: "</ol>", range: start.upperBound..<html.endIndex)
        else { return [] }
        return html[start.upperBound..<end.lowerBound].components(separatedBy: "<li>").dropFirst().map {
            $0.replacingOccurrences(of: "</li>", with: "")
        }
    }

    @Test(
        "the decision steps of the explanation pages (a run's, today's) and the counter's confirmation read in Japanese outside <code>, dates in era form, one member per outcome"
    )
    func explanationStepsJapanese() throws {
        let f = try ConsoleFixture()
        let members = try f.query("SELECT DISTINCT ON (outcome) member_id FROM decision WHERE run_id = 1 ORDER BY outcome, member_id").map {
            $0[0]!
        }
        #expect(members.count >= 4, "\(members)")
        let s = try f.login("clerk")
        var found: [String] = []
        var steps = 0
        for m in members {
            for path in ["/members/131016/\(m)/explain?run=1", "/members/131016/\(m)/explain", "/members/131016/\(m)/issue"] {
                let r = try s.get(path)
                let items = Self.stepItems(r.body)
                if !path.hasSuffix("/issue") { #expect(r.status == 200 && items.count >= 2, "\(path): \(items)") }
                steps += items.count
                for item in items {
                    let visible = Self.visibleText(item)
                    // Each step is Japanese text a clerk reads, not a code block; no English word outside <code>.
                    // Dates in era form (an ISO date is what a program writes, not what a clerk reads).
                    let iso = visible.range(of: "[0-9]{4}-[0-9]{2}-[0-9]{2}", options: .regularExpression) != nil
                    if !visible.contains(where: { !$0.isASCII }) || !Self.englishWords(item).isEmpty || iso {
                        found.append("\(path): \(item)")
                    }
                }
                if !path.hasSuffix("/issue") {
                    #expect(items.first.map(Self.visibleText)?.contains("基準日") == true, "\(path): \(items.first ?? "")")
                }
            }
        }
        #expect(steps > 0)
        #expect(found.isEmpty, "steps not in Japanese:\n\(found.joined(separator: "\n"))")
        #expect(f.stop().status == 0)
    }

    @Test("trends: the operations page and a run's page draw the last nights as SVG charts with the numbers in a table")
    func trends() throws {
        let f = try ConsoleFixture(members: 300)
        let certificates = try f.query("SELECT counts->>'certificates', counts->>'postage_yen' FROM run WHERE run_id = 1")[0]
        for (user, path) in [("ops", "/operations"), ("audi", "/runs/1"), ("boss", "/operations")] {
            let page = try f.login(user).get(path).body
            #expect(page.contains("id=\"trends-131016\"") && page.contains("<svg") && page.contains("role=\"img\""), "\(user) \(path)")
            let postage = StaffNumber.grouped(Int(certificates[1]!)!)
            #expect(
                page.contains("<td class=\"n\">\(certificates[0]!)</td>") && page.contains("<td class=\"n\">\(postage)</td>"),
                "\(user) \(path): the table carries the night's numbers")
        }
        #expect(f.stop().status == 0)
    }

    /// Problems as a run stores them when it keeps a document out of the vendor files (the
    /// summaries joined by "; ", as MailFiles writes them), and their Japanese.
    static let storedProblems = [
        RecordProblem(field: "addressee", kind: .character, character: "𠮷", codePoint: "U+20BB7"),
        RecordProblem(field: "address", kind: .length, length: 70, limit: 60),
    ]

    @Test("a document kept out of the vendor files: why, in Japanese, on 運用状況 and on the member's page (it was the library's English)")
    func mailExceptionInJapanese() throws {
        let f = try ConsoleFixture(members: 300)
        let stored = Self.storedProblems.map(\.summary).joined(separator: "; ")
        let japanese = "宛名の「𠮷」（U+20BB7）は送付ファイルの文字コードにない文字、住所が 70 文字（上限 60 文字）"
        let member = try f.query(
            """
            UPDATE certificate SET mail_exception = $1 WHERE certificate_number = (SELECT min(certificate_number) FROM certificate
              WHERE insurer_number = '131016' AND run_id = 1 AND status = 'active') RETURNING member_id
            """, [stored])[0][0]!
        for (user, path) in [("ops", "/operations"), ("boss", "/operations"), ("clerk", "/members/131016/\(member)")] {
            let page = try f.login(user).get(path).body
            let (said, english) = (page.contains(japanese), page.contains("cannot be carried") || page.contains("limit 60"))
            #expect(said && !english, "\(user) \(path): the reason in Japanese \(said), the library's English \(english)")
        }
        #expect(f.stop().status == 0)
    }

    @Test("every kind of record problem reads back from its stored summary into Japanese; other text is kept")
    func recordProblemsJapanese() {
        let all =
            Self.storedProblems + [
                RecordProblem(field: "address", kind: .control, character: "", codePoint: "U+0007"),
                RecordProblem(field: "family_name", kind: .invisible, character: "", codePoint: "U+200B"),
            ]
        for p in all { #expect(RecordProblem(summary: p.summary)?.japanese == p.japanese, "\(p.summary)") }
        #expect(
            RecordProblem.japanese(stored: all.map(\.summary).joined(separator: "; "))
                == "宛名の「𠮷」（U+20BB7）は送付ファイルの文字コードにない文字、住所が 70 文字（上限 60 文字）、住所に制御文字（U+0007）、氏に見えない文字（U+200B）")
        #expect(RecordProblem.japanese(stored: "something else") == "something else")
    }

    @Test(
        "money as an office writes it: 34,090",
        arguments: [(0, "0"), (999, "999"), (1000, "1,000"), (34090, "34,090"), (1_234_567, "1,234,567"), (-34090, "-34,090")])
    func groupedAmounts(n: Int, text: String) {
        #expect(StaffNumber.grouped(n) == text)
    }

    /// The regex's first match's capture groups in `text`.
    static func captures(_ pattern: String, _ text: String) -> [String] {
        guard let r = try? NSRegularExpression(pattern: pattern),
            let m = r.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
        else { return [] }
        return (1..<m.numberOfRanges).compactMap { Range(m.range(at: $0), in: text).map { String(text[$0]) } }
    }

    @Test(
        "what staff still met (issue 32 review): the signed time's UTC explained with its JST, money with separators, the job and parameter words in Japanese, one form of check figures"
    )
    func reviewedWords() throws {
        let f = try ConsoleFixture(members: 300)
        let audi = try f.login("audi")
        // The signed text stays as signed (time: …Z), with a caption: UTC, and the time in Japan.
        let audit = try audi.get("/audit").body
        let utc = Self.captures("time: (\\d{4}-\\d\\d-\\d\\d)T(\\d\\d):(\\d\\d):\\d\\dZ\n", audit)
        let jst = Self.captures("日本時間では (令和\\d+年\\d+月\\d+日) (\\d\\d):(\\d\\d)（日本時間）", audit)
        #expect(utc.count == 3 && audit.contains("協定世界時（<code>UTC</code>"), "the signed time and its caption: \(utc)")
        #expect(jst.count == 3 && Int(jst[1]) == ((Int(utc[1]) ?? 0) + 9) % 24 && jst[2] == utc[2], "JST beside the UTC: \(jst) for \(utc)")
        // Money with thousands separators on the report; the job and the parameters' words in Japanese.
        let yen = Int(try f.query("SELECT counts->>'postage_yen' FROM run WHERE run_id = 1")[0][0]!)!
        #expect(yen >= 1000, "the fixture's postage needs a separator: \(yen)")
        let report = try audi.get("/runs/1").body
        #expect(
            report.contains("郵便料金<b>\(StaffNumber.grouped(yen))</b>円") && !report.contains(">\(yen)<"), "postage \(yen) with separators")
        #expect(report.contains("夜間処理（<code>nightly</code>）"), "the job named in Japanese")
        #expect(report.contains("<td><code>on</code></td><td>する</td>") && report.contains("<th>値の意味</th>"), "parameter words in Japanese")
        #expect(try audi.get("/runs").body.contains("夜間処理<br><code>nightly</code>"), "the run list names the job in Japanese")
        // The check figures: one form (4 ＝ 4), never 4 = 4.
        let checks = report.components(separatedBy: "id=\"checks\"").last?.components(separatedBy: "</section>").first ?? ""
        #expect(
            checks.contains(" ＝ ") && checks.range(of: "\\d = \\d", options: .regularExpression) == nil,
            "check figures: \(checks.prefix(600))")
        #expect(f.stop().status == 0)
    }

    @Test("the check itself: English outside <code> is found, ids, codes and the product name are not")
    func checkFindsEnglish() {
        #expect(Self.englishWords("<p>状態 active</p>") == ["active"])
        #expect(Self.englishWords("<p>加入者 M000000123・<code>NO_BASIS</code> kakunin</p><style>body { color: red }</style>").isEmpty)
        #expect(Self.englishWords("<p title=\"english here\">日本語 2026-12-06</p>").isEmpty)
    }
}
