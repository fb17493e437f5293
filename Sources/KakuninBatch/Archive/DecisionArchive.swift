import Crypto
import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// `kakunin archive --before D` (issue 34 item 4): the decisions' partitions of the months before
/// D, when no decision in force needs them, each to a file `decisions-YYYY-MM.csv` (CSV with a
/// header, every column of the decision row, in as-of, run and member order), then a
/// `decisions_archived` entry in the audit log (file, rows, sha256, runs), sealed, and only then
/// the partition dropped (sql/039 decision_partition_drop refuses without that entry). Each step
/// can be repeated: a rerun after a crash writes the same bytes again, reuses an entry that
/// already names them, and drops what is left.
public enum DecisionArchive {
    /// The columns of an archive file, in order (its header line).
    public static let columns = [
        "run_id", "insurer_number", "member_id", "as_of", "scheme", "outcome", "reasons", "s_date", "valid_from", "valid_to",
        "certificate_number", "next_review_on", "facts_digest", "facts",
    ]

    /// One month archived (or found archived before).
    public struct Month: Sendable {
        public let partition: String
        public let file: URL
        public let rows: Int
        public let sha256: String
        public let runs: [Int]
        /// The log already held the entry (a rerun after a crash between the entry and the drop).
        public let entryExisted: Bool
    }

    /// What a call did: the months archived now, and those archived by an earlier call.
    public struct Outcome: Sendable {
        public var archived: [Month] = []
        public var earlier: [String] = []
    }

    /// Archives every month before `before`; refuses, naming the cause and the fix, when `before`
    /// reaches into months still read by decisions in force or when there is nothing to archive.
    public static func archive(_ db: Connection, before: LocalDate, output: URL) throws -> Outcome {
        try refuseInsideWindow(db, before: before)
        var outcome = Outcome()
        let months = try db.query(
            "SELECT partition_name, month::text, next_month::text FROM decision_partitions() WHERE next_month <= $1 ORDER BY month",
            [before.description]
        ).rows
        outcome.earlier = try earlierArchives(db, before: before)
        guard !months.isEmpty || !outcome.earlier.isEmpty else {
            throw OperatorError(
                .notFound, "no decisions of a month before \(before) are in the database, and none was archived",
                fix: "give a later --before date (the oldest month held: `kakunin archive --list`)")
        }
        if !months.isEmpty { try OwnerOnlyFile.makeDirectory(output) }
        for m in months {
            outcome.archived.append(
                try archiveMonth(
                    db, partition: m[0]!, from: LocalDate(stored: m[1]!)!, to: LocalDate(stored: m[2]!)!, output: output))
        }
        return outcome
    }

    /// The months held in the database (partition, first day, rows) and the first month that
    /// decisions in force still read (nil: no run has decided anything).
    public static func held(_ db: Connection) throws -> (months: [(String, LocalDate, Int)], neededFrom: LocalDate?) {
        let rows = try db.query(
            """
            SELECT p.partition_name, p.month::text, (SELECT count(*) FROM decision d WHERE d.as_of >= p.month AND d.as_of < p.next_month)
            FROM decision_partitions() p ORDER BY p.month
            """
        ).rows
        let needed = try db.query("SELECT decision_archive_needed_from()::text").scalar.flatMap { LocalDate(stored: $0) }
        return (rows.map { ($0[0]!, LocalDate(stored: $0[1]!)!, Int($0[2]!)!) }, needed)
    }

    /// Refuses to read a run whose decisions in force lie in a month archived (its base run's or
    /// its own partition dropped): they are in the archive file now, not in the database.
    public static func refuseIfArchived(_ db: Connection, runID: Int) throws {
        guard
            let row = try db.query(
                """
                SELECT m.month::text, (SELECT e.details->>'file' FROM audit_event e
                                       WHERE e.action = 'decision_partition_dropped' AND e.details->>'partition' = m.name
                                       ORDER BY e.event_id DESC LIMIT 1)
                FROM run r JOIN run b ON b.run_id = coalesce((r.counts->>'base_run_id')::bigint, r.run_id),
                     LATERAL (VALUES (date_trunc('month', b.as_of)::date), (date_trunc('month', r.as_of)::date)) v (month),
                     LATERAL (SELECT v.month, format('decision_y%sm%s', to_char(v.month, 'YYYY'), to_char(v.month, 'MM')) AS name) m
                WHERE r.run_id = $1 AND NOT EXISTS (SELECT 1 FROM decision_partitions() p WHERE p.month = m.month)
                ORDER BY 1 LIMIT 1
                """, [String(runID)]
            ).rows.first
        else { return }
        throw OperatorError(
            .notFound,
            "the decisions of run \(runID) were archived with the month of \(row[0]!.prefix(7)) (file \(row[1] ?? "unknown")); the database no longer holds them",
            fix: "read them in the archive file; kakunin audit verify-archive checks it against the log")
    }

