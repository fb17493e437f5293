import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import KakuninBatch
import KakuninCounter
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
        guard let token, token.count == 43,
            let s = try ConsoleAccounts(db: db).session(
                tokenSHA256: Self.tokenHash(token), idleMinutes: options.idleMinutes,
                absoluteHours: options.absoluteHours),
            let role = ConsoleUsers.Role(rawValue: s.role)
        else { return nil }
        return Person(name: s.name, role: role, databaseRole: s.databaseRole, csrf: s.csrf, insurers: s.insurers)
    }

    func cookie(_ name: String, _ value: String, maxAge: Int? = nil) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: options.secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// The login form. Its CSRF token is a random value in a cookie of its own, repeated in the
    /// form (there is no session yet to hold it).
    func loginPage(
        _ request: Request, error: String? = nil, username: String? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        let query = FormFields(request.uri.query ?? "")
        let token = Self.randomToken()
        var response = Self.response(.html(views.login(csrf: token, error: error, username: username, next: query["next"]), status: status))
        response.setCookie(cookie(Self.loginCookie, token, maxAge: 3600))
        return response
    }

    static let wrongLogin = "ユーザー名またはパスワードが違います。"

    /// A login. Whatever the name (a person's, unknown, disabled, malformed, with a NUL), a wrong
    /// attempt costs one bcrypt, is counted under the name and audited, and answers the same
    /// (401, the same words); a locked name answers 429 without checking the password.
    func login(_ request: Request) async -> Response {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 16 * 1024) else { return loginPage(request, error: "送信内容が大きすぎます。") }
        let form = FormFields(String(buffer: buffer))
        let username = form["username"] ?? ""
        // Only a well-formed name is shown again in the form.
        let shown = ConsoleAccounts.isUserName(username) ? username : nil
        guard let sent = form.raw("csrf"), let expected = request.cookies[Self.loginCookie]?.value, Self.same(sent, expected) else {
            return loginPage(request, error: "ログイン画面の有効期限が切れました。もう一度入力してください。", username: shown, status: .forbidden)
        }
        let password = form.raw("password") ?? ""
        guard let ticket = checks.admit() else {
            var busy = loginPage(
                request, error: "ただいまログインが混み合っています。数秒待ってから、もう一度ログインしてください。",
                username: shown, status: .serviceUnavailable)
            busy.headers[HTTPField.Name("Retry-After")!] = "5"
            return busy
        }
        // The name goes to the database as bytes: a NUL or a control character is hashed there,
        // counted and refused like any wrong name, never a statement error.
        let name = Array(username.utf8)
        let token = Self.randomToken()
        do {
            let start = try await pool.run { db in try ConsoleAccounts(db: db).startLogin(name: name) }
            guard case .check(let attempt, let hash) = start else {
                ticket.release()
                guard case .throttled(let failures, let minutes) = start else { return loginPage(request) }
                return loginPage(
                    request, error: "パスワードを\(failures)回続けて誤ったため、\(minutes)分間ログインできません。時間をおくか、管理者に連絡してください。",
                    username: shown, status: .tooManyRequests)
            }
            // Unknown names cost a bcrypt too, so timing does not tell which names exist.
            let right = await ticket.verify(password, hash: hash ?? Self.decoyHash) && hash != nil
            guard right else {
                try await pool.run { db in try ConsoleAccounts(db: db).loginFailed(attempt: attempt) }
                return loginPage(request, error: Self.wrongLogin, username: shown, status: .unauthorized)
            }
            let csrf = Self.randomToken()
            _ = try await pool.run { db in
                try ConsoleAccounts(db: db).loginSucceeded(attempt: attempt, tokenSHA256: Self.tokenHash(token), csrf: csrf)
            }
        } catch {
            ticket.release()
            let id = incident(error)
            return loginPage(
                request, error: "ログインを処理できませんでした（受付番号 \(id)）。もう一度試し、続くときは受付番号を運用担当に伝えてください。",
                username: shown, status: .serviceUnavailable)
        }
        var response = Self.response(.redirect(Self.localPath(form.raw("next")) ?? "/"))
        response.setCookie(cookie(Self.sessionCookie, token))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        return response
    }

    /// `next` when it is a plain path of this site, else nil: printable ASCII as sent (no control
    /// character, no space), one leading `/`, no `\\`; and once percent-decoded (up to three
    /// times) still no control character, no `\\`, no leading `//` (`/%2F/host`, `/%09/host`).
    static func localPath(_ next: String?) -> String? {
        guard let next, next.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        var text = next
        for _ in 0..<4 {
            let scalars = Array(text.unicodeScalars)
            guard scalars.first == "/", !scalars.contains("\\"), scalars.count == 1 || scalars[1] != "/",
                !scalars.contains(where: { $0.properties.generalCategory == .control })
            else { return nil }
            guard let decoded = text.removingPercentEncoding else { return nil }
            if decoded == text { return next }
            text = decoded
        }
        return nil
    }

    func logout(_ db: Connection, token: String?) throws -> Reply {
        if let token { try ConsoleAccounts(db: db).logout(tokenSHA256: Self.tokenHash(token)) }
        return .endSession("/login?done=logout")
    }

    /// A bcrypt hash of nothing anyone knows, for names that do not exist.
    static let decoyHash = Bcrypt.hash(Console.randomToken(), cost: 12)
}
