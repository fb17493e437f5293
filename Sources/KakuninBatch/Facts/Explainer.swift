import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// `kakunin explain`: one member's decision, with the rules that fired, in plain words. Either
/// the decision a past run made (`ofRun`: that run's facts and parameters, as `replay` decides)
/// or the decision today's data gives on a date (`load`).
public struct Explanation: Sendable {
    public let insurer: String
    public let memberID: String
    public let asOf: LocalDate
    public let decision: Decision
    /// The steps, English and Japanese (`kakunin explain` prints the English, the console the Japanese).
    public let trace: [TraceStep]
    public var steps: [String] { trace.map(\.english) }
    public let parameters: LoadedParameters
    /// The run whose decision this explains; nil for a decision from today's data.
    public var runID: Int? = nil
    /// The run's stored decision (outcome reasons valid_from valid_to) when re-deciding its facts
    /// gives another (a different code version); nil when they agree.
    public var storedDiffers: String? = nil

    /// The decision run `runID` made for `member`, explained from the facts the run read (kept
    /// with the decision) and the parameters it was registered with, never from today's data.
    public static func ofRun(db: Connection, runID: Int, member: MemberID) throws -> Explanation {
        let member = member.text
        let parameters = try ParameterVersions.ofRun(db, runID: runID)
        guard let run = try db.query("SELECT insurer_number, as_of::text FROM run WHERE run_id = $1", [String(runID)]).firstRow else {
            throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
        }
        let asOf = try run.date(1)
        guard
            let row = try db.query(
                """
                SELECT outcome, array_to_string(reasons, ';'), coalesce(valid_from::text, ''), coalesce(valid_to::text, ''), facts
                FROM decision_in_force($1) WHERE as_of = $2::date AND member_id = $3
                """, [String(runID), asOf.description, member]
            ).firstRow
        else {
            throw OperatorError(
                .notFound, "run \(runID) made no decision for member \(member)",
                fix: "check the member id; kakunin member show lists the member's decisions by run")
        }
        guard let factsText = row.optionalText(4), let facts = try MemberFactsQuery.replayFacts(memberID: member, facts: factsText) else {
            throw OperatorError(
                .notFound, "run \(runID)'s decision for member \(member) carries no facts",
                fix:
                    "runs made before facts were kept with decisions cannot be explained; kakunin explain --as-of explains today's decision"
            )
        }
        let (decision, trace) = Policy(parameters: parameters.parameters).trace(facts, asOf: asOf)
        var e = Explanation(
            insurer: try run.text(0), memberID: member, asOf: asOf, decision: decision, trace: trace, parameters: parameters)
        e.runID = runID
        let stored = try [row.text(0), row.text(1), row.text(2), row.text(3)].joined(separator: " ")
        let replayed = [
            decision.outcome.rawValue, decision.reasons.joined, decision.validFrom?.description ?? "",
            decision.validTo?.description ?? "",
        ].joined(separator: " ")
        if stored != replayed { e.storedDiffers = stored }
        return e
    }

    public static func load(
        db: Connection, insurer: InsurerNumber, member: MemberID, asOf: LocalDate,
        parameters: LoadedParameters
    ) throws -> Explanation {
        let insurer = insurer.text
        let member = member.text
        let rows = try db.query(
            MemberFactsQuery.sql(oneMember: true, delivery: parameters.parameters.employeeDelivery),
            [insurer, asOf.description, member]
        ).rows
        guard let row = rows.first else {
            throw OperatorError(
                .notFound, "no member \(member) for insurer \(insurer)",
                fix: "check the member id and insurer number (kakunin import members loads them)")
        }
        let facts = try MemberFactsQuery.facts(row, insurerName: parameters.parameters.insurerName)
        let policy = Policy(parameters: parameters.parameters)
        let (decision, trace) = policy.trace(facts, asOf: asOf)
        return Explanation(insurer: insurer, memberID: member, asOf: asOf, decision: decision, trace: trace, parameters: parameters)
    }

    private func era(_ d: LocalDate?) -> String { d.flatMap(JapaneseEra.format) ?? "" }

    public func renderText() -> String {
        var s =
            "Member \(memberID) of insurer \(insurer) (\(parameters.parameters.insurerName ?? "no insurer_name in the parameters")), as of \(asOf) (\(era(asOf)))\n"
        if let runID {
            s += "Explains: the decision of run \(runID), from the facts that run read and its parameters (not today's data)\n"
            if let storedDiffers { s += "note: run \(runID) stored \(storedDiffers); this code decides its facts as below\n" }
        } else {
            s += "Explains: today's decision, from the data in the database now and the parameters in force on \(asOf)\n"
        }
        s += "Decision: \(decision.outcome.rawValue)"
        if let h = decision.heldFrom { s += " (would be \(h.rawValue))" }
        if let f = decision.validFrom, let t = decision.validTo {
            s += ", valid \(f) … \(t) (\(era(f)) … \(era(t)))"
            if let cap = decision.validityCap { s += "; ends at the \(cap.rawValue)" }
        }
        s += "\nReasons:\n"
        for r in decision.reasons {
            let e = r.explanation
            s += "  \(r.rawValue): \(e.text) [\(e.source)]\n"
        }
        s += "Why, step by step:\n"
        for (i, step) in steps.enumerated() { s += "  \(i + 1). \(step)\n" }
        s += "Parameters: \(parameters.source) (sha256 \(parameters.sha256.prefix(16))…)\n"
        for (k, v) in parameters.parameters.listing where !v.isEmpty { s += "  \(k) = \(v)\n" }
        if let sDate = decision.s {
            let inForce = NationalMeasures.all.filter { $0.inForce(on: sDate) }
            s += "National measures in force on S = \(sDate):\n"
            for m in inForce { s += "  \(m.id) (\(m.period)): \(m.title). Source: \(m.source)\n" }
        }
        return s
    }

    public func renderJSON() throws -> String {
        var obj: [String: Any] = [
            "insurer_number": insurer, "insurer_name": parameters.parameters.insurerName ?? NSNull(), "member_id": memberID,
            "as_of": asOf.description,
            "outcome": decision.outcome.rawValue, "reasons": decision.reasons.sorted.map(\.rawValue),
            "rule": decision.rule.rawValue, "steps": steps,
            "parameters": Dictionary(uniqueKeysWithValues: parameters.parameters.listing),
            "parameters_source": parameters.source, "parameters_sha256": parameters.sha256,
            "explains": runID.map { "run \($0)" } ?? "today",
        ]
        if let runID { obj["run_id"] = runID }
        if let storedDiffers { obj["stored_decision"] = storedDiffers }
        if let v = decision.s { obj["s"] = v.description }
        if let v = decision.validFrom { obj["valid_from"] = v.description }
        if let v = decision.validTo { obj["valid_to"] = v.description }
        if let v = decision.validityCap { obj["valid_to_set_by"] = v.rawValue }
        if let v = decision.heldFrom { obj["held_from"] = v.rawValue }
        if let v = decision.applicationID { obj["application_id"] = v }
        if let v = decision.replacesCertificate { obj["replaces_certificate"] = v }
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
