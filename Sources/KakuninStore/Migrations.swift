import Crypto
import Foundation

/// One numbered SQL file of `sql/` (e.g. `003_batch.sql`).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
    /// SHA-256 of the file's bytes, hex.
    public let checksum: String
}

/// What `db status` shows for one migration.
public struct MigrationState: Sendable {
    public enum Status: String, Sendable {
        case applied, pending, edited
        case missingFile = "missing-file"
    }
    public let version: Int
    public let name: String
    public let status: Status
    public let appliedAt: String?
}

/// A migration problem an operator must fix before anything runs.
public struct MigrationError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Applies the numbered SQL files of `sql/` in order, each in its own transaction, recording
/// each with its checksum; refuses to run when an already-applied file was edited.
public struct Migrator {
    public let migrations: [Migration]

    public init(directory: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        try self.init(files: files.map { ($0, try Data(contentsOf: directory.appendingPathComponent($0))) })
    }

    /// The migrations carried inside the binary (the build embeds `sql/`).
    public static func embedded() throws -> Migrator {
        try Migrator(files: EmbeddedMigrations.files.map { ($0.name, Data(base64Encoded: $0.base64)!) })
    }

    /// `$KAKUNIN_SQL_DIR` when set (developing a migration), else the embedded migrations.
    public static func standard() throws -> Migrator {
        if let env = ProcessInfo.processInfo.environment["KAKUNIN_SQL_DIR"], !env.isEmpty {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: env, isDirectory: &isDir), isDir.boolValue else {
                throw MigrationError(message: "KAKUNIN_SQL_DIR=\(env) is not a folder; unset it to use the migrations built into kakunin")
            }
            return try Migrator(directory: URL(fileURLWithPath: env))
        }
        return try embedded()
    }

    /// Where the migrations come from, for `db status`.
    public static var standardSource: String {
        ProcessInfo.processInfo.environment["KAKUNIN_SQL_DIR"].flatMap { $0.isEmpty ? nil : "KAKUNIN_SQL_DIR=\($0)" }
            ?? "built into kakunin (\(EmbeddedMigrations.files.count) files)"
    }

    init(files: [(name: String, data: Data)]) throws {
        var list: [Migration] = []
        for (file, data) in files {
            guard let prefix = file.split(separator: "_").first, let version = Int(prefix) else {
                throw MigrationError(message: "migration file \(file) does not start with a number (expected NNN_name.sql)")
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                throw MigrationError(message: "migration file \(file) is not UTF-8")
            }
            if list.contains(where: { $0.version == version }) {
                throw MigrationError(message: "two migration files share number \(version); renumber one")
            }
            let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            list.append(Migration(version: version, name: file, sql: sql, checksum: digest))
        }
        migrations = list
    }

    private static let ledger = """
        CREATE SCHEMA IF NOT EXISTS kakunin;
        CREATE TABLE IF NOT EXISTS kakunin.schema_migration (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            applied_by text NOT NULL DEFAULT session_user
        );
        """

    /// The state of every migration known on disk or in the database.
    public func status(_ db: Connection) throws -> [MigrationState] {
        let exists = try db.query("SELECT to_regclass('kakunin.schema_migration') IS NOT NULL").scalar == "t"
        var applied: [Int: (name: String, checksum: String, at: String)] = [:]
        if exists {
            for row in try db.query("SELECT version, name, checksum, applied_at::text FROM kakunin.schema_migration").rows {
                applied[Int(row[0]!)!] = (row[1]!, row[2]!, row[3]!)
            }
        }
        var states: [MigrationState] = migrations.map { m in
            guard let a = applied[m.version] else {
                return MigrationState(version: m.version, name: m.name, status: .pending, appliedAt: nil)
            }
            return MigrationState(
                version: m.version, name: m.name,
                status: a.checksum == m.checksum ? .applied : .edited, appliedAt: a.at)
        }
        for (v, a) in applied where !migrations.contains(where: { $0.version == v }) {
            states.append(MigrationState(version: v, name: a.name, status: .missingFile, appliedAt: a.at))
        }
        return states.sorted { $0.version < $1.version }
    }

    /// Applies every pending migration; returns the names applied.
    @discardableResult
    public func migrate(_ db: Connection) throws -> [String] {
        try db.executeScript(Self.ledger)
        // One migrator at a time per database.
        try db.execute("SELECT pg_advisory_lock(hashtext('kakunin.migrate'))")
        defer { try? db.execute("SELECT pg_advisory_unlock(hashtext('kakunin.migrate'))") }
        let states = try status(db)
        if let bad = states.first(where: { $0.status == .edited }) {
            throw MigrationError(
                message:
                    "migration \(bad.name) was edited after it was applied (\(bad.appliedAt ?? "")); restore the applied version and put the change in a new numbered file"
            )
        }
        if let gone = states.first(where: { $0.status == .missingFile }) {
            throw MigrationError(
                message:
                    "migration \(gone.name) is recorded as applied but its file is missing from sql/ (is this kakunin older than the database?); use the kakunin build that applied it, or restore the file"
            )
        }
        var done: [String] = []
        for m in migrations where states.first(where: { $0.version == m.version })?.status == .pending {
            try db.transaction {
                try db.execute("SET LOCAL search_path = kakunin, public")
                do {
                    try db.executeScript(m.sql)
                } catch var e as DatabaseError {
                    e.message = "\(m.name): \(e.message)"
                    throw e
                }
                try db.execute(
                    "INSERT INTO kakunin.schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
                    [String(m.version), m.name, m.checksum])
            }
            done.append(m.name)
        }
        return done
    }
}

