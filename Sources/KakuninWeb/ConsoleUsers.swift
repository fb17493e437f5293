import Foundation
import HummingbirdBcrypt
import KakuninBatch
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
    public func add(name: String, role: Role, insurers: [String], password: String, cost: Int = 12, person: String) throws {
        guard name.range(of: "^[a-z][a-z0-9_]{1,31}$", options: .regularExpression) != nil else {
            throw OperatorError(.usage, "a user name is 2–32 lower-case letters, digits or _, starting with a letter (got \(name.count) characters)",
                                fix: "e.g. kakunin user add tanaka --role counter --insurer 138001")
        }
        guard password.count >= Self.minimumPasswordLength else {
            throw OperatorError(.usage, "the password has \(password.count) characters; at least \(Self.minimumPasswordLength) are needed",
                                fix: "give a longer password on standard input (one line)")
        }
        guard (10...15).contains(cost) else { throw OperatorError(.usage, "--bcrypt-cost must be 10–15", fix: "leave it out: 12") }
        if role == .counter && insurers.isEmpty {
            throw OperatorError(.usage, "a counter person works for at least one insurer", fix: "add --insurer N (repeat for more)")
        }
        if role != .counter && !insurers.isEmpty {
            throw OperatorError(.usage, "only counter people are limited to insurers; a \(role.rawValue) reads every insurer",
                                fix: "leave out --insurer")
        }
        let hash = Bcrypt.hash(password, cost: UInt8(cost))
        try db.transaction {
            if try db.query("SELECT 1 FROM console_user WHERE username = $1", [name]).scalar != nil {
                throw OperatorError(.conflict, "user \(name) exists", fix: "pick another name (kakunin user list)")
            }
            // The name is checked above ([a-z0-9_]), so quoting it as an identifier is safe.
            let dbRole = try db.query("SELECT 'kc_' || left(md5(current_database()), 8) || '_' || $1::text", [name]).scalar!
            if try db.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [dbRole]).scalar == nil {
                try db.execute("CREATE ROLE \"\(dbRole)\" NOLOGIN INHERIT")
            }
            // A role left from an earlier database of the same name keeps no other group.
            for other in Set(Role.allCases.map(\.group)) where other != role.group {
                if try db.query("SELECT pg_has_role($1, $2, 'MEMBER')", [dbRole, other]).scalar == "t" {
                    try db.execute("REVOKE \(other) FROM \"\(dbRole)\"")
                }
            }
            try db.execute("GRANT \(role.group) TO \"\(dbRole)\"")
            try db.execute("GRANT \"\(dbRole)\" TO kakunin_console")
            try db.execute("DELETE FROM staff_scope WHERE login = $1", [dbRole])
            try db.execute("INSERT INTO console_user (username, role, console_role, password_hash) VALUES ($1, $2, $3, $4)",
                           [name, role.rawValue, dbRole, hash])
            if !insurers.isEmpty { _ = try StaffScopes(db: db).add(login: dbRole, insurers: insurers, person: person) }
            try audit("console_user_added", ["username": name, "role": role.rawValue, "insurers": insurers, "person": person])
        }
    }

    public struct Listed: Sendable {
        public let name: String
        public let role: String
        public let insurers: [String]
        public let created: String
        public let lastLogin: String?
        public let disabled: String?
    }

    public func list() throws -> [Listed] {
        try db.query("""
            SELECT u.username, u.role, coalesce(string_agg(s.insurer_number, ',' ORDER BY s.insurer_number), ''),
                   to_char(u.created_at, 'YYYY-MM-DD HH24:MI'), to_char(u.last_login_at, 'YYYY-MM-DD HH24:MI'),
                   to_char(u.disabled_at, 'YYYY-MM-DD HH24:MI')
            FROM console_user u LEFT JOIN staff_scope s ON s.login = u.console_role
            GROUP BY u.username ORDER BY u.username
            """).rows.map {
            Listed(name: $0[0]!, role: $0[1]!, insurers: $0[2]!.split(separator: ",").map(String.init), created: $0[3]!,
                   lastLogin: $0[4], disabled: $0[5])
        }
    }

    private func audit(_ action: String, _ details: [String: Any]) throws {
        try db.execute("SELECT audit_console($1, NULL, NULL, $2::jsonb)", [action, AuditLog.jsonText(details)])
    }

    /// Disables a person and ends their sessions at once. Their records stay (the audit log names them).
    public func disable(name: String, person: String) throws {
        try db.transaction {
            let n = try db.query("UPDATE console_user SET disabled_at = now(), disabled_by = $2 WHERE username = $1 AND disabled_at IS NULL",
                                 [name, person]).affectedRows
            guard n == 1 else {
                let exists = try db.query("SELECT 1 FROM console_user WHERE username = $1", [name]).scalar != nil
                throw exists ? OperatorError(.conflict, "user \(name) is already disabled")
                             : OperatorError(.notFound, "there is no user \(name)", fix: "kakunin user list shows the users")
            }
            try db.execute("UPDATE console_session SET ended_at = now() WHERE username = $1 AND ended_at IS NULL", [name])
            try audit("console_user_disabled", ["username": name, "person": person])
        }
    }
}
