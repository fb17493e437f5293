import ArgumentParser
import Foundation
import KakuninAudit
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore

struct Archive: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Archive the decisions of months before D to files, log them, then drop them from the database.",
        discussion: """
            For each month before D whose decisions no decision in force reads any more (months before the \
            oldest base run an insurer still reads from): writes decisions-YYYY-MM.csv (mode 0600, CSV with a \
            header) into --output, records a decisions_archived entry in the audit log (file, rows, sha256, \
            runs), seals it, and only then drops the month's partition. Rerun it after any interruption: it \
            finishes what is left. Auditors check a file offline with `kakunin audit prove-archive` and \
            `kakunin audit verify-archive`.
            """)
    @Option(help: "Archive the months that end on or before this date (YYYY-MM-DD).") var before: String?
    @Option(help: "The folder for the archive files (created 0700).") var output: String?
    @Flag(help: "List the months held in the database and the first month still read by decisions in force.") var list = false
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            let db = try database.connect()
            if list { return try printHeld(db) }
            guard let before, let output else {
                throw OperatorError(
                    .usage, "say which months and where: --before D --output FOLDER", fix: "or --list to see the months held")
            }
            let outcome = try DecisionArchive.archive(
                db, before: try parseDate(before, option: "--before"), output: URL(fileURLWithPath: output))
            for m in outcome.archived {
                print(
                    "archived \(m.partition): \(m.rows) rows of runs \(m.runs.first.map(String.init) ?? "-")…\(m.runs.last.map(String.init) ?? "-") to \(m.file.path) (sha256 \(m.sha256))\(m.entryExisted ? "; its log entry was already there" : ""); partition dropped"
                )
            }
            if !outcome.earlier.isEmpty {
                print("archived before (partitions already dropped): \(outcome.earlier.joined(separator: ", "))")
            }
            return .success
        }
    }

    private func printHeld(_ db: Connection) throws -> ExitStatus {
        let held = try DecisionArchive.held(db)
        for (name, month, rows) in held.months { print("\(name)  \(String(month.description.prefix(7)))  \(rows) rows") }
        print("decisions in force read from: \(held.neededFrom?.description ?? "(no run yet)"); archivable: the months before it")
        return .success
    }
}
