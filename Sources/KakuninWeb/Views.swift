import Foundation
import Mustache

/// The console's pages: the mustache templates of `Templates/` (one file per page, `layout`
/// around them, `pager` a partial), embedded into the binary at build time by the EmbedSQL
/// plugin (`EmbeddedTemplates`: the console needs no files beside it), and one stylesheet
/// (`Templates/console.css`). `{{x}}` escapes HTML; `{{{x}}}` is used only for HTML the server
/// made itself (the layout's body, the auditors' report).
struct Views: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, text) in Self.templates { try library.register(text, named: name) }
        self.library = library
    }

    /// The embedded files by name without extension ("member", "layout", "console"). A file's
    /// one final newline is not part of the page (editors add it; the pages were written without).
    static let files: [String: String] = {
        var out: [String: String] = [:]
        for (name, base64) in EmbeddedTemplates.files {
            var text = String(decoding: Data(base64Encoded: base64) ?? Data(), as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() }
            out[String(name.prefix { $0 != "." })] = text
        }
        return out
    }()

    /// The page templates (every `.mustache` file).
    static let templates: [String: String] = Dictionary(
        uniqueKeysWithValues: EmbeddedTemplates.files.filter { $0.name.hasSuffix(".mustache") }.map { String($0.name.dropLast(9)) }
            .map { ($0, files[$0] ?? "") })

    /// The console's stylesheet, served at /static/console.css.
    static let stylesheet = files["console"] ?? ""

    /// Renders page `name` inside the layout.
    func render(_ name: String, _ data: [String: Any], title: String, person: Person?, flash: String? = nil) -> String {
        let body = library.render(Self.withoutEmpty(data), withTemplate: name) ?? ""
        return layout(body: body, title: title, person: person, flash: flash)
    }

    func layout(body: String, title: String, person: Person?, flash: String? = nil) -> String {
        var page: [String: Any] = ["title": title, "body": body]
        if let flash { page["flash"] = flash }
        if let person {
            let nav: [[String: Any]] = Access.menu(person.role).map { ["href": $0.href, "label": $0.label] }
            page["person"] = [
                "name": person.name, "roleName": person.role.japanese, "csrf": person.csrf, "nav": nav,
                "insurers": person.insurers.joined(separator: "・"),
            ]
        }
        return library.render(Self.withoutEmpty(page), withTemplate: "layout") ?? ""
    }

    /// Mustache treats "" as true in `{{#x}}`: empty strings are dropped, so a section shows
    /// only when there is something to show.
    static func withoutEmpty(_ value: Any) -> Any {
        if let d = value as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, v) in d where !((v as? String)?.isEmpty ?? false) { out[k] = withoutEmpty(v) }
            return out
        }
        if let a = value as? [[String: Any]] { return a.map { withoutEmpty($0) } }
        return value
    }

    func error(title: String, message: String, fix: String?, person: Person?) -> String {
        render("error", ["title": title, "message": message, "fix": fix ?? ""], title: title, person: person)
    }

    func login(csrf: String, error: String?, username: String?, next: String?) -> String {
        render("login", ["csrf": csrf, "error": error ?? "", "username": username ?? "", "next": next ?? ""], title: "ログイン", person: nil)
    }
}
