import Crypto
import Foundation
import KakuninCore
import KakuninStore

/// Incremental nights (issue 34). A run is full (decides every member) or incremental: it then
/// decides only the members whose facts row differs from the one their decision in force was
/// made from (`facts_digest`), or whose review date (`next_review_on`, Policy.nextReview) has
/// come, and carries every other member's decision in force forward without a row of its own
/// (sql/033 decision_in_force). An incremental night reads the facts of its candidates only
/// (sql/041 incremental_candidates); every member it does not read is carried forward too.
/// A full run compares what an incremental night would have
/// carried forward with what it decides: any difference fails the run's check.
///
/// Storage (issue 34 item 4): a *base run* stores every member's decision and is where
/// decision_in_force starts reading (run.counts `base_run_id`); every other run, full or not,
/// stores only the decisions that are not the one in force. A full run that is not a base run
/// decides and compares every member but keeps the equal ones as carried forward. A run is a
/// base run when it is the insurer's first, when the parameters, the code version or the dated
/// measures differ from its base run's, and for the first full run whose as-of month is not its
/// base run's month (so decision_in_force reads at most this month's and the last month's
/// partitions, and every older month can be archived: `kakunin archive`).
struct CarryForward {
    let full: Bool
    /// Why the run is full ("" for an incremental one).
    let why: String
    /// The base run this run's decisions in force start from (nil: this run, a base run).
    let baseRunID: Int?
    /// The last full run before this one (nil: this run is full, or none is known); full_run_days
    /// counts from it.
    let lastFullRunID: Int?
    let asOf: LocalDate
    /// The run whose decisions in force this one carries forward or compares with (nil: none):
    /// each member's travels with its facts row (FactsSource.carryKept, MemberFactsQuery.keptColumn),
    /// so the run holds nothing per member.
    let keptRun: Int?
    private(set) var carried = 0
    private(set) var compared = 0
    private(set) var mismatches: [String] = []

    /// An incremental night: the query of the members it reads (nil on a full run: everyone):
    /// those whose facts can have changed since the kept run or whose review date has come.
    var candidates: String? {
        guard !full, let keptRun else { return nil }
        return "SELECT member_id FROM incremental_candidates($1, \(keptRun), $2)"
    }

    /// An incremental night: the members it did not read keep their decisions in force too.
    mutating func carriedWithoutReading(_ members: Int) {
        guard !full else { return }
        carried += members
    }

    /// run.counts with the number of members whose facts the run read.
    func counts(parameters: LoadedParameters, codeVersion: String, runID: Int, factsRead: Int) -> [String: Any] {
        counts(parameters: parameters, codeVersion: codeVersion, runID: runID).merging(["facts_read": factsRead]) { $1 }
    }

    /// A digest of the catalogue of dated measures: a change in it (a new code version) makes a full run.
    static let measuresDigest: String = {
        let text = NationalMeasures.all.map { "\($0.id)|\($0.from?.description ?? "")|\($0.to?.description ?? "")|\($0.effect)" }.joined(
            separator: "\n")
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }()

    /// A dry run decides everyone and compares nothing.
    static func dryRun(asOf: LocalDate) -> CarryForward {
        CarryForward(full: true, why: "dry run", baseRunID: nil, lastFullRunID: nil, asOf: asOf, keptRun: nil)
    }

    /// A base run stores every member's decision (it is full and starts decision_in_force).
    var base: Bool { baseRunID == nil }

    /// Full or incremental, base or not, and the previous run's decisions in force.
    static func plan(
        _ db: Connection, runID: Int, insurer: String, asOf: LocalDate, parameters: LoadedParameters,
        codeVersion: String, askedFull: Bool
    ) throws -> CarryForward {
        let previous = try db.query(
            """
            SELECT run_id, as_of::text, counts->>'base_run_id', coalesce(counts->>'last_full_run_id', counts->>'base_run_id')
            FROM run
            WHERE insurer_number = $1 AND run_id < $2 AND phase IN ('decided', 'completed') ORDER BY run_id DESC LIMIT 1
            """, [insurer, String(runID)]
        ).rows.first
        // last_full_run_id: runs made before base runs kept the last full run as base_run_id.
        guard let previous, let base = previous[2].flatMap({ Int($0) }), let lastFullRun = previous[3].flatMap({ Int($0) }) else {
            return CarryForward(
                full: true, why: previous == nil ? "first run of the insurer" : "the previous run kept no review dates",
                baseRunID: nil, lastFullRunID: nil, asOf: asOf, keptRun: nil)
        }
        let baseWhy = try baseRunReason(db, baseRunID: base, parameters: parameters, codeVersion: codeVersion)
        let fullWhy = try fullRunReason(db, lastFullRunID: lastFullRun, asOf: asOf, parameters: parameters, askedFull: askedFull)
        // The first full run of a month is a base run: decision_in_force never reads further back
        // than the month before, and older months can be archived.
        let newMonth = try fullWhy != nil && !sameMonth(db, base, asOf)
        let why = baseWhy ?? fullWhy.map { newMonth ? "\($0); the first full run of the month (a base run)" : $0 }
        return CarryForward(
            full: why != nil, why: why ?? "", baseRunID: baseWhy != nil || newMonth ? nil : base,
            lastFullRunID: why == nil ? lastFullRun : nil, asOf: asOf, keptRun: Int(previous[0]!)!)
    }