/// A function, view, trigger, policy or grant of the kakunin schema whose definition is not the
/// one the migrations make.
public struct DefinitionDrift: Sendable, Equatable {
    public enum Change: String, Sendable { case changed, missing, extra }
    public let change: Change
    /// e.g. "function kakunin.audit_seal()", "trigger audit_event_immutable on kakunin.audit_event".
    public let object: String
}

/// The definitions of the kakunin schema, compared with the ones the migrations make.
///
/// The expected definitions are not stored anywhere the database owner could rewrite them: they
/// are made again, each time, by applying the migrations (the embedded ones, or KAKUNIN_SQL_DIR)
/// to a scratch database of the same server, which is dropped afterwards. That costs a second
/// or two and the CREATEDB right, and needs no recorded digest to trust.
public enum SchemaDefinitions {
    /// Every object's definition, by kind and name. Owners are written as `owner` and grantors are
    /// left out, so the role that migrated does not matter; partitions made at run time and the
    /// triggers they inherit are left out.
    static let catalog = """
        WITH acl(oid, kind, owner, items) AS (
            SELECT c.oid, CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END, c.relowner, c.relacl FROM pg_catalog.pg_class c
            WHERE c.relnamespace = 'kakunin'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND NOT c.relispartition
            UNION ALL
            SELECT p.oid, 'f', p.proowner, p.proacl FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'kakunin'::regnamespace
        ), grants(oid, text) AS (
            SELECT x.oid, pg_catalog.string_agg(x.item, ',' ORDER BY x.item)
            FROM (SELECT acl.oid, CASE WHEN a.grantee = acl.owner THEN 'owner' WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END
                              || ':' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS item
                  FROM acl, pg_catalog.aclexplode(coalesce(acl.items, pg_catalog.acldefault(acl.kind::"char", acl.owner))) a) x
            GROUP BY x.oid
        ), columns(oid, text) AS (
            SELECT x.attrelid, pg_catalog.string_agg(x.item, ' ' ORDER BY x.item)
            FROM (SELECT t.attrelid, t.attname || '(' || pg_catalog.pg_get_userbyid(a.grantee) || ':' || a.privilege_type || ')' AS item
                  FROM pg_catalog.pg_attribute t, pg_catalog.aclexplode(t.attacl) a WHERE t.attacl IS NOT NULL) x
            GROUP BY x.attrelid
        )
        SELECT 'function ' || p.oid::regprocedure::text,
               CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) ELSE p.prokind::text END
               || ' security definer: ' || p.prosecdef || ' grants: ' || coalesce(g.text, '')
        FROM pg_catalog.pg_proc p LEFT JOIN grants g ON g.oid = p.oid
        WHERE p.pronamespace = 'kakunin'::regnamespace
        UNION ALL
        SELECT CASE WHEN c.relkind IN ('v', 'm') THEN 'view ' WHEN c.relkind = 'S' THEN 'sequence ' ELSE 'table ' END || c.oid::regclass::text,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) ELSE '' END
               || ' row security: ' || c.relrowsecurity || '/' || c.relforcerowsecurity
               || ' grants: ' || coalesce(g.text, '') || ' column grants: ' || coalesce(col.text, '')
        FROM pg_catalog.pg_class c LEFT JOIN grants g ON g.oid = c.oid LEFT JOIN columns col ON col.oid = c.oid
        WHERE c.relnamespace = 'kakunin'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND NOT c.relispartition
        UNION ALL
        SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text,
               pg_catalog.pg_get_triggerdef(t.oid) || ' enabled: ' || t.tgenabled::text
        FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'kakunin'::regnamespace AND NOT t.tgisinternal AND t.tgparentid = 0
        UNION ALL
        SELECT 'policy ' || p.polname || ' on ' || p.polrelid::regclass::text,
               p.polcmd::text || ' ' || p.polpermissive::text || ' to ' || (
                   SELECT pg_catalog.string_agg(x.name, ',' ORDER BY x.name)
                   FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r) END AS name FROM pg_catalog.unnest(p.polroles) r) x)
               || ' using ' || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')
               || ' check ' || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')
        FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
        WHERE c.relnamespace = 'kakunin'::regnamespace
        UNION ALL
        SELECT 'schema kakunin', 'grants: ' || (
                   SELECT pg_catalog.string_agg(x.item, ',' ORDER BY x.item)
                   FROM (SELECT CASE WHEN a.grantee = n.nspowner THEN 'owner' WHEN a.grantee = 0 THEN 'PUBLIC'
                                     ELSE pg_catalog.pg_get_userbyid(a.grantee) END || ':' || a.privilege_type AS item
                         FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a) x)
        FROM pg_catalog.pg_namespace n WHERE n.nspname = 'kakunin'
        """

