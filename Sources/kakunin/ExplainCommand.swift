import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain one member's decision: outcome, reasons, dates, the rules that fired, parameters and sources.",
        discussion: """
            --run R explains the decision run R made, from the facts that run read and its recorded parameters (as \
            kakunin replay decides), whatever changed since. Without --run: today's decision, from the data in the \
            database now and the parameters in force on --as-of (default today).
            """)

    enum Format: String, ExpressibleByArgument { case text, json }

    @Option(help: "Insurer number (6 or 8 digits); with --run, the run's insurer.", transform: InsurerNumber.argument) var insurer:
        InsurerNumber?
    @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID
    @Option(name: .customLong("run"), help: "Explain the decision this run made (its facts and parameters).") var runID: Int?
    @Option(help: "Without --run: as-of date, YYYY-MM-DD (default: today).") var asOf: String?
    @Option(help: "text or json.") var format: Format = .text
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if runID != nil, asOf != nil {
            throw ValidationError("--run explains that run's decision on its own as-of date: leave out --as-of")
        }
        if runID == nil, insurer == nil { throw ValidationError("give --insurer (today's decision) or --run (a run's decision)") }
    }

    func run() throws {
        try runReporting {
            let db = try database.connect()
            let e: Explanation
            if let run = runID {
                try DecisionArchive.refuseIfArchived(db, runID: run)
                e = try Explanation.ofRun(db: db, runID: run, member: member)
                if let insurer, insurer.text != e.insurer {
                    throw OperatorError(
                        .usage, "run \(run) is a run of insurer \(e.insurer), not \(insurer)", fix: "kakunin runs list shows the runs")
                }
            } else {
                let insurer = insurer!
                let date = try parseAsOf(asOf)
                e = try Explanation.load(
                    db: db, insurer: insurer, member: member, asOf: date,
                    parameters: ParameterVersions.inForce(db, insurer: insurer.text, on: date))
            }
            print(format == .json ? try e.renderJSON() : e.renderText(), terminator: format == .json ? "\n" : "")
            return .success
        }
    }
}

/// Parses --as-of, defaulting to today's date in Japan.
func parseAsOf(_ s: String?) throws -> LocalDate {
    try s.map { try parseDate($0, option: "--as-of") } ?? LocalDate.todayInJapan()
}
