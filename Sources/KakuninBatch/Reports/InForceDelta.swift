import KakuninCore
import KakuninRuntime
import KakuninStore

/// What a run changed in the decisions in force since an earlier completed run of the same
/// chain (the same base run, sql/033 decision_in_force): an incremental night's report reads
/// this instead of every member's decision in force. `chg`: the latest decision of each member
/// with a row in a run after `since` up to `run`; `prv`: those members' decisions in force for
/// `since` (none: a new member). Every other member's decision in force is the same for both runs.
enum InForceDelta {
    /// Whether the run wrote few decisions (under a quarter of its members): reading what it
    /// changed costs less than counting every member's decision in force. After a night when
    /// most members changed (a renewal day, the night after a first one) it costs more: 7.8 s
    /// against about 3 s at 1,000,000 members.
    static func few(_ report: RunReport) -> Bool {
        guard let carry = report.carry else { return false }
        return carry.decidedRows * 4 < report.membersRead
    }

    /// An earlier completed run whose decisions in force `run`'s differ from by its chain's
    /// rows after it only, with its counts kept (RunReport.countsJSON `in_force_detail`): the
    /// latest one of the same base run, when `run` is not a base run itself (nil: none).
    static func since(_ db: Connection, runID: Int) throws -> (runID: Int, counts: String)? {
        guard
            let row = try db.query(
                """
                SELECT p.run_id, p.counts::text FROM run r
                JOIN run p ON p.insurer_number = r.insurer_number AND p.job = r.job AND p.status = 'completed'
                           AND p.counts ? 'in_force_detail' AND \(laterInChain("p", "r"))
                WHERE r.run_id = $1
                ORDER BY p.run_id DESC LIMIT 1
                """, [String(runID)]
            ).firstRow
        else { return nil }
        return (try row.int(0), try row.text(1))
    }

    /// SQL: run `r` is not a base run and run `p` is an earlier run of its chain (the same base
    /// run): `r`'s decisions in force are `p`'s plus the chain's rows after `p`.
    private static func laterInChain(_ p: String, _ r: String) -> String {
        """
        (\(r).counts->>'base_run_id')::bigint <> \(r).run_id AND \(p).run_id < \(r).run_id
        AND coalesce((\(p).counts->>'base_run_id')::bigint, \(p).run_id) = (\(r).counts->>'base_run_id')::bigint
        """
    }

    /// Whether `runID` is not a base run and `since` is an earlier run of its chain (the same base run).
    static func applies(_ db: Connection, runID: Int, since: Int) throws -> Bool {
        try db.query(
            """
            SELECT \(laterInChain("p", "r")) FROM run r, run p WHERE r.run_id = $1 AND p.run_id = $2
            """, [String(runID), String(since)]
        ).scalar == "t"
    }

    /// SQL: the CTEs `chg` and `prv` (member_id, outcome, scheme, reasons) for `run` against
    /// `since`, with the runs' insurer, as-of dates and base run read first and written in as
    /// checked literals, so that the planner prunes the decisions' partitions and estimates the
    /// rows of each run. `chg` is read by the decisions' key from (as-of date, run) of `since` on;
    /// `prv` by the chain's key for those members only (DecisionChain).
    static func ctes(_ db: Connection, run: Int, since: Int) throws -> String {
        let row = try db.query(
            """
            SELECT r.insurer_number, r.as_of::text, p.as_of::text
            FROM run r, run p WHERE r.run_id = $1 AND p.run_id = $2
            """, [String(run), String(since)]
        ).typedRows[0]
        let insurer = try row.text(0)
        let dates = try [row.text(1), row.text(2)].map { text in
            guard let d = LocalDate(stored: text) else { throw OperatorError(.internalError, "run \(run): unexpected as-of date \(text)") }
            return "'\(d.description)'::date"
        }
        guard insurer.allSatisfy(\.isNumber) else { throw OperatorError(.internalError, "run \(run): unexpected insurer \(insurer)") }
        let (ins, rAsOf, pAsOf) = ("'\(insurer)'", dates[0], dates[1])
        let chain = try DecisionChain.of(db, run: run)
        let changed = chain.runs.filter { $0.id > since }.reduce(0) { $0 + ($1.rows ?? 0) }
        return """
            chg AS MATERIALIZED (
                SELECT DISTINCT ON (d.member_id) d.member_id, d.outcome, d.scheme, d.reasons FROM decision d
                WHERE d.insurer_number = \(ins) AND (d.as_of, d.run_id) > (\(pAsOf), \(since)) AND d.as_of <= \(rAsOf)
                  AND d.run_id > \(since) AND d.run_id <= \(run)
                ORDER BY d.member_id, d.run_id DESC
            ),
            prv AS MATERIALIZED (
                SELECT member_id, outcome, scheme, reasons FROM (
                \(chain.upTo(since).latest(members: "SELECT member_id FROM chg", count: changed))
                ) p
            )
            """
    }

    /// A member whose outcome changed since the earlier run: "(new)" when it had no decision in force.
    struct Change: Sendable {
        let member: String
        let from: String
        let to: String
    }

    /// The changed members the report keeps for the auditors' report, at most this many (more:
    /// none kept, the auditors' report reads them as it writes them).
    static let listedUpTo = 50_000

    /// SQL: a part of the report's statement over `ctes` (member, from, to, NULL, 'member'): the
    /// members whose outcome changed, `listedUpTo` + 1 at most.
    static let listedChanges = """
        (SELECT c.member_id, coalesce(p.outcome, '(new)'), c.outcome, NULL, 'member' FROM chg c LEFT JOIN prv p USING (member_id)
         WHERE p.outcome IS DISTINCT FROM c.outcome LIMIT \(listedUpTo + 1))
        """

