import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain the decision for one member: outcome, reasons, dates, the rules that fired, parameters and sources.")

    enum Format: String, ExpressibleByArgument { case text, json }

    @Option(help: "Insurer number (6 or 8 digits).") var insurer: String
    @Option(help: "Member id.") var member: String
    @Option(help: "As-of date, YYYY-MM-DD (default: today).") var asOf: String?
    @Option(help: "text or json.") var format: Format = .text
    @Option(help: "Folder of insurer parameter files (default: jobs/insurers).") var paramsDir: String?
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            let (date, params) = try asOfAndParameters(insurer: insurer, asOf: asOf, paramsDir: paramsDir)
            let db = try database.connect()
            let e = try Explanation.load(db: db, insurer: insurer, member: member, asOf: date, parameters: params)
            print(format == .json ? try e.renderJSON() : e.renderText(), terminator: format == .json ? "\n" : "")
            return .success
        }
    }
}

/// Parses --as-of, defaulting to today's date in Japan.
func parseAsOf(_ s: String?) throws -> LocalDate {
    try s.map { try parseDate($0, option: "--as-of") } ?? LocalDate.todayInJapan()
}