    /// Each object's definition, by name.
    /// Read with only pg_catalog in the search path, so that every name is written schema-qualified.
    public static func current(_ db: Connection) throws -> [String: String] {
        var out: [String: String] = [:]
        try db.transaction {
            try db.execute("SET LOCAL search_path = pg_catalog")
            for row in try db.query(catalog).rows { out[row[0] ?? ""] = row[1] ?? "" }
        }
        return out
    }

    /// What differs between the database at `url` (`db`) and a scratch database the migrations
    /// are applied to. Throws when the scratch database cannot be made (no CREATEDB right).
    public static func drift(_ db: Connection, url: String?, migrator: Migrator) throws -> [DefinitionDrift] {
        let scratch = "kakunin_expected_\(UInt32.random(in: 0...UInt32.max))"
        try db.execute("CREATE DATABASE \(scratch) TEMPLATE template0")
        defer { try? db.execute("DROP DATABASE IF EXISTS \(scratch) WITH (FORCE)") }
        let expected: [String: String]
        do {
            let other = try Connection(url: sibling(url, database: scratch), applicationName: "kakunin-db-status")
            try migrator.migrate(other)
            expected = try current(other)
        }
        let actual = try current(db)
        var out: [DefinitionDrift] = []
        for (name, def) in expected.sorted(by: { $0.key < $1.key }) {
            if let now = actual[name] {
                if now != def { out.append(DefinitionDrift(change: .changed, object: name)) }
            } else {
                out.append(DefinitionDrift(change: .missing, object: name))
            }
        }
        for name in actual.keys.sorted() where expected[name] == nil { out.append(DefinitionDrift(change: .extra, object: name)) }
        return out
    }

    /// The same connection settings for another database of the server.
    static func sibling(_ url: String?, database: String) -> String {
        guard let url, !url.isEmpty else { return "dbname=\(database)" }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"), var c = URLComponents(string: url) {
            c.path = "/" + database
            return c.string ?? url
        }
        return url + " dbname=\(database)"
    }
}