    /// The rows of `listedChanges`, nil when there were more than `listedUpTo`.
    static func listed(_ rows: [ResultRow]) throws -> [Change]? {
        guard rows.count <= listedUpTo else { return nil }
        return try rows.map { Change(member: try $0.text(0), from: try $0.text(1), to: try $0.text(2)) }
    }

    /// Runs `body` (reads of `ctes`) with the settings of a read of many decisions: the
    /// decisions a night wrote have no statistics yet, and a nested loop over them or a sort
    /// on disk is never wanted; JIT compilation gains nothing here.
    static func read<T>(_ db: Connection, _ body: () throws -> T) throws -> T {
        func settings() throws {
            try db.execute("SET LOCAL jit = off")
            try db.execute("SET LOCAL enable_nestloop = off")
            try db.execute("SET LOCAL work_mem = '256MB'")
        }
        if db.inTransaction {
            try settings()
            return try body()
        }
        return try db.transaction {
            try settings()
            return try body()
        }
    }
}

/// The decisions of a run's chain (its base run's and every later run's up to it, sql/033
/// decision_in_force) for a few members: each member's latest, read without scanning the chain.
/// A run that wrote many decisions (a base run: every member's) is probed by its key, (as-of
/// date, run, member), once per member; a run that wrote few is read by its key range and
/// hash-joined. At 1,000,000 members an incremental night's 31,000 candidates took 1.9 s by one
/// read of the chain's 2,000,000 decisions.
struct DecisionChain {
    let insurer: String
    /// The chain's runs: id, as-of date (checked literal), decisions written (nil: unknown).
    let runs: [(id: Int, asOf: String, rows: Int?)]

    /// The chain of `run` (with `run` itself), read from the run table.
    static func of(_ db: Connection, run: Int) throws -> DecisionChain {
        let rows = try db.query(
            """
            SELECT p.insurer_number, p.run_id, p.as_of::text,
                   (p.counts->>'members_read')::bigint - coalesce((p.counts->>'carried_forward')::bigint, 0)
            FROM run r JOIN run b ON b.run_id = coalesce((r.counts->>'base_run_id')::bigint, r.run_id)
            JOIN run p ON p.insurer_number = r.insurer_number AND p.run_id BETWEEN b.run_id AND r.run_id
                       AND p.as_of BETWEEN b.as_of AND r.as_of
            WHERE r.run_id = $1 ORDER BY p.run_id
            """, [String(run)]
        ).typedRows
        guard let insurer = try rows.first?.text(0) else { return DecisionChain(insurer: "", runs: []) }
        guard insurer.allSatisfy(\.isNumber) else { throw OperatorError(.internalError, "run \(run): unexpected insurer \(insurer)") }
        return DecisionChain(
            insurer: insurer,
            runs: try rows.map { row in
                let text = try row.text(2)
                guard let d = LocalDate(stored: text) else {
                    throw OperatorError(.internalError, "run \(run): unexpected as-of date \(text)")
                }
                return (try row.int(1), "'\(d.description)'::date", try row.optionalInt(3))
            })
    }

    /// The chain's runs up to `run` (the chain of an earlier run of the same base run).
    func upTo(_ run: Int) -> DecisionChain {
        DecisionChain(insurer: insurer, runs: runs.filter { $0.id <= run })
    }

    /// The columns `latest` gives (of `decision`).
    static let columns = "member_id, run_id, as_of, scheme, outcome, reasons, s_date, valid_from, valid_to, facts_digest, next_review_on"

    /// SQL: the latest decision of the chain of each member of `members` (a query of
    /// `member_id`, about `count` rows), with `columns`. The runs that wrote many decisions are
    /// probed newest first, one member at a time, and the probing stops at the first run
    /// that holds the member (an Append runs its parts in order; LIMIT 1 ends it): after a
    /// night that decided nearly everyone, one probe per member instead of one per run.
    func latest(members: String, count: Int) -> String {
        let d = Self.columns.split(separator: ",").map { "d.\($0.trimmingCharacters(in: .whitespaces))" }.joined(separator: ", ")
        let key = { (run: (id: Int, asOf: String, rows: Int?)) in
            "d.insurer_number = '\(insurer)' AND d.as_of = \(run.asOf) AND d.run_id = \(run.id)"
        }
        let few = { (run: (id: Int, asOf: String, rows: Int?)) in run.rows.map { $0 < 4 * count } ?? false }
        var reads = runs.filter(few).map { "SELECT \(d) FROM decision d WHERE \(key($0)) AND d.member_id IN (\(members))" }
        let probed = runs.filter { !few($0) }.sorted { $0.id > $1.id }
        if !probed.isEmpty {
            let probes = probed.map { "SELECT \(d) FROM decision d WHERE \(key($0)) AND d.member_id = c.member_id" }
            reads.append(
                """
                SELECT x.* FROM (\(members)) c CROSS JOIN LATERAL (
                    \(probes.joined(separator: "\n    UNION ALL "))
                    LIMIT 1) x
                """)
        }
        guard !reads.isEmpty else { return "SELECT \(d) FROM decision d WHERE false" }
        return """
            SELECT DISTINCT ON (member_id) \(Self.columns) FROM (
            \(reads.joined(separator: "\nUNION ALL "))
            ) chain ORDER BY member_id, run_id DESC
            """
    }
}
