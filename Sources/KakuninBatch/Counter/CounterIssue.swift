import Foundation
import KakuninCore
import KakuninStore

/// Counter issuance (即日交付, SPEC.md 7): decide one member now with the nightly run's policy
/// and, if the outcome issues a certificate, issue it in one transaction.
extension CounterDesk {
    /// The advisory lock (transaction-scoped) that counter issues of an insurer hold for their
    /// whole short transaction and a nightly run takes only for the moment before its commit.
    public static func issueLockKey(_ insurer: String) -> String { "kakunin.issue:\(insurer)" }

    /// A certificate as issued, with everything printed on it (SPEC.md 5.1). Field names are
    /// stable (`--format json`, README).
    public struct IssuedCertificate: Codable, Sendable {
        public let insurer_number: String
        public let insurer_name: String?
        public let certificate_number: Int64
        public let member_id: String
        public let kind: String
        public let reasons: [String]
        public let valid_from: String
        public let valid_to: String
        public let valid_to_era: String
        public let issued_on: String
        public let issued_on_era: String
        public let replaces_certificate_number: Int64?
        public let application_id: Int64?
        public let scheme: String
        public let family_name: String
        public let given_name: String?
        public let family_name_kana: String?
        public let given_name_kana: String?
        public let birth_date: String
        public let birth_date_era: String
        public let sex: String
        public let symbol: String?
        public let number: String
        public let branch: String?
        /// Printed only for nhi members aged 70–74 and every elderly member; nil otherwise.
        public let copay_ratio: Int?
        public let copay_effective_on: String?
        public let copay_effective_on_era: String?
        public let issued_by: String
        /// The member's `preferred_language`: the language of the letter printed with it (SPEC.md 5.2).
        public var preferred_language: String? = nil
    }

    public enum CounterIssueResult: Sendable {
        case issued(IssuedCertificate)
        /// The policy issues nothing for this member today: the decision and why, step by step.
        case nothing(Decision, steps: [String])
    }

