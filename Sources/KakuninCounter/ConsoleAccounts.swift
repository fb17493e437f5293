import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The console's people, logins and sessions in the database (sql/014, sql/023). Logins,
/// sessions and people changes go through the SECURITY DEFINER functions of sql/023, which
/// audit them; the console's server login can do nothing else. Passwords are never here: the
/// caller hashes and checks them (bcrypt, off the database threads).
public struct ConsoleAccounts {
    let db: Connection

    public init(db: Connection) { self.db = db }

    /// A person's name: 2–32 of a-z, 0-9, _, starting with a letter (sql/014's check).
    public static func isUserName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (2...32).contains(bytes.count), let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }

    // MARK: - Logins

    /// The start of a login: throttled (with the rule), or counted and to be checked.
    public enum LoginStart: Sendable, Equatable {
        case throttled(failures: Int, minutes: Int)
        /// `passwordHash` is nil unless the name is an enabled person's (check a decoy then).
        case check(attempt: Int64, passwordHash: String?)
    }

    /// Counts an attempt of the name as sent (any bytes: a NUL or a control character is hashed,
    /// never sent as text), or refuses it when the name is locked.
    public func startLogin(name: [UInt8]) throws -> LoginStart {
        let hex = name.map { String(format: "%02x", $0) }.joined()
        guard
            let r = try db.query(
                "SELECT outcome, attempt, password_hash, failures, minutes FROM console_login_attempt(decode($1, 'hex'), NULL)",
                [hex]
            ).firstRow
        else {
            throw OperatorError(.internalError, "console_login_attempt returned no row")
        }
        if r.optionalText(0) == "throttled" {
            return .throttled(failures: try r.optionalInt(3) ?? 0, minutes: try r.optionalInt(4) ?? 0)
        }
        return .check(attempt: try r.int64(1), passwordHash: r.optionalText(2))
    }

    /// The attempt's password was wrong: it stays counted, and the refusal is audited.
    public func loginFailed(attempt: Int64) throws {
        try db.execute("SELECT console_login_failed($1)", [String(attempt)])
    }

    /// The attempt's password was right: a session for the person; their name.
    public func loginSucceeded(attempt: Int64, tokenSHA256: String, csrf: String) throws -> String {
        try db.query("SELECT console_login_succeeded($1, decode($2, 'hex'), $3)", [String(attempt), tokenSHA256, csrf]).scalar ?? ""
    }

    // MARK: - Sessions

    public struct Session: Sendable {
        public let name: String
        public let role: String
        public let databaseRole: String
        public let csrf: String
        public let insurers: [String]
    }

    /// The person of a live session (not ended, not idle too long, not too old, not disabled);
    /// its last_seen_at is kept at most 20 seconds behind.
    public func session(tokenSHA256: String, idleMinutes: Int, absoluteHours: Int) throws -> Session? {
        guard
            let r = try db.query(
                """
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
                """, [tokenSHA256, String(idleMinutes), String(absoluteHours)]
            ).firstRow
        else { return nil }
        return Session(
            name: try r.text(0), role: try r.text(1), databaseRole: try r.text(2), csrf: try r.text(3),
            insurers: (r.optionalText(4) ?? "").split(separator: ",").map(String.init))
    }

    /// Ends the session of a cookie (audited).
    public func logout(tokenSHA256: String) throws {
        try db.execute("SELECT console_logout(decode($1, 'hex'))", [tokenSHA256])
    }

    // MARK: - People

    public struct Listed: Sendable {
        public let name: String
        public let role: String
        public let insurers: [String]
        public let created: String
        public let lastLogin: String?
        public let disabled: String?
        /// Failed logins of the last 15 minutes enough to refuse the name (an admin can unlock).
        public let locked: Bool
    }

    public func list() throws -> [Listed] {
        try db.query(
            """
            SELECT u.username, u.role, coalesce(string_agg(s.insurer_number, ',' ORDER BY s.insurer_number), ''),
                   to_char(u.created_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI'),
                   to_char(u.last_login_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI'),
                   to_char(u.disabled_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI'),
                   (SELECT count(*) FROM console_login_failure f, console_throttle() t
                    WHERE f.username = u.username AND f.failed_at > now() - make_interval(mins => t.minutes)) >= (SELECT failures FROM console_throttle())
            FROM console_user u LEFT JOIN staff_scope s ON s.login = u.console_role
            GROUP BY u.username ORDER BY u.username
            """
        ).typedRows.map {
            Listed(
                name: try $0.text(0), role: try $0.text(1), insurers: try $0.text(2).split(separator: ",").map(String.init),
                created: try $0.text(3), lastLogin: $0.optionalText(4), disabled: $0.optionalText(5), locked: $0.optionalText(6) == "t")
        }
    }

    /// What a people change did (sql/023's functions).
    public enum Change: String, Sendable {
        case done
        case notFound = "not_found"
        case unchanged
        case lastAdmin = "last_admin"
    }

    public func disable(name: String, person: String) throws -> Change { try change("console_user_disable", name, person) }
    public func enable(name: String, person: String) throws -> Change { try change("console_user_enable", name, person) }
    public func unlock(name: String, person: String) throws -> Change { try change("console_user_unlock", name, person) }

    private func change(_ function: String, _ name: String, _ person: String) throws -> Change {
        let r = try db.query("SELECT \(function)($1, $2)", [name, person]).scalar ?? ""
        guard let c = Change(rawValue: r) else { throw OperatorError(.internalError, "\(function) answered \(r)") }
        return c
    }

    /// Adds a person (run by the database owner): their own NOLOGIN role in `group`, granted to
    /// kakunin_console, scoped to `insurers`. `name` must already be checked ([a-z0-9_]).
    public func add(
        name: String, role: String, group: String, otherGroups: [String], insurers: [InsurerNumber], passwordHash: String,
        person: String
    ) throws {
        guard Self.isUserName(name) else {
            throw OperatorError(.usage, "a user name is 2–32 lower-case letters, digits or _, starting with a letter")
        }
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
            for other in otherGroups where other != group {
                if try db.query("SELECT pg_has_role($1, $2, 'MEMBER')", [dbRole, other]).scalar == "t" {
                    try db.execute("REVOKE \(other) FROM \"\(dbRole)\"")
                }
            }
            try db.execute("GRANT \(group) TO \"\(dbRole)\"")
            try db.execute("GRANT \"\(dbRole)\" TO kakunin_console")
            try db.execute("DELETE FROM staff_scope WHERE login = $1", [dbRole])
            try db.execute(
                "INSERT INTO console_user (username, role, console_role, password_hash) VALUES ($1, $2, $3, $4)",
                [name, role, dbRole, passwordHash])
            if !insurers.isEmpty { _ = try StaffScopes(db: db).add(login: dbRole, insurers: insurers, person: person) }
            try AuditLog.append(
                db, "console_user_added", details: ["username": name, "role": role, "insurers": insurers.map(\.text), "person": person])
        }
    }
}
