import ArgumentParser
import Foundation
import KakuninBatch
import KakuninRuntime

/// The member letters of a published run as printable pages, on request.
struct Letters: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A run's member letters.", subcommands: [HTML.self])

    struct HTML: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "html",
            abstract: "Write a run's member letters as printable HTML (letters_<language>.html: A4, a page per letter, self-contained).",
            discussion: """
                Read from the run's published inserts.csv and letter_paragraphs.csv alone (the database only says where \
                the run's folder is). Exit status: 0 written; 66 no such run, or the run has no letters in --files; \
                13 a letter refers to a paragraph the run's letter_paragraphs.csv does not define.
                """)
        @Option(name: .customLong("run"), help: "Run id.") var runID: Int
        @Option(
            name: .customLong("lang"),
            help: "Only this letter language (ja en zh ko es pt vi th id tl ne ja+en); default: every language of the run.")
        var language: String?
        @Option(help: "Folder the run wrote its mailing files to (its --out).") var files: String = "kakunin-out"
        @Option(help: "Folder for the HTML files (created; files are replaced).") var out: String = "."
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                guard let run = try RunRecord.identity(try database.connect(), runID: runID) else {
                    throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
                }
                let dir = run.filesDirectory(under: URL(fileURLWithPath: files))
                let written = try LetterPages.write(runID: runID, from: dir, language: language, to: URL(fileURLWithPath: out))
                if written.isEmpty {
                    print("run \(runID) has no letters\(language.map { " in \($0)" } ?? "")")
                }
                for f in written {
                    print(
                        "\(URL(fileURLWithPath: out).appendingPathComponent(f.name).path): \(f.pages) pages, \(f.bytes) bytes, sha256 \(f.sha256)"
                    )
                }
                return .success
            }
        }
    }
}
