import Foundation
import KakuninStore
import KakuninTesting

#if canImport(Glibc)
import Glibc
#endif

/// A real console on a real database: generated members imported through the CLI, one
/// nightly run with a signed checkpoint, five people, and `kakunin serve` on a free port.
final class ConsoleFixture: @unchecked Sendable {
    let tdb: TestDatabase
    let dir: URL
    let port: Int
    let server: RunningCommand
    static let passwords = [
        "clerk": "counter-pass-1", "other": "counter-pass-2", "audi": "auditor-pass-1",
        "boss": "admin-pass-123", "ops": "operator-pass-1", "koyo": "counter-pass-3",
    ]

    /// `kakunin serve` closes connections idle (or without a complete request head) for 3 s here.
    /// `employerDelivery` [2026-12]: the feeds have their optional entries and establishments.csv,
    /// the employee insurer 06139999 delivers through its establishments and has run too, and a
    /// counter person `koyo` works for it.
    init(members: Int = 600, serve extra: [String] = ["--idle-timeout", "3"], employerDelivery: Bool = false) throws {
        let db = try TestDatabase()
        let dir = try temporaryDirectory("kakunin-console")
        tdb = db
        self.dir = dir
        func k(_ args: [String], stdin: String? = nil) throws {
            let r = try runKakunin(args, database: db, stdin: stdin.map { Data($0.utf8) })
            guard [0, 10, 11].contains(r.status) else {
                throw FixtureError("kakunin \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)")
            }
        }
        let feeds = dir.appendingPathComponent("feeds")
        try k(
            ["generate", "--members", String(members), "--seed", "11", "--out", feeds.path]
                + (employerDelivery ? ["--optional-entries"] : []))
        for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
            try k(["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", dir.appendingPathComponent("reports").path])
        }
        try k([
            "audit", "keygen", "--private-key", dir.appendingPathComponent("key.pem").path,
            "--public-key", dir.appendingPathComponent("pub.pem").path,
        ])
        try k([
            "run", "--insurer", "131016", "--as-of", "2026-12-01", "--out", dir.appendingPathComponent("mail").path,
            "--params-dir", dir.path, "--audit-key", dir.appendingPathComponent("key.pem").path, "--quiet",
        ])
        try k(
            ["user", "add", "clerk", "--role", "counter", "--insurer", "131016", "--bcrypt-cost", "10"],
            stdin: Self.passwords["clerk"]! + "\n")
        try k(
            ["user", "add", "other", "--role", "counter", "--insurer", "39131015", "--bcrypt-cost", "10"],
            stdin: Self.passwords["other"]! + "\n")
        try k(["user", "add", "audi", "--role", "auditor", "--bcrypt-cost", "10"], stdin: Self.passwords["audi"]! + "\n")
        try k(["user", "add", "boss", "--role", "admin", "--bcrypt-cost", "10"], stdin: Self.passwords["boss"]! + "\n")
        try k(["user", "add", "ops", "--role", "operator", "--bcrypt-cost", "10"], stdin: Self.passwords["ops"]! + "\n")
        if employerDelivery { try Self.deliverThroughEmployers(dir, k) }
        let port = try Self.freePort()
        self.port = port
        server = try startKakunin(
            [
                "serve", "--port", String(port), "--out", dir.appendingPathComponent("mail").path,
                "--audit-public-key", dir.appendingPathComponent("pub.pem").path,
            ] + extra,
            database: db)
        let up = eventually(20) { (try? HTTP.request("GET", port: port, "/health"))?.status == 200 }
        guard up else { throw FixtureError("kakunin serve did not answer on port \(port)") }
    }

    /// [2026-12] 06139999 with employee_delivery = employer: its establishments imported, a
    /// nightly run, and its counter person `koyo`.
    private static func deliverThroughEmployers(_ dir: URL, _ k: ([String], String?) throws -> Void) throws {
        let feeds = dir.appendingPathComponent("feeds")
        try k(["import", "establishments", feeds.appendingPathComponent("establishments.csv").path, "--report-dir", dir.path], nil)
        try k(
            ["insurer", "params", "set", "--insurer", "06139999", "--from", "2001-01-01", "-"],
            "insurer_name = かくにん健康保険組合\nemployee_delivery = employer\n")
        try k(
            [
                "run", "--insurer", "06139999", "--as-of", "2026-12-01", "--out", dir.appendingPathComponent("mail").path,
                "--audit-key", dir.appendingPathComponent("key.pem").path, "--quiet",
            ], nil)
        try k(["user", "add", "koyo", "--role", "counter", "--insurer", "06139999", "--bcrypt-cost", "10"], passwords["koyo"]! + "\n")
    }

    /// Stops the server with SIGTERM, as systemd does; its result.
    func stop() -> CommandResult {
        kill(server.pid, SIGTERM)
        return server.wait()
    }

    deinit {
        kill(server.pid, SIGKILL)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw FixtureError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A browser-like session: cookies kept, redirects not followed.
    func session() -> HTTP.Session { HTTP.Session(port: port) }

    /// Logs `user` in with their password; the session.
    func login(_ user: String, password: String? = nil) throws -> HTTP.Session {
        let s = session()
        let r = try s.login(user, password ?? Self.passwords[user]!)
        guard r.status == 303 else { throw FixtureError("login of \(user) answered \(r.status): \(r.body)") }
        return s
    }

    func query(_ sql: String, _ params: [String?] = []) throws -> [[String?]] {
        try tdb.connect().query(sql, params).rows
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// HTTP/1.1 over a plain socket: exactly what was sent and answered, no redirect followed,
/// no cookie handled behind the test's back.
enum HTTP {
    struct Reply {
        let status: Int
        let headers: [(String, String)]
        let body: String

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var setCookies: [String] { headers.filter { $0.0.lowercased() == "set-cookie" }.map(\.1) }
        var location: String? { header("location") }

        /// The value of the first `name="csrf"` field on the page.
        var csrf: String? {
            guard let r = body.range(of: "name=\"csrf\" value=\"") else { return nil }
            return String(body[r.upperBound...].prefix { $0 != "\"" })
        }
    }

    static func request(_ method: String, port: Int, _ path: String, headers: [String: String] = [:], body: String? = nil) throws -> Reply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw FixtureError("cannot connect to port \(port)") }
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        let payload = Array((body ?? "").utf8)
        if body != nil { text += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(payload.count)\r\n" }
        text += "\r\n"
        let bytes = Array(text.utf8) + payload
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw FixtureError("write failed") }
            sent += n
        }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        guard
            let split = data.indices.first(where: { i in
                i + 3 < data.count && data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10
            })
        else {
            throw FixtureError("no HTTP response")
        }
        let head = String(decoding: data[..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        let hs = head.dropFirst().compactMap { line -> (String, String)? in
            guard let c = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces))
        }
        var bodyBytes = Array(data[(split + 4)...])
        if hs.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) {
            var out = [UInt8]()
            var i = 0
            while i < bodyBytes.count {
                guard let end = bodyBytes[i...].firstIndex(of: 13) else { break }
                let size = Int(String(decoding: bodyBytes[i..<end], as: UTF8.self), radix: 16) ?? 0
                if size == 0 { break }
                out += bodyBytes[(end + 2)..<(end + 2 + size)]
                i = end + 2 + size + 2
            }
            bodyBytes = out
        }
        return Reply(status: status, headers: hs, body: String(decoding: bodyBytes, as: UTF8.self))
    }

    static func form(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    final class Session: @unchecked Sendable {
        let port: Int
        var cookies: [String: String] = [:]
        init(port: Int) { self.port = port }

        @discardableResult
        func send(_ method: String, _ path: String, form: [(String, String)]? = nil) throws -> Reply {
            var headers: [String: String] = [:]
            if !cookies.isEmpty { headers["Cookie"] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
            let r = try HTTP.request(method, port: port, path, headers: headers, body: form.map(HTTP.form))
            for c in r.setCookies {
                let pair = c.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let value = pair.count > 1 ? String(pair[1]) : ""
                if value.isEmpty || c.contains("Max-Age=0") { cookies[String(pair[0])] = nil } else { cookies[String(pair[0])] = value }
            }
            return r
        }

        func get(_ path: String) throws -> Reply { try send("GET", path) }

        /// Posts a form with the CSRF token of the page at `from` (as a browser submitting it).
        func post(_ path: String, from page: String, _ fields: [(String, String)]) throws -> Reply {
            let csrf = try get(page).csrf ?? ""
            return try send("POST", path, form: [("csrf", csrf)] + fields)
        }

        func login(_ user: String, _ password: String, next: String? = nil) throws -> Reply {
            let page = try get("/login")
            return try send(
                "POST", "/login",
                form: [("csrf", page.csrf ?? ""), ("username", user), ("password", password)] + (next.map { [("next", $0)] } ?? []))
        }
    }
}
