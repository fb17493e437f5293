import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 14 without a browser: the console's rules over HTTP against `kakunin serve` on a real
/// database (sessions, CSRF, roles, row-level security per person, throttling, 閲覧記録, the
/// counter's actions, the auditors' drill-down, a clean stop on SIGTERM).
@Suite("The web console over HTTP", .serialized)
struct ConsoleServerTests {
    let f: ConsoleFixture

    init() throws { f = try ConsoleFixture() }

    /// A member of `insurer` whose kana starts with something, with no certificate yet.
    func someMember(_ insurer: String = "131016") throws -> (id: String, kana: String) {
        let r = try f.query(
            """
            SELECT m.member_id, m.family_name_kana FROM member m
            WHERE m.insurer_number = $1 AND m.family_name_kana IS NOT NULL AND m.disqualified_on IS NULL
              AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.insurer_number = m.insurer_number AND c.member_id = m.member_id)
            ORDER BY m.member_id LIMIT 1
            """, [insurer])
        return (r[0][0]!, r[0][1]!)
    }

    @Test("login sets an HttpOnly SameSite=Strict session cookie; logout ends the session on the server")
    func loginLogout() throws {
        let s = f.session()
        #expect(try s.get("/members").status == 303)
        let r = try s.login("clerk", ConsoleFixture.passwords["clerk"]!)
        #expect(r.status == 303)
        let cookie = try #require(r.setCookies.first { $0.hasPrefix("kakunin_session=") })
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let token = try #require(s.cookies["kakunin_session"])
        #expect(try s.get("/members").status == 200)
        let out = try s.post("/logout", from: "/members", [])
        #expect(out.status == 303)
        // The old cookie, sent again by someone who kept it, no longer opens anything.
        let replay = f.session()
        replay.cookies["kakunin_session"] = token
        #expect(try replay.get("/members").status == 303)
        #expect(try f.query("SELECT count(*) FROM console_session WHERE username = 'clerk' AND ended_at IS NOT NULL")[0][0] == "1")
        #expect(try f.query("SELECT count(*) FROM audit_event WHERE action IN ('console_login', 'console_logout')")[0][0] == "2")
    }

    @Test("a session ends after 30 idle minutes, and 10 hours after login however busy")
    func sessionExpiry() throws {
        let idle = try f.login("clerk")
        let busy = try f.login("audi")
        #expect(try idle.get("/members").status == 200 && busy.get("/runs").status == 200)
        _ = try f.query("UPDATE console_session SET last_seen_at = now() - interval '31 minutes' WHERE username = 'clerk'")
        _ = try f.query("UPDATE console_session SET created_at = now() - interval '10 hours 1 minute' WHERE username = 'audi'")
        let r = try idle.get("/members/131016/x")
        #expect(r.status == 303 && r.location?.hasPrefix("/login?next=") == true)
        #expect(try busy.get("/runs").status == 303)
    }

    @Test("five wrong passwords lock the name: the right password is refused (429) until the time has passed")
    func throttling() throws {
        let s = f.session()
        for _ in 0..<5 { #expect(try s.login("audi", "wrong-password").status == 401) }
        let locked = try s.login("audi", ConsoleFixture.passwords["audi"]!)
        #expect(locked.status == 429)
        #expect(locked.body.contains("ログインできません"))
        #expect(s.cookies["kakunin_session"] == nil)
        // Another name is not locked.
        #expect(try f.session().login("boss", ConsoleFixture.passwords["boss"]!).status == 303)
        // The lock is the failures of the last 15 minutes: once they are older, the name works.
        _ = try f.query("UPDATE console_login_failure SET failed_at = failed_at - interval '16 minutes' WHERE username = 'audi'")
        #expect(try s.login("audi", ConsoleFixture.passwords["audi"]!).status == 303)
        #expect(
            try f.query("SELECT count(*) FROM audit_event WHERE action = 'console_login_refused' AND details->>'username' = 'audi'")[0][0]
                == "6")
    }