    /// D must not reach into the months decisions in force still read (the window).
    private static func refuseInsideWindow(_ db: Connection, before: LocalDate) throws {
        let row = try db.query(
            """
            SELECT decision_archive_needed_from()::text,
                   (SELECT string_agg(DISTINCT r.insurer_number || ' (base run ' || r.run_id || ', ' || r.as_of || ')', ', ')
                    FROM run r WHERE date_trunc('month', r.as_of) = decision_archive_needed_from() AND r.counts->>'base_run_id' = r.run_id::text)
            """
        ).rows[0]
        guard let neededText = row[0], let needed = LocalDate(stored: neededText) else {
            throw OperatorError(
                .notFound, "no run has decided anything yet: there is nothing to archive",
                fix: "archive after the nightly runs have made decisions of earlier months")
        }
        guard before <= needed else {
            throw OperatorError(
                .usage,
                "\(before) is inside the window of decisions in force: decisions in force are read from \(needed) on (the month of the oldest base run an insurer's two latest runs read from\(row[1].map { ": \($0)" } ?? ""))",
                fix: "give --before \(needed) or earlier; the window moves on with the first full run of each month (a base run)")
        }
    }

    /// The partitions before `before` archived and dropped by earlier calls.
    private static func earlierArchives(_ db: Connection, before: LocalDate) throws -> [String] {
        try db.query(
            """
            SELECT DISTINCT e.details->>'partition' FROM audit_event e
            WHERE e.action = 'decision_partition_dropped'
              AND NOT EXISTS (SELECT 1 FROM decision_partitions() p WHERE p.partition_name = e.details->>'partition')
              AND e.details->>'partition' < 'decision_y' || to_char($1::date, 'YYYY') || 'm' || to_char($1::date, 'MM')
            ORDER BY 1
            """, [before.description]
        ).rows.map { $0[0]! }
    }

    /// One month: the file, the entry (unless the log holds one for these bytes), the seal, the drop.
    private static func archiveMonth(_ db: Connection, partition: String, from: LocalDate, to: LocalDate, output: URL) throws -> Month {
        let file = output.appendingPathComponent(String(format: "decisions-%04d-%02d.csv", from.year, from.month))
        let (rows, sha) = try writeFile(db, file: file, from: from, to: to)
        CrashPoint.hit("archive:file")
        let runs = try db.query(
            "SELECT DISTINCT run_id FROM decision WHERE as_of >= $1 AND as_of < $2 ORDER BY 1", [from.description, to.description]
        ).rows.map { Int($0[0]!)! }
        let existed =
            try db.query(
                """
                SELECT 1 FROM audit_event WHERE action = 'decisions_archived' AND details->>'partition' = $1
                  AND details->>'sha256' = $2 AND details->>'rows' = $3
                """, [partition, sha, String(rows)]
            ).rows.first != nil
        if !existed {
            try AuditLog.append(
                db, "decisions_archived",
                details: [
                    "partition": partition, "month": String(from.description.prefix(7)), "file": file.lastPathComponent, "rows": rows,
                    "sha256": sha, "runs": runs, "format": "csv-header/v1",
                ])
        }
        CrashPoint.hit("archive:logged")
        try AuditLog.seal(db)
        try drop(db, month: from)
        return Month(partition: partition, file: file, rows: rows, sha256: sha, runs: runs, entryExisted: existed)
    }

    /// Drops the month's partition (sql/039 decision_partition_drop). Dropping a partition locks
    /// `decision` itself: a nightly run in progress holds it, and readers would queue behind a
    /// waiting drop, so it waits a few seconds at most and asks to try again later.
    private static func drop(_ db: Connection, month: LocalDate) throws {
        try db.execute("SET lock_timeout = '5s'")
        defer { try? db.execute("RESET lock_timeout") }
        do {
            _ = try db.query("SELECT decision_partition_drop($1)", [month.description])
        } catch let e as DatabaseError where e.sqlState == "55P03" {
            throw OperatorError(
                .runLocked,
                "the decisions are in use (a nightly run in progress?): the month of \(month) is archived and logged but not dropped yet",
                fix: "run kakunin archive again when the night's run has finished; it drops what is left")
        }
    }

    /// The month's rows as CSV (COPY's csv form with a header), published owner-only and
    /// atomically; returns the rows and the file's sha256.
    private static func writeFile(_ db: Connection, file: URL, from: LocalDate, to: LocalDate) throws -> (Int, String) {
        var hash = SHA256()
        var chunks = 0
        // COPY takes no parameters: the bounds are dates kakunin made (LocalDate), nothing else.
        let sql = """
            COPY (SELECT \(columns.joined(separator: ", ")) FROM decision
                  WHERE as_of >= '\(from)' AND as_of < '\(to)' ORDER BY as_of, run_id, member_id) TO STDOUT (FORMAT csv, HEADER)
            """
        try OwnerOnlyFile.publish(file) { w in
            try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { try? db.execute("COMMIT") }
            _ = try db.copyOut(sql) { chunk in
                hash.update(bufferPointer: chunk)
                chunks += 1
                try w.write(chunk)
            }
        }
        return (max(chunks - 1, 0), hash.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