    /// Why this run must be a base run (nil: it need not): the parameters, the code version or the
    /// dated measures differ from those of the base run the decisions in force start from.
    private static func baseRunReason(
        _ db: Connection, baseRunID: Int, parameters: LoadedParameters, codeVersion: String
    ) throws -> String? {
        let base = try db.query(
            "SELECT counts->>'parameters_sha256', counts->>'code_version', counts->>'measures' FROM run WHERE run_id = $1",
            [String(baseRunID)]
        ).rows[0]
        if base[0] != parameters.sha256 { return "the parameters changed since the base run (\(baseRunID))" }
        if base[1] != codeVersion { return "the code version changed since the base run (\(baseRunID))" }
        if base[2] != measuresDigest { return "the dated measures changed since the base run (\(baseRunID))" }
        return nil
    }

    /// Why this run must decide every member (nil: it need not): asked, or full_run_days since the
    /// last full run.
    private static func fullRunReason(
        _ db: Connection, lastFullRunID: Int, asOf: LocalDate, parameters: LoadedParameters, askedFull: Bool
    ) throws -> String? {
        if askedFull { return "--full" }
        let last = try db.query("SELECT as_of::text FROM run WHERE run_id = $1", [String(lastFullRunID)]).rows[0]
        let days = LocalDate(stored: last[0]!)!.days(until: asOf)
        if days >= parameters.parameters.fullRunDays {
            return "\(days) days since the last full run (\(lastFullRunID)), full_run_days = \(parameters.parameters.fullRunDays)"
        }
        return nil
    }

    /// Whether a run's as-of date is in the same calendar month as `asOf`.
    private static func sameMonth(_ db: Connection, _ runID: Int, _ asOf: LocalDate) throws -> Bool {
        let d = LocalDate(stored: try db.query("SELECT as_of::text FROM run WHERE run_id = $1", [String(runID)]).rows[0][0]!)!
        return d.year == asOf.year && d.month == asOf.month
    }

    /// The kept decision (MemberFactsQuery.keptColumn) an incremental night may carry forward:
    /// made from the same facts (digest) and not due for review.
    private func carriable(_ row: CopyRow, digest: Int64) throws -> Bool {
        let k = MemberFactsQuery.keptColumn
        guard keptRun != nil, row.int64(k) == digest else { return false }
        return try row.date(k + 1).map { $0 > asOf } ?? true
    }

    /// An incremental night: true when the member's decision in force is carried forward (not decided).
    mutating func carries(_ row: CopyRow, digest: Int64) throws -> Bool {
        guard !full, try carriable(row, digest: digest) else { return false }
        carried += 1
        return true
    }

    /// A full run: the decision an incremental night would have carried forward must be the one
    /// decided. True when the run keeps the decision in force instead of storing it (a full run
    /// that is not a base run, the decision equal): it counts as carried forward.
    /// `reasons`: the text form of the array, `{A,B}` (made a String only when compared).
    mutating func check(_ row: CopyRow, digest: Int64, _ d: Decision, reasons: [UInt8], issues: Bool) throws -> Bool {
        guard full, try carriable(row, digest: digest) else { return false }
        compared += 1
        let reasons = String(decoding: reasons, as: UTF8.self)
        let decided = [d.outcome.rawValue, reasons, d.s?.description, d.validFrom?.description, d.validTo?.description]
        // outcome, `{REASONS}`, S, valid_from, valid_to as kept.
        guard decided == (2..<7).map({ row.string(MemberFactsQuery.keptColumn + $0) }) else {
            mismatches.append(row.string(0)!)
            return false
        }
        guard !base, !issues else { return false }
        carried += 1
        return true
    }

    /// What the run row keeps (run.counts): how it was made and what it found.
    func counts(parameters: LoadedParameters, codeVersion: String, runID: Int) -> [String: Any] {
        [
            "full_run": full, "full_run_reason": why, "base_run_id": baseRunID ?? runID, "base_run": base,
            "last_full_run_id": lastFullRunID ?? runID, "carried_forward": carried,
            "carry_compared": compared, "carry_mismatches": mismatches.count,
            "carry_mismatch_members": Array(mismatches.sorted().prefix(100)),
            "parameters_sha256": parameters.sha256, "code_version": codeVersion, "measures": Self.measuresDigest,
        ]
    }

    /// A 64-bit FNV-1a digest of every field of the member's facts (the row's columns before the
    /// kept decision).
    static func digest(_ row: CopyRow) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<min(row.count, MemberFactsQuery.keptColumn) {
            if row.isNull(i) {
                h = (h ^ 0xFF) &* 0x100_0000_01b3
            } else {
                row.withField(i) { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
            }
            h = (h ^ 0x09) &* 0x100_0000_01b3
        }
        return Int64(bitPattern: h)
    }
}
