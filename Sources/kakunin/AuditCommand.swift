import ArgumentParser
import KakuninBatch

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The audit trail.", subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit trail's hash chain; exit 0 when intact, 1 naming the first altered event.",
            discussion: "Keep the printed head hash outside the database (e.g. in the auditor's notes): a later verify that starts from the same events must reach it.")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                let v = try AuditVerification.verify(db)
                print(v.render(), terminator: "")
                return v.ok ? .success : .internalError
            }
        }
    }
}