    @Test("a POST without the session's CSRF token, or by an auditor, is refused and changes nothing")
    func csrfAndRoles() throws {
        let m = try someMember()
        let clerk = try f.login("clerk")
        let before = try f.query("SELECT count(*) FROM application")[0][0]
        let fields = [("kind", "card_lost"), ("received_on", "2026-11-20"), ("status", "pending")]
        let noToken = try clerk.send("POST", "/members/131016/\(m.id)/applications", form: fields)
        #expect(noToken.status == 403)
        let wrongToken = try clerk.send("POST", "/members/131016/\(m.id)/applications", form: [("csrf", "x")] + fields)
        #expect(wrongToken.status == 403)
        let auditor = try f.login("audi")
        let byAuditor = try auditor.post("/members/131016/\(m.id)/applications", from: "/runs", fields)
        #expect(byAuditor.status == 403)
        let issueByAuditor = try auditor.post("/members/131016/\(m.id)/issue", from: "/runs", [])
        #expect(issueByAuditor.status == 403)
        #expect(try f.query("SELECT count(*) FROM application")[0][0] == before)
        #expect(try f.query("SELECT count(*) FROM certificate WHERE member_id = $1", [m.id])[0][0] == "0")
        // With the token, the clerk's form works.
        // Issue 32: the form's first submit shows the confirmation; `confirm=1` records.
        let ok = try clerk.post("/members/131016/\(m.id)/applications", from: "/members/131016/\(m.id)", fields + [("confirm", "1")])
        #expect(ok.status == 303)
        #expect(
            try f.query("SELECT source, status FROM application WHERE member_id = $1 AND kind = 'card_lost'", [m.id]).first == [
                "staff", "pending",
            ])
    }

    @Test("a counter person sees only their insurers: search, typed URL, and the database's own policies")
    func scopedByInsurer() throws {
        let mine = try someMember("131016")
        let theirs = try someMember("39131015")
        let other = try f.login("other")  // counter for 39131015 only
        #expect(try other.get("/members/131016/\(mine.id)").status == 404)
        let search = try other.get("/members?q=\(mine.id)")
        #expect(search.status == 200 && search.body.contains("該当する加入者はいません") && !search.body.contains(mine.id + "</a>"))
        let forced = try other.get("/members?q=\(mine.id)&insurer=131016")
        #expect(forced.body.contains("該当する加入者はいません"))
        #expect(try other.get("/members/39131015/\(theirs.id)").status == 200)
        // Row-level security holds for the person's own database role, whatever the server does.
        let db = try f.tdb.connect()
        let role = try #require(try db.query("SELECT console_role FROM console_user WHERE username = 'other'").scalar)
        try db.execute("SET ROLE \"\(role)\"")
        #expect(try db.query("SELECT count(*) FROM member WHERE insurer_number = '131016'").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM member WHERE insurer_number = '39131015'").scalar != "0")
        // The kana search runs as the owner (for the index) and checks the scope itself.
        #expect(try db.query("SELECT count(*) FROM member_kana_search('131016', '', E'\\U0010FFFF', NULL, 1000, 0)").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM member_kana_search('39131015', '', E'\\U0010FFFF', NULL, 1000, 0)").scalar != "0")
        try db.execute("RESET ROLE")
        let kana = try #require(try f.query("SELECT left(family_name_kana, 2) FROM member WHERE member_id = $1", [mine.id])[0][0])
        let byKana = try other.get("/members?q=\(kana.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&insurer=131016")
        #expect(byKana.body.contains("該当する加入者はいません"))
    }

    @Test("the counter's work: application with a field error, counter issue after confirmation, print view, reissue, void")
    func counterWork() throws {
        let clerk = try f.login("clerk")
        // A member the counter would issue to today (the console decides as of today): held by
        // the run only for what stops the mail, with no certificate yet.
        let candidates = try f.query(
            """
            SELECT d.member_id FROM decision d WHERE d.run_id = 1 AND d.outcome = 'held'
              AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.insurer_number = d.insurer_number AND c.member_id = d.member_id)
            ORDER BY d.member_id
            """
        ).map { $0[0]! }
        let id = try #require(try candidates.first { try clerk.get("/members/131016/\($0)/issue").body.contains("id=\"confirm-issue\"") })
        let m = (id: id, kana: "")
        let page = "/members/131016/\(m.id)"
        // A bad date is shown next to its field, with nothing recorded.
        let bad = try clerk.post(
            "\(page)/applications", from: page,
            [
                ("kind", "special_consideration"), ("received_on", "2026-13-40"),
                ("basis", "elderly"), ("status", "approved"),
            ])
        #expect(bad.status == 400)
        #expect(bad.body.contains("class=\"field-error\" id=\"received_on-error\""))
        #expect(try f.query("SELECT count(*) FROM application WHERE member_id = $1", [m.id])[0][0] == "0")
        // The confirmation step shows what will be issued; nothing is issued by looking.
        let confirm = try clerk.get("\(page)/issue")
        #expect(confirm.status == 200 && confirm.body.contains("id=\"confirm-issue\""))
        #expect(try f.query("SELECT count(*) FROM certificate WHERE member_id = $1", [m.id])[0][0] == "0")
        let issued = try clerk.post("\(page)/issue", from: "\(page)/issue", [])
        #expect(issued.status == 200, "\(issued.body)")
        let cert = try f.query(
            "SELECT certificate_number, issued_by, run_id FROM certificate WHERE member_id = $1 AND status = 'active'", [m.id])
        try #require(cert.count == 1)
        #expect(cert[0][1] == "console:clerk" && cert[0][2] == nil)
        let number = cert[0][0]!
        #expect(issued.body.contains("id=\"issued-number\">\(number)<"))
        let print = try clerk.get("/certificates/131016/\(number)/print?paper=postcard")
        // [2026-12] postcard = hagaki, landscape
        #expect(print.status == 200 && print.body.contains("資格確認書") && print.body.contains("令和") && print.body.contains("148mm 100mm"))
        // [2026-12] Without ?paper= the insurer's certificate_format (card by default): one card-size sheet.
        let card = try clerk.get("/certificates/131016/\(number)/print")
        #expect(
            card.status == 200 && card.body.contains("data-format=\"card\"")
                && card.body.contains("@page { size: 85.6mm 54mm; margin: 0; }"))
        // Reissue: records the approved application, then the confirmation, then the old one is voided.
        let re = try clerk.post("\(page)/reissue", from: page, [("note", "紛失"), ("confirm", "1")])
        #expect(re.status == 303 && re.location == "\(page)/issue")
        #expect(try clerk.post("\(page)/issue", from: "\(page)/issue", []).status == 200)
        let after = try f.query(
            "SELECT certificate_number, status, replaces_certificate_number FROM certificate WHERE member_id = $1 ORDER BY 1", [m.id])
        try #require(after.count == 2)
        #expect(after[0][1] == "voided" && after[1][1] == "active" && after[1][2] == number)
        // Void the new one, with a reason.
        let v = try clerk.post("/certificates/131016/\(after[1][0]!)/void", from: page, [("reason", "誤交付"), ("confirm", "1")])
        #expect(v.status == 303)
        #expect(
            try f.query("SELECT status FROM certificate WHERE certificate_number = $1 AND insurer_number = '131016'", [after[1][0]!])[0][0]
                == "voided")
        // Every action names the person.
        let events = try f.query(
            "SELECT action FROM audit_event WHERE member_id = $1 AND details->>'person' = 'console:clerk' ORDER BY event_id", [m.id]
        )
        .map { $0[0]! }
        #expect(events.contains("counter_issued") && events.contains("application_added") && events.contains("certificate_voided"))
    }

    @Test(
        "the application form offers the 2026 bases with Japanese labels; one is recorded and shown by its label; an unknown one is refused beside the field"
    )
    func considerationBases() throws {
        let id = try #require(
            try f.query(
                """
                SELECT m.member_id FROM member m
                WHERE m.insurer_number = '131016' AND m.disqualified_on IS NULL
                  AND NOT EXISTS (SELECT 1 FROM application a WHERE a.insurer_number = m.insurer_number AND a.member_id = m.member_id)
                ORDER BY m.member_id LIMIT 1
                """
            ).first?[0])
        let clerk = try f.login("clerk")
        let page = "/members/131016/\(id)"
        let before = try clerk.get(page)
        #expect(before.status == 200)
        for (value, label) in [
            ("care_need", "要介護・要支援の方"), ("guardianship", "成年後見制度を利用している方"), ("facility", "施設に入所している方"),
            ("elderly", "高齢者"), ("disability", "障害のある方"), ("needs_helper", "介助者などの支援が必要な方"), ("other", "その他"),
        ] {
            #expect(before.body.contains("<option value=\"\(value)\">\(label)</option>"), "\(value)")
        }
        let ok = try clerk.post(
            "\(page)/applications", from: page,
            [
                ("kind", "special_consideration"), ("received_on", "2026-11-20"),
                ("basis", "guardianship"), ("status", "pending"), ("confirm", "1"),
            ])
        #expect(ok.status == 303, "\(ok.body)")
        #expect(
            try f.query("SELECT kind, basis, status, source FROM application WHERE member_id = $1", [id]) == [
                ["special_consideration", "guardianship", "pending", "staff"]
            ])
        let after = try clerk.get(page)
        #expect(after.body.contains("配慮が必要な方の交付申請（成年後見制度を利用している方）"), "the member page shows the kind and the basis by their labels")
        // A value outside the list (a tampered form): shown beside the field, nothing recorded.
        let bad = try clerk.post(
            "\(page)/applications", from: page,
            [
                ("kind", "special_consideration"), ("received_on", "2026-11-19"),
                ("basis", "hospital"), ("status", "pending"),
            ])
        #expect(bad.status == 400)
        #expect(bad.body.contains("id=\"basis-error\">配慮が必要な理由を一覧から選んでください。"), "\(bad.body)")
        #expect(try f.query("SELECT count(*) FROM application WHERE member_id = $1", [id])[0][0] == "1")
    }

    @Test("viewing personal data is recorded (閲覧記録): member page, search results, an auditor's view")
    func viewsRecorded() throws {
        let m = try someMember()
        let clerk = try f.login("clerk")
        #expect(try clerk.get("/members/131016/\(m.id)").status == 200)
        let viewed = try f.query(
            "SELECT details->>'person', details->>'database_role' FROM audit_event WHERE action = 'member_viewed' AND member_id = $1",
            [m.id])
        #expect(viewed.count == 1 && viewed[0][0] == "console:clerk" && viewed[0][1]!.hasSuffix("_clerk"))
        let kana = String(m.kana.prefix(2))
        let s = try clerk.get("/members?q=\(kana.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        #expect(s.status == 200 && s.body.contains("/members/131016/"))
        #expect(
            try f.query("SELECT count(*) FROM audit_event WHERE action = 'members_listed' AND details->>'person' = 'console:clerk'")[0][0]
                == "1")
        let auditor = try f.login("audi")
        #expect(try auditor.get("/members/131016/\(m.id)").status == 200)
        #expect(try f.query("SELECT count(*) FROM audit_event WHERE action = 'member_viewed' AND member_id = $1", [m.id])[0][0] == "2")
    }

    @Test("auditors drill down from a report's count to the members and their explanation; operators see runs and held members")
    func auditorsAndOperators() throws {
        let auditor = try f.login("audi")
        let runs = try auditor.get("/runs")
        #expect(runs.status == 200 && runs.body.contains("href=\"/runs/1\""))
        let report = try auditor.get("/runs/1")
        #expect(report.status == 200 && report.body.contains("実行報告書"))
        let link = try #require(report.body.range(of: "href=\"/runs/1/members?kind=outcome&amp;outcome=issue\""))
        _ = link
        let drill = try auditor.get("/runs/1/members?kind=outcome&outcome=issue")
        let issued = try f.query("SELECT member_id FROM decision WHERE run_id = 1 AND outcome = 'issue' ORDER BY member_id LIMIT 1")[0][0]!
        #expect(drill.status == 200 && drill.body.contains("/members/131016/\(issued)"))
        let explain = try auditor.get("/members/131016/\(issued)/explain?as_of=2026-12-01")
        #expect(explain.status == 200 && explain.body.contains("判定の手順") && explain.body.contains("基準日 令和8年12月1日（2026-12-01）"))
        let audit = try auditor.get("/audit?verify=1")
        #expect(audit.status == 200 && audit.body.contains("検証成功"))
        let cert = try f.query("SELECT certificate_number FROM certificate WHERE run_id = 1 ORDER BY 1 LIMIT 1")[0][0]!
        let proof = try auditor.get("/audit/proof?insurer=131016&certificate=\(cert)")
        #expect(
            proof.status == 200 && proof.body.hasPrefix("kakunin-inclusion-proof/v1")
                && proof.header("content-disposition")?.contains("attachment") == true)
        let ops = try f.login("ops")
        let o = try ops.get("/operations")
        let held = try f.query("SELECT count(*) FROM decision WHERE run_id = 1 AND outcome = 'held'")[0][0]!
        #expect(o.status == 200 && o.body.contains("<td class=\"n\">\(held)</td>"))
        // An operator does not open members or drill-downs.
        #expect(try ops.get("/runs/1/members?kind=outcome&outcome=issue").status == 403)
        #expect(try ops.get("/members").status == 403)
    }

    @Test("a disabled person's session ends at once; SIGTERM stops the server cleanly")
    func disableAndStop() throws {
        let clerk = try f.login("clerk")
        #expect(try clerk.get("/members").status == 200)
        let admin = try f.login("boss")
        #expect(try admin.post("/users/clerk/disable", from: "/users", []).status == 303)
        #expect(try clerk.get("/members").status == 303)
        #expect(try f.session().login("clerk", ConsoleFixture.passwords["clerk"]!).status == 401)
        let stopped = f.stop()
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(stopped.stdout.contains("kakunin console stopped"))
    }
}
