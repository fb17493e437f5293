import KakuninCore
import KakuninStore

/// The run's decide step, one member at a time: the policy's decision on the facts row, its
/// certificate number, and the decision as a row of COPY's binary form (the server parses no
/// dates, reason arrays or facts text: a third less of its time for this COPY).
/// A class: the stream's closure calls it for every member, and a struct held there was copied
/// (its policy and parameters: dozens of retains) for each call of a non-mutating method.
final class DecisionEncoder {
    /// One member's decision as the mailing thread takes it.
    struct Decided {
        let decision: Decision
        let reasons: ReasonTextCache.Text
        let number: Int64?
        let kind: String
        let printedChange: PrintedSnapshot.Field?
        /// Policy.nextReview, and the digest of the facts row (issue 34: CarryForward).
        let nextReview: LocalDate?
        let digest: Int64
    }

    private let policy: Policy
    private let insurerName: String?
    private let asOf: LocalDate
    private var reasonText = ReasonTextCache()
    /// What every row ends with: run, insurer, as-of date.
    private let commonField: [UInt8]
    /// Each outcome's field.
    private let outcomeFields: [Outcome: [UInt8]]

    init(parameters: InsurerParameters, runID: Int?, insurer: String, asOf: LocalDate) {
        policy = Policy(parameters: parameters)
        insurerName = parameters.insurerName
        self.asOf = asOf
        var commonField: [UInt8] = []
        let insurerField = CopyBinary.Writer.textField(insurer)
        CopyBinary.Writer.append(to: &commonField, size: 12 + insurerField.count + 8) { w in
            w.int8(Int64(runID ?? 0))
            insurerField.withUnsafeBytes { w.raw($0) }
            w.date(daysSince1970: asOf.dayNumber)
        }
        self.commonField = commonField
        outcomeFields = Dictionary(uniqueKeysWithValues: Outcome.allCases.map { ($0, CopyBinary.Writer.textField($0.rawValue)) })
    }

    /// Decides the member of `row` and numbers the certificate it issues.
    func decide(_ row: CopyRow, digest: Int64, numbers: inout CertificateNumbers) throws -> Decided {
        let memberFacts = try MemberFactsQuery.facts(row, insurerName: insurerName)
        let d = policy.decide(memberFacts, asOf: asOf)
        let nextReview = policy.nextReview(memberFacts, asOf: asOf, decision: d)
        let printedChange = memberFacts.latestCertificate?.printedChange
        let reasons = reasonText.text(d.reasons)
        var number: Int64?
        var kind = d.outcome.rawValue
        if d.outcome.issuesCertificate, d.validFrom != nil {
            number = numbers.take()
            if d.replacesCertificate != nil { kind = "reissue" }
        }
        return Decided(
            decision: d, reasons: reasons, number: number, kind: kind, printedChange: printedChange,
            nextReview: nextReview, digest: digest)
    }

    /// The decision's binary COPY row, into the writer's buffer.
    func write(_ row: CopyRow, _ decided: Decided, to w: StreamWriter) throws {
        let d = decided.decision
        let number = decided.number
        let reasons = decided.reasons
        let outcome = outcomeFields[d.outcome]!
        let facts = MemberFactsQuery.replayFactsFieldSize(row, printedChange: decided.printedChange)
        let s = d.s?.dayNumber
        let from = d.validFrom?.dayNumber
        let to = d.validTo?.dayNumber
        let next = decided.nextReview?.dayNumber
        let size =
            2 + 8 + row.length(0) + row.length(1) + outcome.count + reasons.arrayField.count
            + CopyBinary.Writer.dateSize(s) + CopyBinary.Writer.dateSize(from) + CopyBinary.Writer.dateSize(to)
            + (number == nil ? 4 : 12) + facts + CopyBinary.Writer.dateSize(next) + 12 + commonField.count
        try w.withBuffer { b in
            CopyBinary.Writer.append(to: &b, size: size) { f in
                f.int16(14)
                row.withField(0) { f.bytes(UnsafeRawBufferPointer($0)) }
                row.withField(1) { f.bytes(UnsafeRawBufferPointer($0)) }
                outcome.withUnsafeBytes { f.raw($0) }
                reasons.arrayField.withUnsafeBytes { f.raw($0) }
                f.date(s)
                f.date(from)
                f.date(to)
                f.int8(number)
                MemberFactsQuery.writeReplayFacts(row, printedChange: decided.printedChange, fieldSize: facts, to: &f)
                f.date(next)
                f.int8(decided.digest)
                commonField.withUnsafeBytes { f.raw($0) }
            }
        }
    }
}
