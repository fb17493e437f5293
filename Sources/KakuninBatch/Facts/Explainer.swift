import Foundation
import KakuninCore
import KakuninStore

/// `kakunin explain`: loads one member's facts, decides, and says why in plain words.
public struct Explanation: Sendable {
    public let insurer: String
    public let memberID: String
    public let asOf: LocalDate
    public let decision: Decision
    public let steps: [String]
    public let parameters: LoadedParameters

    public static func load(db: Connection, insurer: String, member: String, asOf: LocalDate,
                            parameters: LoadedParameters) throws -> Explanation {
        let rows = try db.query(MemberFactsQuery.sql(oneMember: true), [insurer, asOf.description, member]).rows
        guard let row = rows.first else {
            throw OperatorError(.usage, "no member \(member) for insurer \(insurer)",
                                fix: "check the member id and insurer number (kakunin import members loads them)")
        }
        let facts = try MemberFactsQuery.facts(row)
        let policy = Policy(parameters: parameters.parameters)
        let (decision, steps) = policy.explain(facts, asOf: asOf)
        return Explanation(insurer: insurer, memberID: member, asOf: asOf, decision: decision, steps: steps, parameters: parameters)
    }

    private func era(_ d: LocalDate?) -> String { d.flatMap(JapaneseEra.format) ?? "" }

    public func renderText() -> String {
        var s = "Member \(memberID) of insurer \(insurer) (\(parameters.parameters.insurerName ?? "no insurer_name in the parameters")), as of \(asOf) (\(era(asOf)))\n"
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
            "insurer_number": insurer, "insurer_name": parameters.parameters.insurerName ?? NSNull(), "member_id": memberID, "as_of": asOf.description,
            "outcome": decision.outcome.rawValue, "reasons": decision.reasons.sorted.map(\.rawValue),
            "rule": decision.rule.rawValue, "steps": steps,
            "parameters": Dictionary(uniqueKeysWithValues: parameters.parameters.listing),
            "parameters_source": parameters.source, "parameters_sha256": parameters.sha256,
        ]
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
