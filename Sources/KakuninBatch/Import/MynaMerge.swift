import Foundation
import KakuninCore
import KakuninStore

extension FeedMerge {
    /// Myna status snapshots: corrected ones updated, new ones inserted with their marks;
    /// returns (inserted, updated).
    func mergeMynaStatus() throws -> (Int, Int) {
        let (id, on, data, all) = (String(job.importID), job.on, job.dataColumns, job.format.columns.map(\.name))
        let differs = FeedMerge.differ(data, "t", "s")
        // The members whose marks (status_changed, sql/019) must be recomputed from all
        // their snapshots: a snapshot corrected, inserted before a later one, or several in
        // one file. A monthly extract, one later snapshot per member, needs none of that.
        try job.db.execute("CREATE TEMP TABLE myna_remark (insurer_number text, member_id text) ON COMMIT DROP")
        let updated = try job.db.query(
            """
            WITH u AS (
                UPDATE myna_status t SET \(data.map { "\($0) = s.\($0)" }.joined(separator: ", ")), import_id = $1
                FROM pg_temp.stage s WHERE \(on) AND \(differs)
                RETURNING t.insurer_number, t.member_id)
            INSERT INTO pg_temp.myna_remark SELECT * FROM u
            """, [id]
        ).affectedRows
        // Each new snapshot is marked against the member's latest marked one, which carries
        // the values of their latest snapshot (changes only: the partial index's rows). The
        // members to re-mark: a new snapshot not after that change, several in the file, or
        // a change with later snapshots (which may now differ from it).
        let inserted = Int(
            try job.db.query(
                """
                WITH n AS MATERIALIZED (
                    SELECT s.*, p.status_as_of AS previous_change,
                           \(FeedMerge.differ(data, "s", "p")) OR \(FeedMerge.recentUseLapses("s", previous: "p.status_as_of")) AS changed
                    FROM pg_temp.stage s
                    LEFT JOIN (SELECT DISTINCT ON (insurer_number, member_id) * FROM myna_status
                               WHERE status_changed
                               -- Backwards along the partial index: no sort (half the time of
                               -- sorting only the file's members, for a monthly extract).
                               ORDER BY insurer_number DESC, member_id DESC, status_as_of DESC) p
                           ON p.insurer_number = s.insurer_number AND p.member_id = s.member_id
                    WHERE NOT EXISTS (SELECT 1 FROM myna_status t WHERE \(on))),
                several AS (
                    SELECT insurer_number, member_id FROM pg_temp.stage GROUP BY 1, 2 HAVING count(*) > 1),
                ins AS (
                    INSERT INTO myna_status (\(all.joined(separator: ", ")), import_id, status_changed)
                    SELECT \(all.joined(separator: ", ")), $1, changed FROM n
                    RETURNING 1),
                remark AS (
                    INSERT INTO pg_temp.myna_remark
                    SELECT n.insurer_number, n.member_id FROM n
                    WHERE n.status_as_of <= n.previous_change
                       OR (n.insurer_number, n.member_id) IN (SELECT * FROM several)
                       OR n.changed AND EXISTS (SELECT 1 FROM myna_status t WHERE t.insurer_number = n.insurer_number
                                                AND t.member_id = n.member_id AND t.status_as_of > n.status_as_of))
                SELECT count(*) FROM ins
                """, [id]
            ).scalar!)!
        try remarkSnapshots(data)
        return (inserted, updated)
    }

    /// SQL: the `columns` of row `a` differ from those of row `b` (NULLs compare equal).
    static func differ(_ columns: [String], _ a: String, _ b: String) -> String {
        "(\(columns.map { "\(a).\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(columns.map { "\(b).\($0)" }.joined(separator: ", ")))"
    }

    /// SQL: snapshot `a` repeats snapshot `b` (earlier), but its last use falls out of the usage
    /// test's recent window that `b`'s still covered (last_used_on ≥ status_as_of − 3 months,
    /// SPEC.md 2.4; the SQL month step clamps like LocalDate's). The test counts back from the
    /// snapshot's date, so such a repeat is marked (status_changed): the marked snapshot the facts
    /// query reads then decides the test as the latest one would. The window only closes once
    /// per last use, so a member whose use stopped costs one mark more, not one a month.
    /// `a`: the snapshot's alias (or "" for unqualified columns); `previous`: the earlier
    /// snapshot's status_as_of.
    static func recentUseLapses(_ a: String, previous: String) -> String {
        let months = MynaStatus.recentUseMonths
        let q = a.isEmpty ? "" : a + "."
        return """
            coalesce(\(q)last_used_on >= (\(previous) - interval '\(months) months')::date
                     AND \(q)last_used_on < (\(q)status_as_of - interval '\(months) months')::date, false)
            """
    }

    /// Recomputes the marks (status_changed, sql/019) of the members in `pg_temp.myna_remark`
    /// from all their snapshots: the first and every one that differs from the one before.
    /// Only the marks that change are written.
    private func remarkSnapshots(_ data: [String]) throws {
        let values = "(\(data.joined(separator: ", ")))"
        let previous = "(\(data.map { "lag(\($0)) OVER w" }.joined(separator: ", ")))"
        try job.db.execute(
            """
            UPDATE myna_status t SET status_changed = x.changed
            FROM (SELECT insurer_number, member_id, status_as_of,
                         row_number() OVER w = 1 OR \(values) IS DISTINCT FROM \(previous)
                                OR \(Self.recentUseLapses("", previous: "lag(status_as_of) OVER w")) AS changed
                  FROM myna_status
                  WHERE (insurer_number, member_id) IN (SELECT insurer_number, member_id FROM pg_temp.myna_remark)
                  WINDOW w AS (PARTITION BY insurer_number, member_id ORDER BY status_as_of)) x
            WHERE t.insurer_number = x.insurer_number AND t.member_id = x.member_id AND t.status_as_of = x.status_as_of
              AND t.status_changed <> x.changed
            """)
    }
}
