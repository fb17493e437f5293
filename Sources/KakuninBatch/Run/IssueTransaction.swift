import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The rows a run adds to tables other than `decision`, spooled while the decisions stream.
struct RunSpools {
    let certificates: CopySpool
    let notices: CopySpool
    let changes: CopySpool
    /// The decisions and notices once the stream has left member order (StreamWriter): sent
    /// in runs sorted by member. Certificates keep their number order (their primary key), which is
    /// the stream's: sorted by member they would only move the random inserts from
    /// certificate_by_member to certificate_pkey (measured: the same cost).
    let decisionsInOrder = MemberOrderRuns()
    let noticesInOrder = MemberOrderRuns()

    init(directory: URL) throws {
        certificates = try CopySpool(directory: directory, label: "certificates")
        notices = try CopySpool(directory: directory, label: "notices")
        changes = try CopySpool(directory: directory, label: "application and certificate changes")
    }

    static let certificatesCopy = """
        COPY certificate (certificate_number, member_id, kind, reasons, valid_from, valid_to, replaces_certificate_number,
                          application_id, special_consideration, mail_exception, printed_snapshot, run_id, insurer_number, issued_on) FROM STDIN
        """
    static let noticesCopy =
        "COPY notice (member_id, kind, reasons, details, mail_exception, valid_from, valid_to, run_id, insurer_number, sent_on) FROM STDIN"
}

/// Certificates were handed over at the counter, while the run decided, to members the run
/// was about to issue to: it decides again from a snapshot that includes them.
struct CounterClash: Error {
    let members: [String]
}

/// The run's issue step: once the stream has ended, everything the run decided is issued,
/// recorded and committed in the writer's one transaction (phase `decided`), or not at all.
struct IssueTransaction {
    let writer: Connection
    let registry: RunRegistry?
    let runID: Int
    let insurer: String
    let log: RunLog

    /// What the stream produced, for the commit.
    struct Streamed {
        let membersRead: Int
        /// Certificates issued and the digest of their lines (StreamMailer).
        let issued: (count: Int, sha256: String)?
        let factsSnapshot: String
        let numbers: CertificateNumbers
        let changes: CopySpool
        let switches: Int
        let sentDuringStream: [Int]
        /// Decisions and notices held by StreamWriter to be sent in member order, and in how
        /// many sorted runs.
        var heldForMemberOrder = (decisions: 0, notices: 0)
        var sortedRuns = (decisions: 0, notices: 0)
        /// How the run was made, full or incremental, and what it carried forward (CarryForward.counts).
        let carry: [String: Any]
    }

