import Foundation
import HummingbirdBcrypt
import KakuninBatch
import KakuninCore
import KakuninCounter
import KakuninRuntime
import KakuninStore

/// The console's people (sql/014): `kakunin user add|list|disable`. Each person is a database
/// role of their own, so row-level security applies to the person, not to the server.
public struct ConsoleUsers {
    public enum Role: String, CaseIterable, Sendable {
        case counter, auditor, `operator`, admin

        /// The kakunin group role the person's database role is a member of.
        var group: String { self == .counter ? "kakunin_staff" : "kakunin_auditor" }
        public var japanese: String {
            switch self {
            case .counter: return "窓口"
            case .auditor: return "監査"
            case .operator: return "運用"
            case .admin: return "管理"
            }
        }
    }

    public static let minimumPasswordLength = 10
    let db: Connection

    public init(db: Connection) { self.db = db }

    /// Adds a person. `password` is hashed with bcrypt (`cost` 10–15); a counter person is scoped
    /// to `insurers` (at least one); the other roles read every insurer and take none.
    public func add(name: String, role: Role, insurers: [InsurerNumber], password: String, cost: Int = 12, person: String) throws {
        guard ConsoleAccounts.isUserName(name) else {
            throw OperatorError(
                .usage, "a user name is 2–32 lower-case letters, digits or _, starting with a letter (got \(name.count) characters)",
                fix: "e.g. kakunin user add tanaka --role counter --insurer 138001")
        }
        guard password.count >= Self.minimumPasswordLength else {
            throw OperatorError(
                .usage, "the password has \(password.count) characters; at least \(Self.minimumPasswordLength) are needed",
                fix: "give a longer password on standard input (one line)")
        }
        guard (10...15).contains(cost) else { throw OperatorError(.usage, "--bcrypt-cost must be 10–15", fix: "leave it out: 12") }
        if role == .counter && insurers.isEmpty {
            throw OperatorError(.usage, "a counter person works for at least one insurer", fix: "add --insurer N (repeat for more)")
        }
        if role != .counter && !insurers.isEmpty {
            throw OperatorError(
                .usage, "only counter people are limited to insurers; a \(role.rawValue) reads every insurer",
                fix: "leave out --insurer")
        }
        try ConsoleAccounts(db: db).add(
            name: name, role: role.rawValue, group: role.group, otherGroups: Role.allCases.map(\.group),
            insurers: insurers, passwordHash: Bcrypt.hash(password, cost: UInt8(cost)), person: person)
    }

    public func list() throws -> [ConsoleAccounts.Listed] { try ConsoleAccounts(db: db).list() }

    /// Disables a person and ends their sessions at once (never the last enabled admin). Their
    /// records stay (the audit log names them).
    public func disable(name: String, person: String) throws {
        try require(ConsoleAccounts(db: db).disable(name: name, person: person), name, already: "disabled")
    }

    /// Lets a disabled person log in again.
    public func enable(name: String, person: String) throws {
        try require(ConsoleAccounts(db: db).enable(name: name, person: person), name, already: "enabled")
    }

    /// Clears the failed logins that lock a name before its 15 minutes are over.
    public func unlock(name: String, person: String) throws {
        try require(ConsoleAccounts(db: db).unlock(name: name, person: person), name, already: "not locked")
    }

    private func require(_ change: ConsoleAccounts.Change, _ name: String, already: String) throws {
        switch change {
        case .done: return
        case .notFound: throw OperatorError(.notFound, "there is no user \(name)", fix: "kakunin user list shows the users")
        case .unchanged: throw OperatorError(.conflict, "user \(name) is already \(already)")
        case .lastAdmin:
            throw OperatorError(
                .conflict, "\(name) is the last enabled admin: disabling it would leave no one to manage the console",
                fix: "add or enable another admin first (kakunin user add NAME --role admin)")
        }
    }
}
