import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime

struct Insurer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Insurers and their dated parameters (SPEC.md 2.6).", subcommands: [List.self, Params.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every insurer: the name in force today, members, latest run.")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let rows = try ParameterVersions.insurers(try database.connect(), today: LocalDate.todayInJapan()).map { i -> [String?] in
                    [
                        i.insurer, i.nameInForce ?? "(no parameters in force: kakunin insurer params set)",
                        i.versionInForce.map(String.init),
                        String(i.members), i.latestRun ?? "none",
                    ]
                }
                printTable(["insurer", "insurer_name", "parameters_version", "members", "latest_run"], rows)
                return .success
            }
        }
    }

    struct Params: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An insurer's parameters: dated versions, never edited; a run uses the version in force on its as-of date.",
            subcommands: [Set.self, Show.self, History.self])
    }
}

extension Insurer.Params {
    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a new version of an insurer's parameters from a file of `key = value` lines, effective from a date.",
            discussion: """
                The file is validated as a whole (exit 78 naming the file, line, parameter and fix) and must give \
                insurer_name; jobs/insurers/example.conf documents every parameter. A version with the same date as \
                an existing one is refused (exit 65): versions are never edited, a new date makes a new version. \
                Recorded with the login, the person (the OS user) and an audit event. Needs kakunin_batch.
                """)
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "The first as-of date the version applies to, YYYY-MM-DD.") var from: String
        @Argument(help: "Parameter file (- for standard input).") var file: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                guard let date = LocalDate(from) else {
                    throw OperatorError(.usage, "--from \(from) is not a date", fix: "write YYYY-MM-DD")
                }
                let data: Data
                do {
                    data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
                } catch {
                    throw OperatorError(
                        .badConfiguration, "cannot read parameter file \(file): \(error.localizedDescription)", fix: "check the path")
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    throw OperatorError(.badConfiguration, "\(file) is not UTF-8", fix: "save the parameter file as UTF-8")
                }
                let v = try ParameterVersions.set(
                    try database.connect(), insurer: insurer.text, from: date, text: text,
                    file: file == "-" ? "(standard input)" : file, person: counterPerson())
                for note in v.notes { printError(note) }
                print(
                    "insurer \(insurer): parameter version \(v.id) effective from \(v.effectiveFrom) (sha256 \(v.sha256)), set by \(v.setByPerson) as \(v.setByLogin)"
                )
                return .success
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The version in force on a date: its `key = value` lines (a parameter file; the SHA-256 is of them) after # lines saying which version."
        )
        enum Format: String, ExpressibleByArgument { case text, json }
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Date, YYYY-MM-DD (default: today in Japan).") var on: String?
        @Option(help: "text | json") var format: Format = .text
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let date = try parseAsOf(on)
                let db = try database.connect()
                try Insurers.require(db, insurer.text)
                guard let v = try ParameterVersions.version(db, insurer: insurer.text, on: date) else {
                    throw OperatorError(
                        .noParameters, "insurer \(insurer) has no parameters in force on \(date)",
                        fix: "kakunin insurer params history --insurer \(insurer) lists its versions; kakunin insurer params set adds one")
                }
                if format == .json {
                    try printJSON(v.json)
                    return .success
                }
                print("# insurer \(insurer): parameter version \(v.id), effective from \(v.effectiveFrom), in force on \(date)")
                print(
                    "# sha256 \(v.sha256) (of the lines below); set by \(v.setByPerson) as \(v.setByLogin) at \(v.setAt) from \(v.source)")
                print(v.listing, terminator: "")
                return .success
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every version of an insurer's parameters, oldest first.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                try Insurers.require(db, insurer.text)
                let rows = try ParameterVersions.history(db, insurer: insurer.text).map { v -> [String?] in
                    let name = try v.loaded().parameters.insurerName
                    return [String(v.id), v.effectiveFrom.description, name, v.sha256, v.setByPerson, v.setByLogin, v.setAt, v.source]
                }
                printTable(["version", "effective_from", "insurer_name", "sha256", "set_by", "login", "set_at", "source"], rows)
                return .success
            }
        }
    }
}
