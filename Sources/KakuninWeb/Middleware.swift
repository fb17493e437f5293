import Foundation
import HTTPTypes
import Hummingbird
import KakuninRuntime

/// The context of every console request (Hummingbird's `RequestContext`): what the request
/// carries once the middleware below has run: its form and the person signed in.
struct ConsoleContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// A GET's query, a POST's body (`FormMiddleware`).
    var form = FormFields("")
    /// The person the session cookie names (`SessionMiddleware`); nil on the public pages
    /// (login, health, stylesheet), which run without that middleware.
    var person: Person?

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// Reads the form: a GET's query; a POST's body, up to 64 KiB (more is refused with 413 before
/// anything else is looked at, the session included).
struct FormMiddleware: RouterMiddleware {
    let console: Console

    func handle(
        _ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        guard request.method == .post else {
            context.form = FormFields(request.uri.query ?? "")
            return try await next(request, context)
        }
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 64 * 1024) else {
            return Console.response(
                .html(
                    console.views.error(
                        title: "送信内容が大きすぎます", message: "送信できる内容は 64 KiB までです。何も変更していません。",
                        fix: nil, person: nil), status: .contentTooLarge))
        }
        context.form = FormFields(String(buffer: buffer))
        return try await next(request, context)
    }
}

/// Puts the person of the session cookie into the context (looked up as the server's own login,
/// before any role is set). Without a live session: a GET goes to the login page, which comes back
/// to the page asked for; a POST goes to the login page alone (its form is not replayed).
struct SessionMiddleware: RouterMiddleware {
    let console: Console

    func handle(
        _ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response
    ) async throws -> Response {
        let token = request.cookies[Console.sessionCookie]?.value
        let found: Person?
        do {
            found = try await console.pool.run { [console] db in try console.session(db, token: token) }
        } catch {
            return Console.response(console.errorReply(error, nil))
        }
        guard let person = found else {
            guard request.method == .get else { return Console.response(.redirect("/login")) }
            let here = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            return Console.response(.redirect("/login?" + FormFields.encode([("next", here)])))
        }
        var context = context
        context.person = person
        return try await next(request, context)
    }
}

/// A POST must carry the session's CSRF token in its form (compared in constant time);
/// otherwise 403 and nothing changes.
struct CSRFMiddleware: RouterMiddleware {
    let console: Console

    func handle(
        _ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response
    ) async throws -> Response {
        guard request.method == .post, let person = context.person else { return try await next(request, context) }
        guard let sent = context.form.raw("csrf"), Console.same(sent, person.csrf) else {
            return console.refusal(
                title: "フォームの有効期限が切れています", message: "このフォームは現在のログインのものではありません（CSRF）。何も変更していません。",
                fix: "ページを再読み込みしてから、もう一度送信してください。", person: person)
        }
        return try await next(request, context)
    }
}

extension Console {
    /// The middleware's refusal (403): the error page in Japanese, with the person's own menu.
    func refusal(title: String, message: String, fix: String, person: Person) -> Response {
        Console.response(.html(views.error(title: title, message: message, fix: fix, person: person), status: .forbidden))
    }
}

/// Lets through only the people whose role is in `roles` (`Access` names the sets); anyone else
/// gets 403 with their own menu.
struct RoleMiddleware: RouterMiddleware {
    let roles: Set<ConsoleUsers.Role>
    let console: Console

    func handle(
        _ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response
    ) async throws -> Response {
        guard let person = context.person else { return Console.response(.redirect("/login")) }
        guard roles.contains(person.role) else {
            return console.refusal(
                title: "この操作の権限がありません",
                message: "\(person.role.japanese)の担当者はこの画面を開くことも、この操作をすることもできません。何も変更していません。",
                fix: "権限のある担当者に依頼してください。", person: person)
        }
        return try await next(request, context)
    }
}

/// The server's own insurer check on every route that names one (`:insurer`; the database's
/// row-level security is the other): a counter person opens only their insurers; anything else
/// is "not found", as if it did not exist.
struct InsurerScopeMiddleware: RouterMiddleware {
    let console: Console

    func handle(
        _ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response
    ) async throws -> Response {
        guard let person = context.person else { return Console.response(.redirect("/login")) }
        guard person.mayOpen(insurer: context.parameters.get("insurer") ?? "") else {
            let refused = OperatorError(.notFound, "該当する加入者はいません。", fix: "加入者検索から探してください。")
            return Console.response(console.errorReply(refused, person))
        }
        return try await next(request, context)
    }
}