    /// Decides `memberID` as of `asOf` and, when the outcome issues a certificate, issues it:
    /// the insurer's next number, the application fulfilled, a replaced certificate voided
    /// (reissue), open returned mail resolved (the document is handed over), the audit event.
    /// The document is handed over in person, so what only stops the mail (no usable address,
    /// returned mail, no household head) does not stop it here.
    public func issue(insurer: String, memberID: String, asOf: LocalDate, parameters: LoadedParameters) throws -> CounterIssueResult {
        try requireMember(insurer, memberID)
        return try db.transaction {
            // Counter issues of the insurer take turns (two clerks, one member: one certificate),
            // and a nightly run's last check before its commit waits for this transaction.
            try db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [Self.issueLockKey(insurer)])
            let (d, steps) = try counterDecision(insurer: insurer, memberID: memberID, asOf: asOf, parameters: parameters)
            TestPause.hit("counter:decided")
            guard d.outcome.issuesCertificate, let from = d.validFrom, let to = d.validTo else { return .nothing(d, steps: steps) }
            let kind = d.replacesCertificate != nil ? "reissue" : d.outcome.rawValue
            let reasons = d.reasons.sorted.map(\.rawValue)
            var details: [String: Any] = ["kind": kind, "reasons": reasons, "valid_from": from.description,
                                          "valid_to": to.description, "issued_on": asOf.description]
            if let r = d.replacesCertificate { details["replaces_certificate_number"] = r }
            if let a = d.applicationID { details["application_id"] = a }
            // One function takes the number, inserts the certificate, voids the one it replaces,
            // fulfils the application, resolves returned mail and writes `counter_issued` (sql/020):
            // a row changed meanwhile (a void racing a reissue) fails the issue. Sealed, the event
            // is followed in the log by the certificate's own entry.
            let number = try Self.counterRule {
                Int64(try db.query("""
                    SELECT counter_issue_certificate($1, $2, $3, $4::text[], $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)
                    """, [insurer, memberID, kind, "{\(reasons.joined(separator: ","))}", from.description, to.description,
                          asOf.description, d.replacesCertificate.map(String.init), d.applicationID.map(String.init),
                          d.specialConsideration ? "t" : "f", d.recordsConsiderationOn.map(String.init), person, json(details)]).scalar!)!
            }
            return .issued(try printed(insurer: insurer, memberID: memberID, number: number, kind: kind, reasons: reasons, from: from, to: to,
                                       issuedOn: asOf, replaces: d.replacesCertificate, application: d.applicationID, parameters: parameters))
        }
    }

    /// What a counter issue would do now, without doing it (the console's confirmation step):
    /// the nightly policy, with what only stops the mail set aside.
    public func counterDecision(insurer: String, memberID: String, asOf: LocalDate, parameters: LoadedParameters) throws -> (Decision, [String]) {
        guard let row = try db.query(MemberFactsQuery.sql(oneMember: true), [insurer, asOf.description, memberID]).rows.first else {
            throw OperatorError(.notFound, "insurer \(insurer) has no member \(memberID)", fix: "kakunin member find")
        }
        var facts = try MemberFactsQuery.facts(row)
        facts.deliverable = true
        facts.mailReturned = false
        facts.householdHeads = 1
        return Policy(parameters: parameters.parameters).explain(facts, asOf: asOf)
    }

    /// An active certificate as printed, to hand over at the counter: one whose mailing record
    /// waits in the exceptions (a character the vendor's encoding lacks, a field too long), or
    /// one that came back undelivered. Recorded as `certificate_printed`.
    public func reprint(insurer: String, certificate: Int64, parameters: LoadedParameters) throws -> IssuedCertificate {
        try requireInsurer(insurer)
        return try db.transaction {
            guard let c = try db.query("""
                SELECT member_id, kind, array_to_string(reasons, ','), valid_from::text, valid_to::text, issued_on::text, status,
                       replaces_certificate_number::text, application_id::text, mail_exception
                FROM certificate WHERE insurer_number = $1 AND certificate_number = $2
                """, [insurer, String(certificate)]).rows.first else {
                throw OperatorError(.notFound, "insurer \(insurer) has no certificate \(certificate)", fix: "kakunin member show lists a member's certificates")
            }
            guard c[6] == "active" else {
                throw OperatorError(.conflict, "certificate \(certificate) is \(c[6]!): only an active certificate is printed",
                                    fix: "issue at the counter instead (kakunin counter issue)")
            }
            var details: [String: Any] = ["certificate_number": certificate]
            if let why = c[9] { details["mail_exception"] = why }
            try audit("certificate_printed", insurer, c[0]!, details)
            return try printed(insurer: insurer, memberID: c[0]!, number: certificate, kind: c[1]!,
                               reasons: (c[2] ?? "").split(separator: ",").map(String.init),
                               from: LocalDate(stored: c[3]!)!, to: LocalDate(stored: c[4]!)!, issuedOn: LocalDate(stored: c[5]!)!,
                               replaces: c[7].flatMap { Int64($0) }, application: c[8].flatMap { Int64($0) }, parameters: parameters)
        }
    }

    private func printed(insurer: String, memberID: String, number: Int64, kind: String, reasons: [String], from: LocalDate, to: LocalDate,
                         issuedOn: LocalDate, replaces: Int64?, application: Int64?, parameters: LoadedParameters) throws -> IssuedCertificate {
        let m = try db.query("""
            SELECT m.scheme, m.family_name, m.given_name, m.family_name_kana, m.given_name_kana, m.birth_date::text, m.sex, m.symbol, m.number,
                   m.branch, m.copay_ratio::text, m.preferred_language
            FROM member m WHERE m.insurer_number = $1 AND m.member_id = $2
            """, [insurer, memberID]).rows[0]
        let birth = LocalDate(stored: m[5]!)!
        let scheme = m[0]!
        let printsCopay = CopayPrinting.printed(scheme: scheme, birth: birth, on: issuedOn)
        let copay = printsCopay ? m[10].flatMap { Int($0) } : nil
        func era(_ d: LocalDate) -> String { JapaneseEra.format(d) ?? d.description }
        return IssuedCertificate(
            insurer_number: insurer, insurer_name: parameters.parameters.insurerName, certificate_number: number, member_id: memberID,
            kind: kind, reasons: reasons, valid_from: from.description, valid_to: to.description, valid_to_era: era(to),
            issued_on: issuedOn.description, issued_on_era: era(issuedOn), replaces_certificate_number: replaces,
            application_id: application, scheme: scheme, family_name: m[1]!, given_name: m[2], family_name_kana: m[3], given_name_kana: m[4],
            birth_date: birth.description, birth_date_era: era(birth), sex: m[6]!, symbol: m[7], number: m[8]!, branch: m[9],
            copay_ratio: copay, copay_effective_on: copay != nil ? from.description : nil, copay_effective_on_era: copay != nil ? era(from) : nil,
            issued_by: person, preferred_language: m[11])
    }
}
