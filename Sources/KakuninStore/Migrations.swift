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
    public enum Status: String, Sendable { case applied, pending, edited, missingFile = "missing-file" }
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
            return MigrationState(version: m.version, name: m.name,
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
            throw MigrationError(message: "migration \(bad.name) was edited after it was applied (\(bad.appliedAt ?? "")); restore the applied version and put the change in a new numbered file")
        }
        if let gone = states.first(where: { $0.status == .missingFile }) {
            throw MigrationError(message: "migration \(gone.name) is recorded as applied but its file is missing from sql/ (is this kakunin older than the database?); use the kakunin build that applied it, or restore the file")
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
                try db.execute("INSERT INTO kakunin.schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
                               [String(m.version), m.name, m.checksum])
            }
            done.append(m.name)
        }
        return done
    }
}
