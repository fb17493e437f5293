import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

extension MailFiles {
    /// Rebuilds the files of a run whose decisions were committed by an earlier attempt, from
    /// the stored certificates, notices and held decisions, in the stream's order (envelope,
    /// member) and through the same record writers, so the bytes are the same. The members are
    /// taken as the run saw them: changes an import committed after the run's snapshot (the
    /// run row keeps it) are undone from `member_history`, and members created since are left out.
    static func rebuild(db: Connection, insurer: String, runID: Int, asOf: LocalDate, into staging: MailStaging) throws {
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? db.execute("ROLLBACK") }
        try db.execute("SET LOCAL work_mem = '256MB'")
        // A run decided before the snapshot was kept (sql/012) is rebuilt from the members as
        // they are now, as before.
        let snapshot = try db.query("SELECT facts_snapshot::text FROM run WHERE run_id = $1", [String(runID)]).scalar
        let lit = snapshot.map { "'\($0)'::pg_snapshot" } ?? "pg_current_snapshot()"  // digits and colons, from the database
        let seen = """
            seen AS (
                SELECT (jsonb_populate_record(m0, coalesce(l.old, '{}'::jsonb))).*
                FROM member m0
                LEFT JOIN (SELECT h.member_id, jsonb_object_agg(e.key, e.value ORDER BY h.history_id DESC) AS old
                           FROM member_history h CROSS JOIN LATERAL jsonb_each(h.old_values) e
                           WHERE h.insurer_number = '\(insurer)' AND h.xact IS NOT NULL AND NOT pg_visible_in_snapshot(h.xact, \(lit))
                           GROUP BY h.member_id) l USING (member_id)
                WHERE m0.insurer_number = '\(insurer)' AND (m0.created_xact IS NULL OR pg_visible_in_snapshot(m0.created_xact, \(lit)))
            )
            """
        let person = "m.member_id, m.scheme, m.birth_date, \(MemberFactsQuery.mailColumns(staging.delivery))"
        let columns = PersonColumns(memberID: 0, scheme: 1, birthDate: 2, mail: 3)
        let first = 3 + MemberFactsQuery.mailColumnCount
        var row = CopyRow()
        func date(_ r: CopyRow, _ i: Int) throws -> LocalDate {
            guard let d = try r.date(i) else { throw OperatorError(.internalError, "a stored mailing date is missing") }
            return d
        }
        // One stream of every document and held member, like the run's (a member has one).
        try db.copyOut(
            """
            COPY (WITH \(seen), \(MemberFactsQuery.households(insurer: "'\(insurer)'", source: "seen", delivery: staging.delivery))
            SELECT \(person), x.* FROM (
                SELECT c.member_id, 'c' AS doc, c.certificate_number, c.kind, c.valid_from, c.valid_to, c.issued_on,
                       array_to_string(c.reasons, ';') AS reasons, c.replaces_certificate_number
                FROM certificate c WHERE c.insurer_number = '\(insurer)' AND c.run_id = \(runID) AND \(RunRegistry.inBlock("c", run: String(runID)))
                UNION ALL
                SELECT n.member_id, 'n', NULL, n.kind, n.valid_from, n.valid_to, n.sent_on, array_to_string(n.reasons, ';'), NULL
                FROM notice n WHERE n.insurer_number = '\(insurer)' AND n.run_id = \(runID)
                UNION ALL
                SELECT d.member_id, 'h', NULL, d.outcome, NULL, NULL, NULL, array_to_string(d.reasons, ';'), NULL
                FROM decision d WHERE d.run_id = \(runID) AND d.as_of = '\(asOf)' AND d.outcome = 'held'
            ) x JOIN hh m USING (member_id)
            ORDER BY 4, 1) TO STDOUT
            """
        ) { chunk in
            row.load(chunk)
            let r = row
            let doc = first + 1
            let reasons = r.withField(doc + 6) { Array($0) }
            switch r.string(doc) {
            case "c":
                _ = try staging.certificate(
                    r, columns, number: r.int64(doc + 1)!, kind: r.string(doc + 2)!, validFrom: date(r, doc + 3),
                    validTo: date(r, doc + 4), issuedOn: date(r, doc + 5), reasons: reasons, replaces: r.int64(doc + 7))
            case "n":
                let kind: Outcome = r.string(doc + 2) == Outcome.eligibilityNotice.rawValue ? .eligibilityNotice : .applyNotice
                _ = try staging.notice(
                    kind, r, columns, sentOn: date(r, doc + 5), reasons: reasons,
                    validFrom: try r.date(doc + 3), validTo: try r.date(doc + 4))
            default:
                try staging.exception(r, columns, outcome: r.string(doc + 2)!, reasons: reasons)
            }
        }
    }
}
