import Crypto
import Foundation
import Hummingbird
import HummingbirdBcrypt
import KakuninBatch
import KakuninStore

/// Logins, sessions and throttling. A session is a random 256-bit token in an HttpOnly,
/// SameSite=Strict cookie; the database keeps only its SHA-256, with the session's CSRF token.
/// A session ends after `idleMinutes` without a request, `absoluteHours` after login, at logout,
/// or when the person is disabled.
extension Console {
    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The person behind a session cookie, or nil (no cookie, unknown, ended, expired, disabled).
    /// Runs as the server's own login, before the person's role is set.
    func session(_ db: Connection, token: String?) throws -> Person? {
        guard let token, token.count == 43 else { return nil }
        guard let r = try db.query("""
            WITH s AS (
                SELECT s.token_sha256, u.username, u.role, u.console_role, s.csrf_token,
                       s.last_seen_at < now() - interval '20 seconds' AS stale
                FROM console_session s JOIN console_user u USING (username)
                WHERE s.token_sha256 = decode($1, 'hex') AND s.ended_at IS NULL AND u.disabled_at IS NULL
                  AND s.last_seen_at > now() - make_interval(mins => $2::int) AND s.created_at > now() - make_interval(hours => $3::int)
            ), touched AS (
                UPDATE console_session c SET last_seen_at = now() FROM s WHERE c.token_sha256 = s.token_sha256 AND s.stale
            )
            SELECT username, role, console_role, csrf_token,
                   (SELECT string_agg(insurer_number, ',' ORDER BY insurer_number) FROM staff_scope WHERE login = s.console_role)
            FROM s
            """, [Self.tokenHash(token), String(options.idleMinutes), String(options.absoluteHours)]).rows.first,
              let role = ConsoleUsers.Role(rawValue: r[1]!) else { return nil }
        return Person(name: r[0]!, role: role, databaseRole: r[2]!, csrf: r[3]!,
                      insurers: (r[4] ?? "").split(separator: ",").map(String.init))
    }

    func cookie(_ name: String, _ value: String, maxAge: Int? = nil) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: options.secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// The login form. Its CSRF token is a random value in a cookie of its own, repeated in the
    /// form (there is no session yet to hold it).
    func loginPage(_ request: Request, error: String? = nil, username: String? = nil,
                   status: HTTPResponse.Status = .ok) -> Response {
        let query = FormFields(request.uri.query ?? "")
        let token = Self.randomToken()
        var response = Self.response(.html(views.login(csrf: token, error: error, username: username, next: query["next"]), status: status))
        response.setCookie(cookie(Self.loginCookie, token, maxAge: 3600))
        return response
    }

    func login(_ request: Request) async -> Response {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 16 * 1024) else { return loginPage(request, error: "送信内容が大きすぎます。") }
        let form = FormFields(String(buffer: buffer))
        guard let sent = form.raw("csrf"), let expected = request.cookies[Self.loginCookie]?.value, Self.same(sent, expected) else {
            return loginPage(request, error: "ログイン画面の有効期限が切れました。もう一度入力してください。", username: form["username"], status: .forbidden)
        }
        let username = form["username"] ?? ""
        let password = form.raw("password") ?? ""
        let options = self.options
        struct Outcome: Sendable { var token: String?; var error: String?; var status: HTTPResponse.Status }
        let outcome: Outcome
        do {
            outcome = try await pool.run { db in
                let failures = Int(try db.query("""
                    SELECT count(*) FROM console_login_failure WHERE username = $1 AND failed_at > now() - make_interval(mins => $2::int)
                    """, [username, String(options.throttleMinutes)]).scalar ?? "0") ?? 0
                if failures >= options.throttleFailures {
                    try db.execute("SELECT audit_console('console_login_refused', NULL, NULL, $1::jsonb)",
                                   [AuditLog.jsonText(["username": username, "reason": "throttled"])])
                    return Outcome(error: "パスワードを\(options.throttleFailures)回続けて誤ったため、\(options.throttleMinutes)分間ログインできません。時間をおくか、管理者に連絡してください。",
                                   status: .tooManyRequests)
                }
                let user = try db.query("SELECT password_hash, disabled_at IS NOT NULL FROM console_user WHERE username = $1", [username]).rows.first
                // Unknown names cost a bcrypt too, so timing does not tell which names exist.
                let ok = Bcrypt.verify(password, hash: user?[0] ?? Self.decoyHash) && user != nil && user?[1] == "f"
                guard ok else {
                    try db.transaction {
                        try db.execute("DELETE FROM console_login_failure WHERE failed_at < now() - interval '1 day'")
                        try db.execute("INSERT INTO console_login_failure (username) VALUES ($1)", [username])
                        try db.execute("SELECT audit_console('console_login_refused', NULL, NULL, $1::jsonb)",
                                       [AuditLog.jsonText(["username": username, "reason": user?[1] == "t" ? "disabled" : "wrong user name or password"])])
                    }
                    return Outcome(error: "ユーザー名またはパスワードが違います。", status: .unauthorized)
                }
                let token = Self.randomToken()
                try db.transaction {
                    try db.execute("DELETE FROM console_login_failure WHERE username = $1", [username])
                    try db.execute("INSERT INTO console_session (token_sha256, username, csrf_token) VALUES (decode($1, 'hex'), $2, $3)",
                                   [Self.tokenHash(token), username, Self.randomToken()])
                    try db.execute("UPDATE console_user SET last_login_at = now() WHERE username = $1", [username])
                    try db.execute("SELECT audit_console('console_login', NULL, NULL, $1::jsonb)", [AuditLog.jsonText(["person": username])])
                }
                return Outcome(token: token, status: .seeOther)
            }
        } catch {
            return loginPage(request, error: "データベースに接続できません：\(error)", username: username, status: .serviceUnavailable)
        }
        guard let token = outcome.token else {
            return loginPage(request, error: outcome.error, username: username, status: outcome.status)
        }
        var next = form["next"] ?? "/"
        // Only a path of this site (not //host, not a scheme).
        if !next.hasPrefix("/") || next.hasPrefix("//") || next.contains("\\") { next = "/" }
        var response = Self.response(.redirect(next))
        response.setCookie(cookie(Self.sessionCookie, token))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        return response
    }

    func logout(_ db: Connection, _ person: Person) throws -> Reply {
        try db.transaction {
            try db.execute("UPDATE console_session SET ended_at = now() WHERE username = $1 AND csrf_token = $2 AND ended_at IS NULL",
                           [person.name, person.csrf])
            try db.execute("SELECT audit_console('console_logout', NULL, NULL, $1::jsonb)", [AuditLog.jsonText(["person": person.name])])
        }
        return .endSession("/login?done=logout")
    }

    /// A bcrypt hash of nothing anyone knows, for names that do not exist.
    static let decoyHash = Bcrypt.hash(Console.randomToken(), cost: 12)
}
