import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import KakuninAudit
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore
import Logging
import Mustache

/// `kakunin serve`: the web console for counter staff, auditors and operators. Pages are
/// rendered on the server (no script); every page calls the same libraries as the CLI
/// (CounterDesk, AuditorReport, AuditLog, Explanation).
public struct ConsoleOptions: Sendable {
    public var bind = "127.0.0.1"
    public var port = 8080
    public var databaseURL: String?
    /// Folder the nightly runs wrote their mailing files to (the report's file checks).
    public var mailRoot: URL
    /// The audit log's public key (the audit page verifies the latest checkpoint with it).
    public var auditPublicKey: String?
    public var poolSize = 6
    public var idleMinutes = 30
    public var absoluteHours = 10
    /// Adds `Secure` to the cookies: set it when a TLS proxy is in front.
    public var secureCookies = false
    /// Threads that check passwords (bcrypt), and how many checks may wait for them: a login
    /// beyond that is answered 503 with Retry-After at once.
    public var passwordThreads = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount / 2))
    public var passwordQueue = 16
    /// Seconds a connection may stay without a complete request head (or idle between requests)
    /// before it is closed; at most `maxConnections` are open at once (more wait in the backlog).
    public var idleTimeoutSeconds = 30
    public var maxConnections = 512

    public init(mailRoot: URL) {
        self.mailRoot = mailRoot
    }
}

/// Someone logged in, as the session names them.
struct Person: Sendable {
    let name: String
    let role: ConsoleUsers.Role
    /// The database role their statements run as (row-level security applies to it).
    let databaseRole: String
    let csrf: String
    /// A counter person's insurers; empty for the other roles (they read every insurer).
    let insurers: [String]
}

/// What a page or an action answers.
enum Reply: Sendable {
    case html(String, status: HTTPResponse.Status = .ok)
    case redirect(String)
    /// A redirect that also drops the session cookie (logout).
    case endSession(String)
    case download(name: String, type: String, body: String)
}

