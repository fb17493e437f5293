import Foundation
import KakuninAudit
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore

/// Which insurers a counter-staff login may see and change (row-level security, sql/011).
/// Only the schema's owner (or a superuser) writes the scopes; every change is audited.
public struct StaffScopes {
    let db: Connection

    public init(db: Connection) { self.db = db }

    public func scope(login: String, insurers: [InsurerNumber], person: String) throws -> Int {
        guard !insurers.isEmpty else { throw OperatorError(.usage, "name at least one --insurer") }
        try requireStaffLogin(login)
        return try db.transaction { try add(login: login, insurers: insurers, person: person) }
    }

    /// Scopes `login` to `insurers` inside the caller's transaction (the console's `user add`).
    public func add(login: String, insurers: [InsurerNumber], person: String) throws -> Int {
        var added = 0
        for insurer in insurers.map(\.text) {
            try Insurers.require(db, insurer)
            added += try db.query(
                "INSERT INTO staff_scope (login, insurer_number) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [login, insurer]
            ).affectedRows
            try AuditLog.append(db, "staff_scoped", insurer: insurer, details: ["login": login, "person": person])
        }
        return added
    }

    public func unscope(login: String, insurers: [InsurerNumber], person: String) throws -> Int {
        guard !insurers.isEmpty else { throw OperatorError(.usage, "name at least one --insurer") }
        return try db.transaction {
            var removed = 0
            for insurer in insurers.map(\.text) {
                let n = try db.query("DELETE FROM staff_scope WHERE login = $1 AND insurer_number = $2", [login, insurer]).affectedRows
                if n > 0 { try AuditLog.append(db, "staff_unscoped", insurer: insurer, details: ["login": login, "person": person]) }
                removed += n
            }
            return removed
        }
    }

    /// Every scope, by login and insurer: login, insurer, granted at (minutes), granted by.
    public func list() throws -> [[String?]] {
        try db.query(
            """
            SELECT login, insurer_number, to_char(granted_at, 'YYYY-MM-DD HH24:MI'), granted_by FROM staff_scope ORDER BY 1, 2
            """
        ).rows
    }

    private func requireStaffLogin(_ login: String) throws {
        let r = try db.query("SELECT rolcanlogin, pg_has_role(oid, 'kakunin_staff', 'MEMBER') FROM pg_roles WHERE rolname = $1", [login])
            .rows.first
        guard let r else {
            throw OperatorError(
                .notFound, "there is no role \(login)", fix: "create it first: CREATE ROLE \(login) LOGIN IN ROLE kakunin_staff")
        }
        guard r[1] == "t" else {
            throw OperatorError(.usage, "role \(login) is not a member of kakunin_staff", fix: "GRANT kakunin_staff TO \(login)")
        }
    }
}
