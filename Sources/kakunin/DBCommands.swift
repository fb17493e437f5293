import ArgumentParser
import KakuninBatch
import KakuninRuntime
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
                print(
                    applied.isEmpty
                        ? "database is up to date (\(migrator.migrations.count) migrations)"
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
                let states = try migrator.status(db)
                for s in states {
                    print(
                        "\(s.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(s.name)\(s.appliedAt.map { "  (\($0))" } ?? "")"
                    )
                    if s.status == .edited || s.status == .missingFile { ok = false }
                }
                guard ok else { return .badConfiguration }
                guard states.allSatisfy({ $0.status == .applied }) else {
                    print("definitions: not compared (migrations pending: kakunin db migrate)")
                    return .success
                }
                return try definitions(db, migrator)
            }
        }

        /// Compares the schema's functions, views, triggers, policies and grants with the ones the
        /// migrations make (applied to a scratch database, dropped afterwards).
        func definitions(_ db: Connection, _ migrator: Migrator) throws -> ExitStatus {
            let drift: [DefinitionDrift]
            do {
                drift = try SchemaDefinitions.drift(db, url: database.resolvedURL, migrator: migrator)
            } catch let e as DatabaseError where e.sqlState == "42501" {
                print("definitions: NOT COMPARED: \(e.message)")
                printError(
                    "kakunin: cannot compare the definitions with the migrations: \(e.message)\n  fix: run kakunin db status as the role that migrates (it needs CREATEDB for a scratch database, dropped afterwards)"
                )
                return .noPermission
            }
            if drift.isEmpty {
                print("definitions: every function, view, trigger, policy and grant is as the migrations made it")
                return .success
            }
            print("definitions DIFFER from what the migrations made (\(drift.count)):")
            for d in drift { print("  \(d.change.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(d.object)") }
            printError(
                "kakunin: \(drift.count) definition(s) of the kakunin schema differ from the migrations\n  fix: find who changed them (the server log, pg_stat_statements), keep the evidence, run kakunin audit verify with your own checkpoints, then restore them from sql/"
            )
            return .schemaAltered
        }
    }
}
