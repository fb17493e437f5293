import Foundation
import KakuninStore
import KakuninTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 28, items 8 (the console's part), 9, 10, 11 and 21: the console under attack, over HTTP
/// against `kakunin serve`, and as the kakunin_console role where the item is about roles.
@Suite("The console under attack (issue 28)", .serialized)
struct ConsoleHardeningTests {
    let f: ConsoleFixture

    init() throws { f = try ConsoleFixture() }

    static let internals = ["SELECT", "INSERT", "SQLSTATE", "PostgreSQL", "22021", "42P01", "console_", "relation", "ERROR"]

    func showsNoInternals(_ body: String) -> Bool { !Self.internals.contains { body.contains($0) } }

    func events(_ action: String) throws -> [[String?]] {
        try f.query(
            "SELECT details->>'username', details->>'username_hash', details->>'reason' FROM audit_event WHERE action = $1 ORDER BY event_id",
            [action])
    }

    // MARK: - Item 9

    @Test("a NUL, a control character or an over-long name answers as a wrong password, is counted and audited (hashed), and locks after 5")
    func malformedNames() throws {
        let wrong = try f.session().login("audi", "wrong-password")
        #expect(wrong.status == 401)
        let expected = "ユーザー名またはパスワードが違います。"
        #expect(wrong.body.contains(expected))
        for name in ["audi\u{0}", "audi\u{1B}[0m", String(repeating: "a", count: 300), "boss\u{0}x"] {
            let r = try f.session().login(name, "whatever-password")
            #expect(r.status == 401, "\(name.debugDescription): \(r.status)")
            #expect(r.body.contains(expected) && showsNoInternals(r.body), "\(r.body)")
        }
        let refused = try events("console_login_refused")
        #expect(refused.count == 5)
        #expect(refused.dropFirst().allSatisfy { $0[0] == nil && $0[1]?.count == 64 })
        // The same malformed name is counted under its hash: the sixth attempt is locked out.
        let victim = "victim\u{0}"
        for _ in 0..<5 { #expect(try f.session().login(victim, "x-password").status == 401) }
        let locked = try f.session().login(victim, "x-password")
        #expect(locked.status == 429 && locked.body.contains("ログインできません"))
        #expect(try f.query("SELECT count(DISTINCT username) FROM console_login_failure WHERE username LIKE 'h:%'")[0][0] == "5")
    }

    @Test("40 wrong passwords at once: exactly 5 are checked and counted, the rest are refused as locked")
    func concurrentWrongPasswords() throws {
        let sessions = try (0..<40).map { _ -> (HTTP.Session, String) in
            let s = f.session()
            return (s, try s.get("/login").csrf ?? "")
        }
        let statuses = Statuses()
        inParallel(sessions.count) { i in
            let (s, csrf) = sessions[i]
            let r = try? s.send("POST", "/login", form: [("csrf", csrf), ("username", "audi"), ("password", "wrong-\(i)")])
            statuses.add(r?.status ?? 0)
        }
        let all = statuses.all
        #expect(all.filter { $0 == 401 }.count == 5, "\(all)")
        #expect(all.allSatisfy { [401, 429, 503].contains($0) }, "\(all)")
        #expect(try f.query("SELECT count(*) FROM console_login_failure WHERE username = 'audi'")[0][0] == "5")
        #expect(try f.session().login("audi", ConsoleFixture.passwords["audi"]!).status == 429)
    }

    @Test("an error page says what happened in Japanese with an incident id; the detail is in the server log only")
    func errorPages() throws {
        let auditor = try f.login("audi")
        _ = try f.query("ALTER TABLE run RENAME TO run_gone")
        let r = try auditor.get("/runs")
        _ = try f.query("ALTER TABLE run_gone RENAME TO run")
        #expect(r.status == 500)
        #expect(r.body.contains("処理できませんでした") && r.body.contains("受付番号"))
        #expect(showsNoInternals(r.body), "\(r.body)")
        let id = try #require(r.body.range(of: "受付番号 ").map { String(r.body[$0.upperBound...].prefix(8)) })
        // A NUL in a path parameter is a plain refusal, not a 500.
        let nul = try auditor.get("/members/131016/x%00y")
        #expect([400, 404].contains(nul.status) && showsNoInternals(nul.body), "\(nul.status) \(nul.body)")
        let stopped = f.stop()
        #expect(stopped.stderr.contains("incident \(id): database: 42P01"), "\(stopped.stderr)")
    }

    @Test("a NUL in a counter form is a field error in Japanese, nothing recorded")
    func nulInCounterForm() throws {
        let m = try f.query("SELECT member_id FROM member WHERE insurer_number = '131016' ORDER BY member_id LIMIT 1")[0][0]!
        let clerk = try f.login("clerk")
        let page = "/members/131016/\(m)"
        let before = try f.query("SELECT count(*) FROM application")[0][0]
        let r = try clerk.post("\(page)/reissue", from: page, [("note", "紛失\u{0}")])
        #expect(r.status == 400, "\(r.body)")
        #expect(r.body.contains("class=\"field-error\"") && r.body.contains("制御文字") && showsNoInternals(r.body))
        let app = try clerk.post(
            "\(page)/applications", from: page,
            [
                ("kind", "card_lost"), ("received_on", "2026-11-20"),
                ("status", "pending"), ("note", "x\u{0}"),
            ])
        #expect(app.status == 400 && app.body.contains("制御文字"))
        #expect(try f.query("SELECT count(*) FROM application")[0][0] == before)
    }

    // MARK: - Item 10

    @Test("a member page stays fast while 24 login loops run (bcrypt has threads of its own)")
    func loginFlood() throws {
        let m = try f.query("SELECT member_id FROM member WHERE insurer_number = '131016' ORDER BY member_id LIMIT 1")[0][0]!
        let clerk = try f.login("clerk")
        #expect(try clerk.get("/members/131016/\(m)").status == 200)
        let stop = Flag()
        let statuses = Statuses()
        let busy = Replies()
        let fixture = f
        let loops = Threads(24) { i in
            var n = 0
            while !stop.isSet {
                n += 1
                let r = try? fixture.session().login("nobody\(i)x\(n)", "wrong-password")
                statuses.add(r?.status ?? 0)
                if r?.status == 503 { busy.add(r) }
            }
        }
        Thread.sleep(forTimeInterval: 1.5)
        var slowest = 0.0
        for _ in 0..<8 {
            let t = Date()
            let r = try clerk.get("/members/131016/\(m)")
            slowest = max(slowest, Date().timeIntervalSince(t))
            #expect(r.status == 200)
        }
        stop.set()
        loops.join()
        #expect(slowest < 1.0, "slowest member page \(slowest) s")
        print("member page during 24 login loops: slowest of 8 \(String(format: "%.3f", slowest)) s; logins answered \(statuses.all.count)")
        let all = statuses.all
        #expect(all.contains(401) && all.allSatisfy { [401, 503].contains($0) }, "\(Set(all))")
        // A login beyond the password queue is told in Japanese when to retry.
        for refused in busy.all { #expect(refused.header("retry-after") == "5" && refused.body.contains("混み合っています")) }
    }

    @Test("a connection that sends nothing, or half a request head, is closed after the idle timeout")
    func idleConnections() throws {
        for partial in ["", "GET /health HTTP/1.1\r\nHost: x\r\n"] {
            let fd = try Self.connectIdle(port: f.port)
            defer { close(fd) }
            if !partial.isEmpty { _ = partial.withCString { write(fd, $0, strlen($0)) } }
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let start = Date()
            var buffer = [UInt8](repeating: 0, count: 1024)
            let n = read(fd, &buffer, buffer.count)
            let waited = Date().timeIntervalSince(start)
            #expect(n == 0 || (n > 0 && !partial.isEmpty), "read \(n)")
            #expect(waited > 2 && waited < 10, "closed after \(waited) s")
        }
    }

    @Test("at most --max-connections are open: idle ones beyond it wait, and are served once the idle ones are closed")
    func connectionLimit() throws {
        let limited = try ConsoleFixture(members: 50, serve: ["--idle-timeout", "3", "--max-connections", "16"])
        let idle = try (0..<16).map { _ in try Self.connectIdle(port: limited.port) }
        defer { for fd in idle { close(fd) } }
        Thread.sleep(forTimeInterval: 0.5)
        let start = Date()
        let r = try HTTP.request("GET", port: limited.port, "/health")
        let waited = Date().timeIntervalSince(start)
        #expect(r.status == 200)
        // Served only after the idle connections were closed (3 s), not at once and not never.
        #expect(waited > 1.5 && waited < 15, "served after \(waited) s")
    }

    static func connectIdle(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(fd)
            throw FixtureError("cannot connect to port \(port)")
        }
        return fd
    }

    @Test("search pages go by key: each page fetches at most a page and one more, however deep")
    func searchByKey() throws {
        let common = try #require(
            try f.query(
                """
                SELECT left(family_name_kana, 1), count(*) FROM member WHERE insurer_number = '131016' AND family_name_kana IS NOT NULL
                GROUP BY 1 HAVING count(*) > 41 ORDER BY count(*) DESC LIMIT 1
                """
            ).first, "no kana initial with more than two pages")
        let prefix = common[0]!
        let pages = min(3, (Int(common[1]!)! - 1) / 20)
        let expected = try f.query(
            """
            SELECT member_id FROM member WHERE insurer_number = '131016'
              AND starts_with((coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE "C", $1)
            ORDER BY (coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE "C", member_id COLLATE "C" LIMIT 60
            """, [prefix]
        ).map { $0[0]! }
        let clerk = try f.login("clerk")
        var path = "/members?q=\(prefix.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
        var seen: [String] = []
        for _ in 0..<pages {
            let r = try clerk.get(path)
            #expect(r.status == 200)
            let fetched = try #require(
                r.body.range(of: "data-fetched=\"").map { Int(r.body[$0.upperBound...].prefix { $0 != "\"" }) ?? -1 })
            #expect(fetched <= 21 && fetched > 20)
            seen += Self.memberLinks(r.body)
            path = try #require(r.body.range(of: "rel=\"next\"").flatMap { _ in Self.nextLink(r.body) })
        }
        #expect(seen == Array(expected.prefix(pages * 20)))
        // The old deep page number no longer reaches the database as an offset.
        let deep = try clerk.get("/members?q=\(prefix.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&page=100000")
        #expect(deep.status == 200 && deep.body.contains("data-fetched=\"21\""))
    }

    static func memberLinks(_ body: String) -> [String] {
        body.components(separatedBy: "<a href=\"/members/131016/").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    static func nextLink(_ body: String) -> String? {
        guard let r = body.range(of: "\" rel=\"next\"") else { return nil }
        let head = body[..<r.lowerBound]
        guard let start = head.range(of: "href=\"", options: .backwards) else { return nil }
        return String(head[start.upperBound...]).replacingOccurrences(of: "&amp;", with: "&")
    }

    @Test("verify twice at once starts one background job; the page shows it running, then its result")
    func verifyOneJob() throws {
        let auditor = try f.login("audi")
        // Hold the log's events so that the job keeps running while both clicks arrive.
        let holder = try f.tdb.connect()
        try holder.execute("BEGIN")
        try holder.execute("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE")
        let pages = Replies()
        let clicks = (0..<2).map { _ -> HTTP.Session in
            let s = f.session()
            s.cookies = auditor.cookies
            return s
        }
        inParallel(2) { i in
            pages.add(try? clicks[i].get("/audit?verify=1"))
        }
        let running = try f.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kakunin-console-verify'")[0][0]
        try holder.execute("COMMIT")
        #expect(running == "1")
        #expect(
            pages.all.count == 2
                && pages.all.allSatisfy {
                    $0.status == 200 && $0.body.contains("id=\"verify-running\"") && $0.body.contains("data-job=\"1\"")
                },
            "\(pages.all.map(\.body))")
        #expect(eventually(20) { (try? auditor.get("/audit"))?.body.contains("検証成功") == true })
        let done = try auditor.get("/audit")
        #expect(done.body.contains("id=\"verify-result\"") && done.body.contains("data-job=\"1\""))
        // Once it has ended, a new click starts the next job.
        let again = try auditor.get("/audit?verify=1")
        #expect(again.body.contains("data-job=\"2\""))
    }

    // MARK: - Item 11

    @Test("the last enabled admin cannot be disabled (CLI or console, itself included); enable and unlock, audited")
    func peopleManagement() throws {
        let cli = try runKakunin(["user", "disable", "boss"], database: f.tdb)
        #expect(cli.status == 65 && cli.stderr.contains("last enabled admin"), "\(cli.stderr)")
        let boss = try f.login("boss")
        let itself = try boss.post("/users/boss/disable", from: "/users", [])
        #expect(itself.status == 409 && itself.body.contains("最後の管理者"))
        #expect(try f.query("SELECT disabled_at IS NULL FROM console_user WHERE username = 'boss'")[0][0] == "t")
        // Lock audi; the admin sees it and unlocks it.
        for _ in 0..<5 { _ = try f.session().login("audi", "wrong-password") }
        #expect(try f.session().login("audi", ConsoleFixture.passwords["audi"]!).status == 429)
        let users = try boss.get("/users")
        #expect(users.body.contains("action=\"/users/audi/unlock\""))
        #expect(try boss.post("/users/audi/unlock", from: "/users", []).status == 303)
        #expect(try f.session().login("audi", ConsoleFixture.passwords["audi"]!).status == 303)
        // The CLI's unlock and enable.
        for _ in 0..<5 { _ = try f.session().login("clerk", "wrong-password") }
        #expect(try runKakunin(["user", "unlock", "clerk"], database: f.tdb).status == 0)
        #expect(try runKakunin(["user", "disable", "clerk"], database: f.tdb).status == 0)
        #expect(try f.session().login("clerk", ConsoleFixture.passwords["clerk"]!).status == 401)
        #expect(try runKakunin(["user", "enable", "clerk"], database: f.tdb).status == 0)
        #expect(try f.session().login("clerk", ConsoleFixture.passwords["clerk"]!).status == 303)
        // The console's enable, and disabling an admin when another exists.
        #expect(try boss.post("/users/other/disable", from: "/users", []).status == 303)
        #expect(try boss.post("/users/other/enable", from: "/users", []).status == 303)
        #expect(
            try runKakunin(
                ["user", "add", "boss2", "--role", "admin", "--bcrypt-cost", "10"], database: f.tdb,
                stdin: Data("admin-pass-456\n".utf8)
            ).status == 0)
        #expect(try boss.post("/users/boss/disable", from: "/users", []).status == 303)
        let actions = try f.query(
            """
            SELECT action || ':' || (details->>'username') || ':' || (details->>'person') FROM audit_event
            WHERE action IN ('console_user_disabled', 'console_user_enabled', 'console_user_unlocked') ORDER BY event_id
            """
        ).map { $0[0]! }
        #expect(actions.count == 7)
        #expect(actions.first == "console_user_unlocked:audi:console:boss")
        #expect(actions.contains("console_user_enabled:other:console:boss") && actions.last == "console_user_disabled:boss:console:boss")
    }

    @Test("after login only a plain local path is followed: control characters, //host, backslashes and their encodings go to /")
    func redirectTargets() throws {
        for next in [
            "/\t/evil.example", "//evil.example", "/\\evil.example", "/%2F/evil.example", "/%09/evil.example", "/%5Cevil.example",
            "/%252F%252Fevil.example", "https://evil.example", "/runs\r\nSet-Cookie: x=y", "/%0d%0aX: y",
        ] {
            let r = try f.session().login("audi", ConsoleFixture.passwords["audi"]!, next: next)
            #expect(r.status == 303 && r.location == "/", "\(next.debugDescription) → \(r.location ?? "nil")")
        }
        let kept = "/members?q=%E3%83%A4%E3%83%9E"
        #expect(try f.session().login("audi", ConsoleFixture.passwords["audi"]!, next: kept).location == kept)
        #expect(try f.session().login("audi", ConsoleFixture.passwords["audi"]!, next: "/runs/1").location == "/runs/1")
    }

    // MARK: - Item 21

    @Test("a refused name is kept only as a keyed hash, and counter staff see no event without an insurer")
    func refusedNamesAndStaff() throws {
        let typed = "MySecret-Passw0rd!"
        #expect(try f.session().login(typed, "anything-at-all").status == 401)
        #expect(try f.query("SELECT count(*) FROM audit_event WHERE details::text LIKE '%' || $1 || '%'", [typed])[0][0] == "0")
        #expect(try f.query("SELECT count(*) FROM console_login_failure WHERE username LIKE '%' || $1 || '%'", [typed])[0][0] == "0")
        #expect(try events("console_login_refused").last?[1]?.count == 64)
        // As the counter person's own role, and as a fresh staff login: no event without an insurer.
        _ = try f.login("clerk")
        let db = try f.tdb.connect()
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE insurer_number IS NULL").scalar != "0")
        let clerkRole = try #require(try db.query("SELECT console_role FROM console_user WHERE username = 'clerk'").scalar)
        try db.execute("SET ROLE \"\(clerkRole)\"")
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE insurer_number IS NULL").scalar == "0")
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE action LIKE 'console%'").scalar == "0")
        try db.execute("RESET ROLE")
        let auditorRole = try #require(try db.query("SELECT console_role FROM console_user WHERE username = 'audi'").scalar)
        try db.execute("SET ROLE \"\(auditorRole)\"")
        #expect(try db.query("SELECT count(*) FROM audit_event WHERE action = 'console_login_refused'").scalar != "0")
        try db.execute("RESET ROLE")
    }

    // MARK: - Item 8 (the console's login)

    @Test("the kakunin_console login cannot create sessions, re-enable people, clear failures or record console events itself")
    func consoleRoleLeastPrivilege() throws {
        let role = "console_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try f.tdb.connect()
        try admin.execute("CREATE ROLE \(role) LOGIN IN ROLE kakunin_console")
        defer {
            try? admin.execute("DROP OWNED BY \(role)")
            try? admin.execute("DROP ROLE \(role)")
        }
        _ = try runKakunin(["user", "disable", "other"], database: f.tdb)
        let db = try Connection(url: "\(f.tdb.url) user=\(role)")
        try db.execute("SET search_path = kakunin")
        func refused(_ sql: String) -> Bool {
            do {
                try db.execute(sql)
                return false
            } catch let e as DatabaseError { return e.sqlState == "42501" } catch { return false }
        }
        #expect(refused("INSERT INTO console_session (token_sha256, username, csrf_token) VALUES (sha256('x'), 'boss', repeat('c', 40))"))
        #expect(refused("UPDATE console_user SET disabled_at = NULL WHERE username = 'other'"))
        #expect(refused("UPDATE console_user SET last_login_at = now() WHERE username = 'boss'"))
        #expect(refused("UPDATE console_session SET ended_at = now()"))
        #expect(refused("DELETE FROM console_login_failure"))
        #expect(refused("INSERT INTO console_login_failure (username) VALUES ('boss')"))
        #expect(refused("SELECT audit_console('console_user_enabled', NULL, NULL, '{}')"))
        #expect(refused("SELECT audit_append('console_login', NULL, NULL, NULL, NULL, '{}')"))
        #expect(refused("SELECT console_login_succeeded(123456, sha256('x'), repeat('c', 40))"))
        #expect(refused("SELECT * FROM console_secret"))
        // Through a person's role it may record views only.
        let person = try #require(try admin.query("SELECT console_role FROM console_user WHERE username = 'audi'").scalar)
        try db.execute("SET ROLE \"\(person)\"")
        #expect(refused("SELECT audit_console('console_login', NULL, NULL, '{\"person\": \"boss\"}')"))
        try db.execute("RESET ROLE")
        #expect(try f.query("SELECT disabled_at IS NOT NULL FROM console_user WHERE username = 'other'")[0][0] == "t")
        #expect(try f.query("SELECT count(*) FROM console_session WHERE username = 'boss'")[0][0] == "0")
        // What it may do goes through the functions, and each is audited.
        #expect(try db.query("SELECT console_user_enable('other', 'console:boss')").scalar == "done")
        #expect(
            try f.query("SELECT count(*) FROM audit_event WHERE action = 'console_user_enabled' AND details->>'username' = 'other'")[0][0]
                == "1")
    }
}

/// `body(0) … body(n - 1)` at once, each on a thread of its own (GCD's pool would run only a few).
func inParallel(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    Threads(n, body).join()
}

/// `n` threads started at once running `body(i)`; `join` waits for all.
final class Threads: @unchecked Sendable {
    private let done = DispatchGroup()

    init(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        for i in 0..<n {
            done.enter()
            let t = Thread { [done] in
                ready.signal()
                go.wait()
                body(i)
                done.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        for _ in 0..<n { ready.wait() }
        for _ in 0..<n { go.signal() }
    }

    func join() { done.wait() }
}

final class Statuses: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ v: Int) {
        lock.lock()
        values.append(v)
        lock.unlock()
    }
    var all: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}

final class Replies: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [HTTP.Reply] = []
    func add(_ v: HTTP.Reply?) {
        lock.lock()
        if let v { values.append(v) }
        lock.unlock()
    }
    var all: [HTTP.Reply] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
