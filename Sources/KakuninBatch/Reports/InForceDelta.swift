import KakuninStore

/// What a run changed in the decisions in force since an earlier completed run of the same
/// chain (the same base run, sql/033 decision_in_force): an incremental night's report reads
/// this instead of every member's decision in force. `chg`: the latest decision of each member
/// with a row in a run after `since` up to `run`; `prv`: those members' decisions in force for
/// `since` (none: a new member). Every other member's decision in force is the same for both runs.
enum InForceDelta {
    /// An earlier completed run whose decisions in force `run`'s differ from by its chain's
    /// rows after it only, with its counts kept (RunReport.countsJSON `in_force_detail`): the
    /// latest one of the same base run, when `run` is not a base run itself (nil: none).
    static func since(_ db: Connection, runID: Int) throws -> (runID: Int, counts: String)? {
        guard
            let row = try db.query(
                """
                SELECT p.run_id, p.counts::text FROM run r
                JOIN run p ON p.insurer_number = r.insurer_number AND p.job = r.job AND p.run_id < r.run_id AND p.status = 'completed'
                           AND p.counts ? 'in_force_detail'
                           AND coalesce((p.counts->>'base_run_id')::bigint, p.run_id) = (r.counts->>'base_run_id')::bigint
                WHERE r.run_id = $1 AND (r.counts->>'base_run_id')::bigint <> r.run_id
                ORDER BY p.run_id DESC LIMIT 1
                """, [String(runID)]
            ).firstRow
        else { return nil }
        return (try row.int(0), try row.text(1))
    }

    /// Whether `runID` is not a base run and `since` is an earlier run of its chain (the same base run).
    static func applies(_ db: Connection, runID: Int, since: Int) throws -> Bool {
        try db.query(
            """
            SELECT (r.counts->>'base_run_id')::bigint <> r.run_id AND p.run_id < r.run_id
                   AND coalesce((p.counts->>'base_run_id')::bigint, p.run_id) = (r.counts->>'base_run_id')::bigint
            FROM run r, run p WHERE r.run_id = $1 AND p.run_id = $2
            """, [String(runID), String(since)]
        ).scalar == "t"
    }

    /// SQL: the CTEs `chg` and `prv` (member_id, outcome, scheme, reasons) for `run` against
    /// `since` (parameter references or checked numbers). `chg` is read by the decisions' key
    /// (as-of date, run); `prv` by one pass over the chain up to `since`, joined to `chg` by hash.
    static func ctes(run: String, since: String) -> String {
        """
        x AS (
            SELECT r.insurer_number AS ins, r.as_of AS r_as_of, p.as_of AS p_as_of, b.run_id AS b_run, b.as_of AS b_as_of
            FROM run r JOIN run p ON p.run_id = \(since)
            JOIN run b ON b.run_id = coalesce((p.counts->>'base_run_id')::bigint, p.run_id)
            WHERE r.run_id = \(run)
        ),
        chg AS MATERIALIZED (
            SELECT DISTINCT ON (d.member_id) d.member_id, d.outcome, d.scheme, d.reasons FROM decision d, x
            WHERE d.insurer_number = x.ins AND d.as_of BETWEEN x.p_as_of AND x.r_as_of AND d.run_id > \(since) AND d.run_id <= \(run)
            ORDER BY d.member_id, d.run_id DESC
        ),
        prv AS (
            SELECT DISTINCT ON (d.member_id) d.member_id, d.outcome, d.scheme, d.reasons FROM decision d, x
            WHERE d.insurer_number = x.ins AND d.as_of BETWEEN x.b_as_of AND x.p_as_of AND d.run_id BETWEEN x.b_run AND \(since)
              AND d.member_id IN (SELECT member_id FROM chg)
            ORDER BY d.member_id, d.run_id DESC
        )
        """
    }
}