public final class Console: Sendable {
    let options: ConsoleOptions
    let pool: DatabasePool
    let views: Views
    /// The audit log's public key as its 32 bytes (a value; swift-crypto's key type is not Sendable).
    let publicKeyBytes: Data?
    /// The audit log's public key, when one is configured.
    var publicKey: Curve25519.Signing.PublicKey? { publicKeyBytes.flatMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0) } }
    let checks: PasswordChecks
    let verification = VerificationJob()
    static let sessionCookie = "kakunin_session"
    static let loginCookie = "kakunin_login"

    init(options: ConsoleOptions) throws {
        self.options = options
        publicKeyBytes = try options.auditPublicKey.map { try AuditKeys.publicKey(pem: AuditKeys.load($0), file: $0).rawRepresentation }
        views = try Views()
        checks = PasswordChecks(threads: options.passwordThreads, capacity: options.passwordQueue)
        pool = try DatabasePool(size: options.poolSize, url: options.databaseURL)
    }

    /// Runs until SIGTERM or SIGINT; then lets requests in progress finish and closes the pool.
    public static func serve(_ options: ConsoleOptions, onStarted: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let console = try Console(options: options)
        let router = Router(context: ConsoleContext.self)
        console.routes(router)
        var logger = Logger(label: "kakunin-console")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(options.idleTimeoutSeconds)))),
            configuration: .init(
                address: .hostname(options.bind, port: options.port), serverName: nil,
                availableConnectionsDelegate: MaximumAvailableConnections(options.maxConnections)),
            onServerRunning: { channel in onStarted(channel.localAddress?.description ?? "\(options.bind):\(options.port)") },
            logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            console.pool.shutdown()
            throw error
        }
        console.pool.shutdown()
    }

    // MARK: - Requests

    /// A page or a form's action, once the middleware has admitted the request (session, CSRF,
    /// role, insurer): the person's database role is set, `body` runs on a pooled connection with
    /// the request's form, and its reply (or what it threw) is rendered with the person's menu.
    func serve(
        _ context: ConsoleContext, asPerson: Bool = true,
        _ body: @escaping @Sendable (Connection, Person, FormFields) throws -> Reply
    ) async -> Response {
        guard let person = context.person else { return Self.response(.redirect("/login")) }
        let form = context.form
        return await respond {
            try await self.pool.run { db in
                try self.shown(person) {
                    guard asPerson else { return try body(db, person, form) }
                    return try self.asPerson(db, person) { try body(db, person, form) }
                }
            }
        }
    }

    /// Runs `body` under the person's database role; the pool resets it afterwards.
    func asPerson<T>(_ db: Connection, _ person: Person, _ body: () throws -> T) throws -> T {
        try db.execute("SET ROLE \"\(person.databaseRole)\"")
        return try body()
    }

    /// Runs a page for a person: what it throws becomes a page with the person's menu.
    func shown(_ person: Person, _ body: () throws -> Reply) throws -> Reply {
        do { return try body() } catch { return errorReply(error, person) }
    }

    private func respond(_ work: () async throws -> Reply) async -> Response {
        do { return Self.response(try await work()) } catch { return Self.response(errorReply(error, nil)) }
    }

    /// Maps what a page threw to a page: not found, refused, or an error with its cause.
    func errorReply(_ error: Error, _ person: Person?) -> Reply {
        switch error {
        case let e as OperatorError where [.notFound, .noPermission, .conflict, .usage].contains(e.status):
            // What the person asked for cannot be done (their input, a state): said as it is.
            let status: HTTPResponse.Status
            switch e.status {
            case .notFound, .noPermission: status = .notFound
            case .conflict: status = .conflict
            default: status = .badRequest
            }
            if status == .notFound && !Self.isJapanese(e.message) {
                // The libraries' own "not found" is for operators at a terminal: the page says it in Japanese.
                return .html(
                    views.error(
                        title: "見つかりません", message: "指定された加入者・確認書・実行などは見つかりません。",
                        fix: "検索または一覧から選んでください。", person: person), status: status)
            }
            let title = status == .notFound ? "見つかりません" : "処理できませんでした"
            let said = ClerkErrors.said(e)
            return .html(views.error(title: title, message: said.message, fix: said.fix, person: person), status: status)
        case let e as DatabaseError where e.sqlState == "42501":
            return .html(
                views.error(
                    title: "この操作の権限がありません", message: "データベースがこの操作を認めませんでした。何も変更していません。",
                    fix: "権限のある担当者に依頼してください。", person: person), status: .forbidden)
        case let e as DatabaseError where ["22021", "22P05", "54000"].contains(e.sqlState ?? ""):
            // A NUL or a character the database cannot store, or a value far too long.
            return .html(
                views.error(
                    title: "入力できない文字が含まれています",
                    message: "入力に使えない文字（制御文字など）か、長すぎる値が含まれていたため、何も変更していません。",
                    fix: "入力を確かめて、もう一度送信してください。", person: person), status: .badRequest)
        default:
            let id = incident(error)
            return .html(
                views.error(
                    title: "処理できませんでした",
                    message: "内部でエラーが起きたため、この操作を完了できませんでした（受付番号 \(id)）。",
                    fix: "もう一度試し、続くときは受付番号を運用担当に伝えてください。", person: person),
                status: .internalServerError)
        }
    }

    /// Whether a message is written in Japanese (has kana or kanji).
    static func isJapanese(_ text: String) -> Bool {
        text.unicodeScalars.contains { (0x3040...0x30FF).contains($0.value) || (0x4E00...0x9FFF).contains($0.value) }
    }

    /// Writes what went wrong to the server log under a new incident id, and returns the id (the
    /// page shows only the id: never SQL, SQLSTATE or internals).
    func incident(_ error: Error) -> String {
        let id = String(format: "%08X", UInt32.random(in: 0...UInt32.max))
        let detail: String
        if let e = error as? DatabaseError { detail = "database: \(e.sqlState ?? "-") \(e.message)" } else { detail = "\(error)" }
        FileHandle.standardError.write(Data("kakunin serve: incident \(id): \(detail)\n".utf8))
        return id
    }

    static func response(_ reply: Reply) -> Response {
        var headers: HTTPFields = [
            .contentSecurityPolicy:
                "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            .cacheControl: "no-store",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "same-origin",
        ]
        switch reply {
        case .html(let text, let status):
            headers[.contentType] = "text/html; charset=utf-8"
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        case .redirect(let location):
            headers[.location] = location
            return Response(status: .seeOther, headers: headers)
        case .endSession(let location):
            headers[.location] = location
            headers[.setCookie] = "\(sessionCookie)=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
            return Response(status: .seeOther, headers: headers)
        case .download(let name, let type, let body):
            headers[.contentType] = type
            headers[.contentDisposition] = "attachment; filename=\"\(name)\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }

    /// Constant-time comparison of two tokens.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }

    // MARK: - Routes

    /// The public routes (stylesheet, health, login) run bare; every other route runs behind
    /// FormMiddleware → SessionMiddleware → CSRFMiddleware, then RoleMiddleware for its role set
    /// (`Access`) and, when it names an insurer, InsurerScopeMiddleware.
    func routes(_ router: Router<ConsoleContext>) {
        router.get("/static/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: Views.stylesheet)))
        }
        router.get("/health") { _, _ in "ok\n" }
        router.get("/login") { request, _ in self.loginPage(request) }
        router.post("/login") { request, _ in await self.login(request) }
        let signedIn = router.group().add(middleware: FormMiddleware(console: self)).add(middleware: SessionMiddleware(console: self))
            .add(middleware: CSRFMiddleware(console: self))
        signedIn.post("/logout") { request, c in
            let token = request.cookies[Self.sessionCookie]?.value
            return await self.serve(c, asPerson: false) { db, _, _ in try self.logout(db, token: token) }
        }
        signedIn.get("/") { _, c in await self.serve(c) { _, person, _ in .redirect(Access.home(person.role)) } }
        func only(_ roles: Access.Roles) -> RouterGroup<ConsoleContext> {
            signedIn.group().add(middleware: RoleMiddleware(roles: roles, console: self))
        }
        counterRoutes(only(Access.memberReaders), only(Access.counter))
        runRoutes(only(Access.runReaders), auditors: only(Access.auditors), admins: only(Access.admins))
    }

    /// Counter work. Each route names an insurer and one thing of it (a member, an application,
    /// a certificate): `key` is that parameter's name.
    func counterRoutes(_ readers: RouterGroup<ConsoleContext>, _ counter: RouterGroup<ConsoleContext>) {
        readers.get("/members") { _, c in await self.serve(c) { try self.search($0, $1, $2) } }
        typealias Handler<Key> = @Sendable (Console, Connection, Person, InsurerNumber, Key, FormFields) throws -> Reply
        func route<Key>(
            _ group: RouterGroup<ConsoleContext>, _ method: HTTPRequest.Method, _ prefix: String, _ key: String, _ suffix: String,
            parse: @escaping @Sendable (String) throws -> Key, _ handler: @escaping Handler<Key>
        ) {
            let respond: @Sendable (Request, ConsoleContext) async -> Response = { _, c in
                let (i, k) = (c.parameters.get("insurer") ?? "", c.parameters.get(key) ?? "")
                return await self.serve(c) { try handler(self, $0, $1, Self.insurerParameter(i), parse(k), $2) }
            }
            group.group().add(middleware: InsurerScopeMiddleware(console: self))
                .on(RouterPath("/\(prefix)/:insurer/:\(key)\(suffix)"), method: method, use: respond)
        }
        func member(_ g: RouterGroup<ConsoleContext>, _ m: HTTPRequest.Method, _ suffix: String, _ handler: @escaping Handler<MemberID>) {
            route(g, m, "members", "member", suffix, parse: Self.memberParameter, handler)
        }
        func other(
            _ g: RouterGroup<ConsoleContext>, _ m: HTTPRequest.Method, _ prefix: String, _ key: String, _ suffix: String,
            _ handler: @escaping Handler<String>
        ) {
            route(g, m, prefix, key, suffix, parse: { $0 }, handler)
        }
        member(readers, .get, "") { try $0.memberPage($1, $2, $3, $4, $5) }
        member(readers, .get, "/explain") { try $0.explainPage($1, $2, $3, $4, $5) }
        member(counter, .get, "/issue") { try $0.issueConfirm($1, $2, $3, $4, $5) }
        member(counter, .post, "/issue") { try $0.issue($1, $2, $3, $4, $5) }
        member(counter, .post, "/applications") { try $0.addApplication($1, $2, $3, $4, $5) }
        member(counter, .post, "/reissue") { try $0.reissue($1, $2, $3, $4, $5) }
        member(counter, .post, "/consideration-end") { try $0.endConsideration($1, $2, $3, $4, $5) }
        member(counter, .post, "/notice-return") { try $0.returnNotice($1, $2, $3, $4, $5) }
        other(counter, .post, "applications", "application", "/decide") { try $0.decideApplication($1, $2, $3, $4, $5) }
        other(counter, .get, "certificates", "number", "/print") { try $0.printView($1, $2, $3, $4, $5) }
        other(counter, .post, "certificates", "number", "/return") { try $0.returnCertificate($1, $2, $3, $4, $5) }
        other(counter, .post, "certificates", "number", "/void") { try $0.voidCertificate($1, $2, $3, $4, $5) }
    }

    /// The `:insurer` of a counter route, checked once here: one that is not 6 or 8 digits is
    /// no insurer at all ("not found", as an insurer out of the person's scope).
    static func insurerParameter(_ text: String) throws -> InsurerNumber {
        guard let insurer = InsurerNumber(text) else {
            throw OperatorError(.notFound, "該当する保険者はありません。", fix: "加入者検索から探してください。")
        }
        return insurer
    }

    /// The `:member` of a counter route, checked once here by the feeds' rule for member ids:
    /// a malformed one is refused (400) in the clerk's words, never looked up. The text typed is
    /// not repeated back (it may hold anything).
    static func memberParameter(_ text: String) throws -> MemberID {
        guard let member = MemberID(text) else {
            throw OperatorError(
                .usage, "加入者IDの形が正しくありません。加入者IDは半角の英字・数字・「-」・「_」の20文字以内です。",
                fix: "加入者検索から探して、一覧のリンクから開いてください。")
        }
        return member
    }

    /// Auditors, operators and administrators.
    func runRoutes(_ runReaders: RouterGroup<ConsoleContext>, auditors: RouterGroup<ConsoleContext>, admins: RouterGroup<ConsoleContext>) {
        runReaders.get("/runs") { _, c in await self.serve(c) { try self.runsPage($0, $1, $2) } }
        runReaders.get("/runs/:run") { _, c in
            let id = c.parameters.get("run") ?? ""
            return await self.serve(c) { db, person, _ in try self.runReport(db, person, id) }
        }
        auditors.get("/runs/:run/members") { _, c in
            let id = c.parameters.get("run") ?? ""
            return await self.serve(c) { try self.drillDown($0, $1, id, $2) }
        }
        auditors.get("/audit") { _, c in await self.auditRoute(c) }
        auditors.get("/audit/proof") { _, c in await self.serve(c) { try self.proofDownload($0, $1, $2) } }
        runReaders.get("/operations") { _, c in await self.serve(c) { try self.operationsPage($0, $1, $2) } }
        admins.get("/users") { _, c in await self.serve(c, asPerson: false) { try self.usersPage($0, $1, $2) } }
        for change in PeopleChange.allCases {
            admins.post("/users/:name/\(change.rawValue)") { _, c in
                let name = c.parameters.get("name") ?? ""
                return await self.serve(c, asPerson: false) { db, person, _ in try self.changePerson(db, person, name, change) }
            }
        }
    }
}

extension Console {
    /// Today in Japan: the date the counter decides and records as.
    static func today() -> LocalDate { LocalDate.todayInJapan() }
}
