/// Who may do what in the console, in one place: the role sets the routes are grouped under
/// (`RoleMiddleware` enforces them), what a page shows to whom, each role's first page and menu.
/// Pages ask the person (`person.actsAtCounter`), never compare roles themselves
/// (StructureRulesTests checks it).
enum Access {
    typealias Roles = Set<ConsoleUsers.Role>

    static let everyone: Roles = Set(ConsoleUsers.Role.allCases)
    /// Member search and a member's page.
    static let memberReaders: Roles = [.counter, .auditor, .admin]
    /// Counter work: issue, applications, returns, voids, printing.
    static let counter: Roles = [.counter]
    /// The audit log, proofs and the run's member drill-down.
    static let auditors: Roles = [.auditor, .admin]
    /// Runs, their reports and the operations page.
    static let runReaders: Roles = [.auditor, .operator, .admin]
    /// People and their accounts.
    static let admins: Roles = [.admin]

    /// The page `/` sends a person to.
    static func home(_ role: ConsoleUsers.Role) -> String {
        switch role {
        case .counter: return "/members"
        case .auditor, .admin: return "/runs"
        case .operator: return "/operations"
        }
    }

    /// The menu in the page header.
    static func menu(_ role: ConsoleUsers.Role) -> [(href: String, label: String)] {
        switch role {
        case .counter:
            return [("/members", "加入者検索")]
        case .auditor:
            return [("/runs", "実行一覧"), ("/members", "加入者検索"), ("/audit", "監査ログ")]
        case .operator:
            return [("/operations", "運用状況"), ("/runs", "実行一覧")]
        case .admin:
            return [("/runs", "実行一覧"), ("/operations", "運用状況"), ("/members", "加入者検索"), ("/audit", "監査ログ"), ("/users", "利用者")]
        }
    }
}

extension Person {
    /// Works at the counter: sees the counter's forms on a member's page, and only their insurers.
    var actsAtCounter: Bool { Access.counter.contains(role) }
    /// Opens a run's member drill-down from its report.
    var readsDrillDowns: Bool { Access.auditors.contains(role) }
    /// Opens a member's page (the operations page links member ids only for them).
    var readsMembers: Bool { Access.memberReaders.contains(role) }

    func mayOpen(insurer: String) -> Bool { !actsAtCounter || insurers.contains(insurer) }
}
