import ArgumentParser
import Foundation
import KakuninBatch

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write realistic generated feeds (members, myna_status, applications) for demos, tests and benchmarks.")

    @Option(help: "How many members.") var members: Int
    @Option(help: "Random seed: the same seed gives the same files.") var seed: UInt64 = 1
    @Option(help: "Output folder.") var out: String
    @Option(help: "Reference date the data is generated around (YYYY-MM-DD).") var referenceDate: String = "2026-12-01"
    @Option(help: "Share of deliberately bad rows (0 to 1).") var badRate: Double = 0.002
    @Flag(help: "Fill the optional usage columns of myna_status.csv (uses_12m, last_used_on) for the elderly usage test.") var mynaUsage =
        false
    @Flag(
        help:
            "Fill the optional columns of members.csv: copay 発効期日, 特別療養 households, optional printed entries (限度区分, 長期入院, 特定疾病), establishments and 任意継続; and establishments.csv for the employee insurer."
    ) var optionalEntries = false

    func run() throws {
        try runReporting {
            var g = try FeedGenerator(seed: seed, referenceDate: referenceDate, badRate: badRate)
            g.mynaUsage = mynaUsage
            g.optionalEntries = optionalEntries
            let counts = try g.write(members: members, to: URL(fileURLWithPath: out))
            print(
                "wrote \(out)/members.csv (\(counts.members) rows), myna_status.csv (\(counts.myna) rows), applications.csv (\(counts.applications) rows)\(optionalEntries ? ", establishments.csv (\(counts.establishments) rows)" : ""); \(counts.bad) deliberately bad rows"
            )
            return .success
        }
    }
}
