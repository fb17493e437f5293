import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a feed file (members, myna-status, applications or establishments).",
        discussion: """
            Exit status: 0 every row loaded; 10 some rows rejected (listed on screen and in the
            rejects file); 20 the file was refused as a whole and nothing was stored;
            73/74 the report folder cannot be used / writing failed; 77 the database role lacks
            the rights; 69 database unreachable.
            """)

    enum Feed: String, ExpressibleByArgument, CaseIterable {
        case members
        case mynaStatus = "myna-status"
        case applications, establishments
        var name: FeedFormat.Name {
            switch self {
            case .members: return .members
            case .mynaStatus: return .mynaStatus
            case .applications: return .applications
            case .establishments: return .establishments
            }
        }
    }

    @Argument(help: "members | myna-status | applications | establishments") var feed: Feed
    @Argument(help: "The CSV file (UTF-8, header row); a pipe, a FIFO, or - for standard input.") var file: String
    @Option(help: "Folder for the import report and rejects file (owner-readable only).")
    var reportDir: String = "kakunin-reports"
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            let db = try database.connect()
            let importer = FeedImporter(db: db, host: hostName())
            let log = RunLog()
            log.event("import", "started", ["feed": feed.name.rawValue])
            importer.progress = { rows, bytes, size in
                log.progress(
                    "importing", phase: "import", done: rows, total: nil, unit: "rows",
                    fraction: size.map { $0 > 0 ? Double(bytes) / Double($0) : 1 }, force: rows == 4096)
            }
            let summary = try importer.run(
                feed: feed.name, path: file,
                reportDirectory: URL(fileURLWithPath: reportDir))
            log.endProgress()
            log.event("import", "finished", ["rows_read": summary.rowsRead, "status": summary.status.rawValue])
            print(summary.render(), terminator: "")
            if let refusal = summary.refusal { printError("kakunin: file refused: \(refusal)") }
            return summary.exitStatus
        }
    }
}

struct Imports: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The imports recorded.", subcommands: [List.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recent imports, newest first; one still marked running whose process is gone is shown as abandoned.")
        @Option(help: "How many.") var limit: Int = 20
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                let rows = try ImportList.recent(db, limit: limit)
                printTable(["import", "feed", "status", "started", "finished", "read", "loaded", "rejected", "actor", "file"], rows)
                return .success
            }
        }
    }
}