    func commit(_ s: Streamed, parameters: LoadedParameters, codeVersion: String, host: String) throws {
        let id = String(runID)
        // Computed as the certificates streamed (the same text the database would aggregate:
        // concat_ws(',', certificate_number, member_id, kind, valid_from, valid_to), lines joined
        // by newlines in number order); an empty run has the empty digest "".
        let digest: [String?] = [String(s.issued?.count ?? 0), s.issued?.sha256 ?? ""]
        // Sealed, this event is followed in the log by one entry per certificate issued.
        try AuditLog.append(
            writer, "run_decided", insurer: insurer, run: runID,
            details: [
                "members_read": s.membersRead, "certificates_issued": Int(digest[0]!)!, "certificates_sha256": digest[1]!,
                "parameters_sha256": parameters.sha256, "code_version": codeVersion, "host": host,
                "full_run": s.carry["full_run"] ?? true, "carried_forward": s.carry["carried_forward"] ?? 0,
            ])
        CrashPoint.hit("before-commit")
        TestPause.hit("before-commit")
        // A certificate handed over at the counter since the snapshot, for a member this run
        // issues to, would make two. From here to the commit the run holds the insurer's issue
        // lock (a counter issue holds it for its whole short transaction): the changes to
        // existing rows below and the check cannot interleave with a counter issue, and the
        // counter waits at most for this last part of the run.
        try writer.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [IssueLock.key(insurer)])
        if s.changes.rows > 0 { try applyChanges(s.changes, id: id) }
        try refuseCounterClashes(id: id)
        // The numbers the run did not use go back with its commit (the issue lock is held: no
        // counter issue takes one meanwhile).
        try RunRegistry.returnUnusedNumbers(writer, runID: runID, block: s.numbers.block, next: s.numbers.next)
        try fencedCommit(id: id, membersRead: s.membersRead, factsSnapshot: s.factsSnapshot, carry: s.carry)
        CrashPoint.hit("committed")
        log.event(
            "issue", "committed decisions, \(digest[0]!) certificates, notices and audit events",
            [
                "sent_during_stream": [
                    "rounds": s.switches, "certificates_bytes": s.sentDuringStream.first ?? 0,
                    "notices_bytes": s.sentDuringStream.last ?? 0,
                ],
                "held_for_member_order": ["decisions": s.heldForMemberOrder.decisions, "notices": s.heldForMemberOrder.notices],
                "sorted_runs": ["decisions": s.sortedRuns.decisions, "notices": s.sortedRuns.notices],
            ])
    }

    /// The applications the run fulfils and the certificates it replaces.
    private func applyChanges(_ changes: CopySpool, id: String) throws {
        try writer.execute(
            """
            CREATE TEMP TABLE run_change (certificate_number bigint, application_id bigint, replaces bigint, records_on bigint)
            ON COMMIT DROP
            """)
        try writer.copyIn("COPY pg_temp.run_change FROM STDIN") { try changes.send(to: $0) }
        // Temporary tables have no statistics until analysed; without them the joins
        // below could be planned as nested loops over every pair of rows.
        try writer.execute("ANALYZE pg_temp.run_change")
        // Applied by the database (sql/020), which checks that each change names a certificate
        // of this run and finds its row as the snapshot saw it; one changed meanwhile (a
        // certificate voided or an application fulfilled at the counter) makes the run decide
        // again from a new snapshot, like a counter certificate that overlaps.
        do {
            _ = try writer.query("SELECT run_apply_changes($1)", [id])
        } catch let e as DatabaseError where e.sqlState == "40001" {
            try writer.execute("ROLLBACK")
            throw CounterClash(members: [])
        }
    }

    /// A counter certificate issued since the snapshot that overlaps one of the run's.
    private func refuseCounterClashes(id: String) throws {
        // No ANALYZE of the permanent tables here (its cost grows with the members; see the
        // Benchmarks article): autovacuum analyses what the run added.
        let clashes = try writer.query(
            """
            SELECT r.member_id, k.certificate_number FROM certificate k
            JOIN certificate r ON r.insurer_number = k.insurer_number AND r.member_id = k.member_id AND r.run_id = $2
            WHERE k.insurer_number = $1 AND k.run_id IS NULL AND k.status = 'active'
              AND k.valid_from <= r.valid_to AND r.valid_from <= k.valid_to
            ORDER BY 1
            """, [insurer, id]
        ).rows
        if !clashes.isEmpty {
            try writer.execute("ROLLBACK")
            throw CounterClash(members: clashes.map { $0[0]! })
        }
    }

    /// The commit is fenced: it happens only while the run row still names this process.
    /// The snapshot is kept with the run: a rebuild of its files takes the members as it saw
    /// them (MailFiles.rebuild). A process that lost its lock and was taken over finds 0 rows
    /// and rolls back.
    private func fencedCommit(id: String, membersRead: Int, factsSnapshot: String, carry: [String: Any]) throws {
        try registry?.heartbeat(runID: runID, force: true)
        let carryJSON = String(decoding: try JSONSerialization.data(withJSONObject: carry, options: [.sortedKeys]), as: UTF8.self)
        let fenced = try writer.query(
            """
            UPDATE run SET phase = 'decided', counts = jsonb_build_object('members_read', $2::int) || $5::jsonb, facts_snapshot = $4::pg_snapshot
            WHERE run_id = $1 AND lease_owner = $3 AND phase = 'deciding'
            """, [id, String(membersRead), registry?.owner, factsSnapshot, carryJSON]
        ).affectedRows
        guard fenced == 1 else {
            try writer.execute("ROLLBACK")
            throw RunRegistry.LostLock(runID: runID, cause: "another process has taken the run over")
        }
        try writer.execute("COMMIT")
    }
}
