import Foundation
import KakuninTesting
import Testing

/// Issue 30 item 5: every signed-in route of `kakunin serve` goes through the same middleware
/// (session, CSRF, role, insurer), and the pages and stylesheet come from the template files.
@Suite("The console's middleware and template files", .serialized)
struct ConsoleMiddlewareTests {
    let f: ConsoleFixture

    init() throws { f = try ConsoleFixture(members: 60) }

    static let pages = [
        "/", "/members", "/members/131016/M1", "/members/131016/M1/explain", "/members/131016/M1/issue",
        "/certificates/131016/1/print", "/runs", "/runs/1", "/runs/1/members", "/audit", "/audit/proof",
        "/operations", "/users",
    ]
    static let forms = [
        "/logout", "/members/131016/M1/issue", "/members/131016/M1/applications", "/members/131016/M1/reissue",
        "/members/131016/M1/consideration-end", "/members/131016/M1/notice-return", "/applications/131016/1/decide",
        "/certificates/131016/1/return", "/certificates/131016/1/void", "/users/clerk/disable",
        "/users/clerk/enable", "/users/clerk/unlock",
    ]

    @Test("without a session every page goes to the login page (and back after it), every form to the login page alone")
    func sessionOnEveryRoute() throws {
        for page in Self.pages {
            let r = try HTTP.request("GET", port: f.port, page)
            #expect(r.status == 303, "\(page)")
            let next = r.location.flatMap { $0.hasPrefix("/login?next=") ? String($0.dropFirst(12)).removingPercentEncoding : nil }
            #expect(next == page, "\(page) → \(r.location ?? "-")")
        }
        for form in Self.forms {
            let r = try HTTP.request(
                "POST", port: f.port, form, headers: ["Content-Type": "application/x-www-form-urlencoded"], body: "csrf=x")
            #expect(r.status == 303 && r.location == "/login", "\(form) → \(r.status) \(r.location ?? "-")")
        }
        // The public pages run without it.
        #expect(try HTTP.request("GET", port: f.port, "/login").status == 200)
        #expect(try HTTP.request("GET", port: f.port, "/health").status == 200)
    }

    @Test("each route admits only its roles (403 in Japanese with the person's menu), a counter person only their insurers (404)")
    func rolesAndInsurers() throws {
        let refused: [(user: String, page: String)] = [
            ("ops", "/members"), ("ops", "/members/131016/M1"), ("ops", "/audit"), ("ops", "/runs/1/members"), ("ops", "/users"),
            ("clerk", "/runs"), ("clerk", "/operations"), ("clerk", "/audit/proof"), ("audi", "/users"),
            ("audi", "/members/131016/M1/issue"), ("boss", "/certificates/131016/1/print"),
        ]
        var sessions: [String: HTTP.Session] = [:]
        for (user, page) in refused {
            let s = try sessions[user] ?? f.login(user)
            sessions[user] = s
            let r = try s.get(page)
            #expect(r.status == 403 && r.body.contains("この操作の権限がありません") && r.body.contains("ログアウト"), "\(user) \(page): \(r.status)")
        }
        // A form of a counter route sent by an auditor with a valid token: refused, after the CSRF check passed.
        let audi = try #require(sessions["audi"])
        #expect(try audi.post("/members/131016/M1/issue", from: "/runs", []).status == 403)
        // A counter person of 131016 typing another insurer's member or certificate: not found.
        let clerk = try #require(sessions["clerk"])
        for page in ["/members/39131015/M1", "/members/39131015/M1/issue", "/certificates/39131015/1/print"] {
            let r = try clerk.get(page)
            #expect(r.status == 404 && r.body.contains("見つかりません"), "\(page): \(r.status)")
        }
    }

    @Test("a malformed member id in a counter route is refused in Japanese (400) before any look-up; a malformed insurer is not found")
    func malformedIdentifiersInRoutes() throws {
        let clerk = try f.login("clerk")
        let viewed = { try f.query("SELECT count(*) FROM audit_event WHERE action IN ('member_viewed', 'members_listed')")[0][0]! }
        let before = try viewed()
        for page in ["/members/131016/M1!", "/members/131016/\(String(repeating: "M", count: 21))/explain", "/members/131016/M%201/issue"] {
            let r = try clerk.get(page)
            #expect(r.status == 400, "\(page): \(r.status)")
            #expect(r.body.contains("加入者IDの形が正しくありません") && r.body.contains("加入者検索から探して"), "\(page): \(r.body)")
        }
        let applications = try f.query("SELECT count(*) FROM application")[0][0]
        let posted = try clerk.post("/members/131016/M1!/reissue", from: "/members/131016/M1", [("note", "紛失"), ("confirm", "1")])
        #expect(posted.status == 400 && posted.body.contains("加入者IDの形が正しくありません"), "\(posted.status)")
        #expect(try f.query("SELECT count(*) FROM application")[0][0] == applications)
        #expect(try viewed() == before, "nothing looked up, nothing recorded as viewed")
        let audi = try f.login("audi")
        let r = try audi.get("/members/13101a/M1")
        #expect(r.status == 404 && r.body.contains("見つかりません"), "\(r.status)")
        // A well-formed member id that does not exist is still "not found".
        #expect(try clerk.get("/members/131016/NOPE").status == 404)
    }

    @Test("the stylesheet and the login page come from Templates/ (console.css, layout and login), built into the binary")
    func templatesFromFiles() throws {
        let folder = TestDatabase.repositoryRoot.appendingPathComponent("Sources/KakuninWeb/Templates")
        var css = try String(contentsOf: folder.appendingPathComponent("console.css"), encoding: .utf8)
        if css.hasSuffix("\n") { css.removeLast() }
        let served = try HTTP.request("GET", port: f.port, "/static/console.css")
        #expect(served.status == 200 && served.body == css)
        let login = try HTTP.request("GET", port: f.port, "/login").body
        #expect(login.hasPrefix("<!DOCTYPE html>\n<html lang=\"ja\">") && login.contains("<h1>ログイン</h1>"))
        #expect(login.contains("<title>ログイン — kakunin 資格確認書</title>"))
    }
}
