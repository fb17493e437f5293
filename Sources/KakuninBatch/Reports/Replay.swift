import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// Re-decides a past run from what it saw (SPEC.md 8): each member's facts as the run read them
/// (`decision.facts`), the run's parameters (its recorded version, ParameterVersions.ofRun) and the
/// national measures of this code, and compares with the stored decisions.
public struct Replay: Sendable {
    public struct Difference: Sendable {
        public let memberID: String
        public let stored: String
        public let replayed: String
    }

    public var runID: Int
    public var members = 0
    public var differences: [Difference] = []
    /// More differences than kept (the first 1,000 are listed).
    public var more = 0
    public var notes: [String] = []
    public var identical: Bool { differences.isEmpty }

    public static func run(_ db: Connection, runID: Int, codeVersion: String) throws -> Replay {
        guard
            let run = try db.query(
                """
                SELECT insurer_number, as_of::text, coalesce(params_sha256, ''), coalesce(params_source, ''), coalesce(code_version, ''), status
                FROM run WHERE run_id = $1
                """, [String(runID)]
            ).rows.first
        else {
            throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
        }
        let phase = try db.query("SELECT phase FROM run WHERE run_id = $1", [String(runID)]).scalar
        guard run[5] != "running" || phase != "deciding" else {
            throw OperatorError(
                .conflict, "run \(runID) has not committed its decisions yet", fix: "replay it once it is decided or completed")
        }
        let params = try ParameterVersions.ofRun(db, runID: runID)
        let policy = Policy(parameters: params.parameters)
        guard let asOf = LocalDate(stored: run[1]!) else { throw OperatorError(.internalError, "run \(runID) has no as-of date") }
        var r = Replay(runID: runID)
        if run[4]! != codeVersion {
            r.notes.append("run \(runID) was decided by kakunin \(run[4]!); replayed with \(codeVersion)")
        }
        var parser = CopyTextParser()
        var missing = 0
        try db.copyOut(
            """
            COPY (SELECT member_id, outcome, array_to_string(reasons, ';'), valid_from, valid_to, facts FROM decision_in_force(\(runID))
                  WHERE as_of = '\(asOf)' ORDER BY member_id) TO STDOUT
            """
        ) { chunk in
            let row = parser.parseRow(chunk)
            r.members += 1
            guard let factsText = row[5], let facts = try MemberFactsQuery.replayFacts(memberID: row[0]!, facts: factsText) else {
                missing += 1
                return
            }
            let d = policy.decide(facts, asOf: asOf)
            let stored = [row[1] ?? "", row[2] ?? "", row[3] ?? "", row[4] ?? ""].joined(separator: " ")
            let replayed = [d.outcome.rawValue, d.reasons.joined, d.validFrom?.description ?? "", d.validTo?.description ?? ""].joined(
                separator: " ")
            if stored != replayed {
                if r.differences.count < 1000 {
                    r.differences.append(Difference(memberID: row[0]!, stored: stored, replayed: replayed))
                } else {
                    r.more += 1
                }
            }
        }
        if missing > 0 {
            throw OperatorError(
                .notFound, "\(missing) of run \(runID)'s \(r.members) decisions carry no facts",
                fix: "runs made before replay was added cannot be replayed")
        }
        return r
    }

    public func render() -> String {
        var s = ""
        for n in notes { s += "note: \(n)\n" }
        if identical { return s + "replay of run \(runID): \(members) decisions re-decided, all identical\n" }
        s +=
            "replay of run \(runID): \(differences.count + more) of \(members) decisions DIFFER (stored → replayed: outcome reasons valid_from valid_to)\n"
        for d in differences { s += "  \(d.memberID): \(d.stored) → \(d.replayed)\n" }
        if more > 0 { s += "  … and \(more) more\n" }
        return s
    }
}
