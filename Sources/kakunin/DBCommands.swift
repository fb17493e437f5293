import ArgumentParser
import KakuninBatch
import KakuninStore

struct DB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Schema migrations.",
        subcommands: [Migrate.self, Status.self])

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the migrations not applied yet (sql/, built into kakunin; KAKUNIN_SQL_DIR overrides).")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let migrator = try Migrator.standard()
                let db = try database.connect()
                let applied = try migrator.migrate(db)
                print(applied.isEmpty ? "database is up to date (\(migrator.migrations.count) migrations)"
                                      : "applied: \(applied.joined(separator: ", "))")
                return .success
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show which migrations are applied.")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let migrator = try Migrator.standard()
                let db = try database.connect()
                var ok = true
                print("migrations: \(Migrator.standardSource)")
                for s in try migrator.status(db) {
                    print("\(s.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(s.name)\(s.appliedAt.map { "  (\($0))" } ?? "")")
                    if s.status == .edited || s.status == .missingFile { ok = false }
                }
                return ok ? .success : .badConfiguration
            }
        }
    }
}
