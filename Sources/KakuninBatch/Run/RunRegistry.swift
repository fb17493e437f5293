import Foundation
import KakuninCore
import KakuninStore

/// The run registry (SPEC.md 5, issue 4): one run per insurer, as-of date and job, and at most
/// one issuing run per insurer at a time, whatever its job or date.
///
/// Mutual exclusion is a session-level advisory lock on the insurer, held on a connection of
/// its own: it dies with the process (kill -9, power loss, lost connection), so a crashed run
/// never stays locked. A process proves it still holds the run at every heartbeat and at its
/// commit (the run row names it as the lease owner); once it cannot, it stops. The run row carries a lease renewed by a heartbeat, so `runs list` can tell a live
/// run from an abandoned one, and the next `kakunin run` takes an abandoned run over.
public final class RunRegistry {
    public enum Phase: String, Sendable {
        /// Deciding; nothing committed yet.
        case deciding
        /// Decisions, certificates and notices committed; files not yet published.
        case decided
        /// Files published; the run is complete.
        case completed

        /// The phase as operators read it in the console.
        public var japanese: String {
            switch self {
            case .deciding: return "判定中"
            case .decided: return "判定済み（ファイル未作成）"
            case .completed: return "完了"
            }
        }
    }

    public struct Run: Sendable {
        public let id: Int
        public let phase: Phase
        public let attempts: Int
        public let resumed: Bool
    }

    /// Raised when another live process holds the run.
    public struct Locked: Error {
        public let message: String
    }

    /// Raised when this process can no longer prove that it holds the run: its lock connection
    /// is gone (the lock went with it) or another process has taken the run over.
    public struct LostLock: Error, CustomStringConvertible {
        public let runID: Int
        public let cause: String
        public var description: String { "lost the lock of run \(runID): \(cause)" }
    }

    /// The advisory lock key of an insurer's issuing runs.
    static func lockKey(insurer: String) -> String { "kakunin.run:\(insurer)" }

    private let db: Connection
    public let owner: String
    private var lastBeat = Date()
    public static let leaseSeconds = 60

    public init(db: Connection, host: String) {
        self.db = db
        owner = "\(host):\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Raised when the run would go back in time (SPEC.md 2.5): nothing was written.
    public struct BackDated: Error {
        public let message: String
        public let fix: String
    }

    /// Raised when a lock the run needs is still held by another connection after `lockWait`.
    public struct LockTimeout: Error {
        public let message: String
    }

    /// How long every lock wait of the run may last (`--lock-wait`); set by `lock`.
    public private(set) var lockWait = 5.0
    /// The run this process took over, and the process that had it (`host:pid`).
    private var takenOver: (runID: String, asOf: String, job: String, owner: String)?

    /// Waits at most `lockWait` seconds for the insurer's run lock (a session lock on this
    /// registry's connection). A process killed a moment ago still holds it until the server
    /// notices its connection is gone.
    public func lock(insurer: String, lockWait: Double) throws {
        self.lockWait = lockWait
        let key = Self.lockKey(insurer: insurer)
        let deadline = Date().addingTimeInterval(lockWait)
        var locked = false
        while true {
            locked = try db.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", [key]).scalar == "t"
            if locked || Date() >= deadline { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard locked else {
            let r = try db.query(
                """
                SELECT run_id, as_of::text, job, lease_owner, lease_expires_at::text FROM run
                WHERE insurer_number = $1 AND status = 'running' ORDER BY lease_expires_at DESC NULLS LAST, run_id DESC LIMIT 1
                """, [insurer]
            ).firstRow
            let what =
                r.map {
                    "run \($0.shown(0)) (as of \($0.shown(1)), job \($0.shown(2))) is being run by \($0.optionalText(3) ?? "another process") (lease until \($0.optionalText(4) ?? "?"))"
                }
                ?? "another process holds its lock"
            throw Locked(
                message:
                    "insurer \(insurer) already has an issuing run in progress: \(what); at most one run per insurer issues at a time, whatever its job or date"
            )
        }
    }

    /// Registers or takes over the run; returns its completion time when it is already completed.
    /// One transaction under the insurer's run lock: a run that would go back in time is
    /// refused (`BackDated`) before anything is written, and every lock wait is bounded by
    /// `lockWait`.
    public func acquire(
        insurer: String, asOf: LocalDate, job: String, codeVersion: String,
        lockWait: Double = 5
    ) throws -> (Run, completedAt: String?) {
        try lock(insurer: insurer, lockWait: lockWait)
        return try boundedWaits(db, insurer: insurer, waitingFor: "the run's row") {
            // A completed run is history (the database refuses to change it): look first.
            let existing = try db.query(
                """
                SELECT run_id, status, phase, attempts, finished_at::text, coalesce(lease_owner, 'an unknown process') FROM run
                WHERE insurer_number = $1 AND as_of = $2 AND job = $3
                FOR UPDATE
                """, [insurer, asOf.description, job]
            ).firstRow
            if let e = existing, e.optionalText(1) == "completed" {
                return (Run(id: try e.int(0), phase: .completed, attempts: try e.int(3), resumed: false), e.optionalText(4))
            }
            // Deciding (again) must not go back in time; a run whose decisions are committed only
            // publishes them.
            if existing?.optionalText(2) != Phase.decided.rawValue {
                try requireForward(insurer: insurer, asOf: asOf, job: job)
            }
            guard let e = existing else {
                let id = try db.query(
                    """
                    INSERT INTO run (insurer_number, as_of, job, status, phase, lease_owner, lease_expires_at, host, code_version)
                    VALUES ($1, $2, $3, 'running', 'deciding', $4, now() + make_interval(secs => $5), $6, $7)
                    RETURNING run_id
                    """,
                    [
                        insurer, asOf.description, job, owner, String(Self.leaseSeconds),
                        owner.split(separator: ":").first.map(String.init),
                        codeVersion,
                    ]
                ).scalar!
                // The database registers the run with the parameter version in force on its
                // as-of date (sql/022: run_parameters_in_force), or refuses it.
                return (Run(id: Int(id)!, phase: .deciding, attempts: 1, resumed: false), nil)
            }
            // Nobody holds the lock, so the previous process is gone: take the run over.
            let runID = try e.int(0)
            takenOver = (String(runID), asOf.description, job, try e.text(5))
            let attempts = try e.int(3) + 1
            try db.execute(
                """
                UPDATE run SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3), attempts = $4,
                       status = 'running', code_version = $5
                WHERE run_id = $1
                """, [String(runID), owner, String(Self.leaseSeconds), String(attempts), codeVersion])
            return (
                Run(id: runID, phase: Phase(rawValue: e.optionalText(2) ?? "deciding") ?? .deciding, attempts: attempts, resumed: true), nil
            )
        }
    }

    /// The rule that runs move forward in time (SPEC.md 2.5), checked under the insurer's run
    /// lock: no completed or running issuing run of the insurer (any job) is for a later date
    /// (`run_later_than`, which the database's trigger on `run` applies too), and no certificate
    /// was handed over at the counter on a later date, starting after `asOf`: the run would not
    /// see it as covering its as-of date and would issue an overlapping one (its commit would
    /// find the clash every time it decided again).
    func requireForward(insurer: String, asOf: LocalDate, job: String) throws {
        let d = asOf.description
        if let later = try db.query("SELECT run_id, as_of::text, job, status FROM run_later_than($1, $2)", [insurer, d]).firstRow {
            let laterAsOf = try later.text(1)
            throw BackDated(
                message:
                    "a run of insurer \(insurer) as of \(d) (job \(job)) would go back in time: run \(later.shown(0)) (job \(later.shown(2)), \(later.shown(3))) is as of \(laterAsOf), and a run does not see the certificates of a later run as covering its date (it would issue overlapping ones); nothing was written",
                fix:
                    "run for \(laterAsOf) or later (a catch-up is decided by the next run on or after \(laterAsOf)); to see what \(d) would have decided, add --dry-run"
            )
        }
        if let c = try db.query(
            """
            SELECT member_id, certificate_number, issued_on::text, valid_from::text, count(*) OVER () FROM certificate
            WHERE insurer_number = $1 AND run_id IS NULL AND status = 'active' AND issued_on > $2 AND valid_from > $2
            ORDER BY issued_on DESC, certificate_number DESC LIMIT 1
            """, [insurer, d]
        ).firstRow {
            let issued = try c.text(2)
            throw BackDated(
                message:
                    "a run of insurer \(insurer) as of \(d) (job \(job)) would go back in time: \(c.shown(4)) certificate(s) were handed over at the counter on a later date, starting after \(d) (latest: certificate \(c.shown(1)) of member \(c.shown(0)), issued \(issued), valid from \(c.shown(3))); the run would issue overlapping ones; nothing was written",
                fix: "run for \(issued) or later; to see what \(d) would have decided, add --dry-run")
        }
    }

    /// Runs `body` in a transaction whose lock waits end after `lockWait` seconds: a lock still
    /// held by another connection then (typically the process of an abandoned run, still alive)
    /// raises `LockTimeout` naming who holds it, instead of waiting silently.
    func boundedWaits<T>(_ connection: Connection, insurer: String, waitingFor what: String, _ body: () throws -> T) throws -> T {
        do {
            return try connection.transaction {
                try boundLockWaits(connection, local: true)
                return try body()
            }
        } catch let e as DatabaseError where e.sqlState == "55P03" {
            throw try lockTimeout(insurer: insurer, waitingFor: what)
        }
    }

    /// Sets `lock_timeout` to `lockWait` on `connection`, for its transaction (`local`) or its
    /// session; 0 seconds is 1 ms (PostgreSQL's 0 would mean no limit).
    func boundLockWaits(_ connection: Connection, local: Bool) throws {
        let ms = max(1, Int((lockWait * 1000).rounded()))
        _ = try connection.query("SELECT set_config('lock_timeout', $1, $2)", ["\(ms)ms", local ? "true" : "false"])
    }

    /// The error for a lock wait that ran out: the other connections holding row locks on the
    /// tables a run's start locks (insurer, run, certificate counter), and the abandoned run.
    /// Asked on the registry's connection (idle: the one that timed out may be in an aborted
    /// transaction).
    func lockTimeout(insurer: String, waitingFor what: String) throws -> LockTimeout {
        let holders = try db.query(
            """
            SELECT DISTINCT a.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(host(a.client_addr), 'local socket'),
                   to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS'), a.usename
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
              AND l.relation IN ('insurer'::regclass, 'run'::regclass, 'certificate_counter'::regclass)
              AND l.mode IN ('RowShareLock', 'RowExclusiveLock') AND a.datname = current_database()
            ORDER BY 4 LIMIT 5
            """
        ).typedRows.map {
            "connection \($0.shown(0)) (\($0.shown(1)), user \($0.optionalText(4) ?? "?"), from \($0.shown(2)), in a transaction since \($0.optionalText(3) ?? "?"))"
        }
        let abandoned =
            try takenOver.map { [$0.runID, $0.asOf, $0.job, $0.owner] }
            ?? db.query(
                """
                SELECT run_id, as_of::text, job, coalesce(lease_owner, 'an unknown process') FROM run
                WHERE insurer_number = $1 AND status = 'running' AND lease_owner IS DISTINCT FROM $2 ORDER BY run_id DESC LIMIT 1
                """, [insurer, owner]
            ).rows.first
        var message =
            "waited \(lockWait) s (--lock-wait) for a lock on \(what) of insurer \(insurer), still held by "
            + (holders.isEmpty ? "another connection" : holders.joined(separator: "; "))
        if let r = abandoned {
            message +=
                "; abandoned run \(r[0] ?? "?") (as of \(r[1] ?? "?"), job \(r[2] ?? "?")) was last run by \(r[3] ?? "an unknown process"), whose process may still be alive"
        }
        return LockTimeout(message: message + "; nothing was written")
    }
    /// The completed run of the insurer for this date and job, if there is one.
    public func completedRun(insurer: String, asOf: LocalDate, job: String) throws -> Run? {
        try db.query(
            """
            SELECT run_id, attempts FROM run WHERE insurer_number = $1 AND as_of = $2 AND job = $3 AND status = 'completed'
            """, [insurer, asOf.description, job]
        ).firstRow.map { Run(id: try $0.int(0), phase: .completed, attempts: try $0.int(1), resumed: false) }
    }

    /// Renews the lease at most every second; cheap to call from a hot loop. Each renewal proves
    /// the lock is still held: the lock connection answers (a session lock lives as long as its
    /// connection) and the run row still names this process. Otherwise throws `LostLock`.
    public func heartbeat(runID: Int, force: Bool = false) throws {
        guard force || Date().timeIntervalSince(lastBeat) >= 1 else { return }
        lastBeat = Date()
        let renewed: Int
        do {
            renewed = try db.query(
                """
                UPDATE run SET lease_expires_at = now() + make_interval(secs => $2) WHERE run_id = $1 AND lease_owner = $3
                """, [String(runID), String(Self.leaseSeconds), owner]
            ).affectedRows
        } catch let e as DatabaseError {
            throw LostLock(runID: runID, cause: "the connection holding the lock failed (\(e.message))")
        }
        guard renewed == 1 else { throw LostLock(runID: runID, cause: "another process has taken the run over") }
    }

    /// The first of `count` certificate numbers only this run may use. An earlier attempt's block
    /// (recorded on the run row; that attempt committed nothing) is used again when it is big
    /// enough, so a rerun after a crash numbers exactly as the first attempt would have;
    /// otherwise a new block is taken from the insurer's counter. One short transaction: a
    /// counter issue waits for it at most a moment.
    public func reserveNumbers(runID: Int, insurer: String, count: Int) throws -> (from: Int64, to: Int64) {
        try boundedWaits(db, insurer: insurer, waitingFor: "the certificate counter") {
            let held = try db.query(
                "SELECT numbers_from, numbers_to FROM run WHERE run_id = $1 AND lease_owner = $2",
                [String(runID), owner]
            ).rows
            guard let h = held.first else { throw LostLock(runID: runID, cause: "another process has taken the run over") }
            if let f = h[0].flatMap({ Int64($0) }), let t = h[1].flatMap({ Int64($0) }), t - f >= Int64(count) { return (f, t) }
            let size = Int64(max(count, 1))
            // The database takes the block and records it on the run (sql/020): no role changes
            // the counter directly.
            let from = Int64(try db.query("SELECT certificate_numbers_reserve($1, $2)", [String(runID), String(size)]).scalar!)!
            return (from, from + size)
        }
    }

    /// SQL: certificate `alias` has a number from the block the run `run` (a parameter or a
    /// number) reserved. A run's certificates all do (the block is sized from the members it
    /// reads), and no other run's or counter's do: added to `run_id = …`, it turns a scan of
    /// every certificate ever issued into a range of the primary key (sql/018). A run without a
    /// block (decided before sql/011) covers every number.
    public static func inBlock(_ alias: String, run: String) -> String {
        """
        \(alias).certificate_number >= (SELECT coalesce(numbers_from, 0) FROM run WHERE run_id = \(run)) \
        AND \(alias).certificate_number < (SELECT coalesce(numbers_to, 9223372036854775807) FROM run WHERE run_id = \(run))
        """
    }

    /// In the run's commit transaction (so a crash cannot leave the block reserved): the unused
    /// tail of the block goes back to the counter, unless a number has been taken since (then it
    /// stays unused; numbers are never reused).
    public static func returnUnusedNumbers(_ db: Connection, runID: Int, block: (from: Int64, to: Int64), next: Int64) throws {
        guard next < block.to else { return }
        _ = try db.query("SELECT certificate_numbers_return($1, $2)", [String(runID), String(next)])
    }

    /// Marks the run completed, if this process still holds it.
    public func complete(runID: Int, counts: String) throws {
        try heartbeat(runID: runID, force: true)
        let n = try db.query(
            """
            UPDATE run SET status = 'completed', phase = 'completed', finished_at = now(), lease_owner = NULL,
                   lease_expires_at = NULL, counts = coalesce(counts, '{}') || $2::jsonb WHERE run_id = $1 AND lease_owner = $3
            """, [String(runID), counts, owner]
        ).affectedRows
        guard n == 1 else { throw LostLock(runID: runID, cause: "another process has taken the run over") }
    }
}

/// The run registry as operators and auditors read it (`kakunin runs list`, the console).
public struct RunListing: Sendable {
    public let runID: Int
    public let insurer: String
    public let asOf: String
    public let job: String
    /// running, completed or failed; `abandoned` for a running run whose lease has expired.
    public let status: String
    public let phase: String?
    public let attempts: Int
    /// Japan time (JST), `YYYY-MM-DD HH:MM:SS`.
    public let started: String
    public let finished: String?
    public let seconds: Double?
    public let decisions: String?
    public let certificates: String?
    public let held: String?
    public let waiting: String?
    /// Whether every reconciliation check passed (nil before the run completed).
    public let checksPass: Bool?
    /// The SHA-256 of the parameters the run used.
    public let parametersSHA256: String?

    public var abandoned: Bool { status == "abandoned" }

    /// Newest first; every filter optional.
    public static func recent(
        _ db: Connection, insurer: String? = nil, from: String? = nil, to: String? = nil,
        limit: Int, offset: Int = 0
    ) throws -> [RunListing] {
        try listing(
            db,
            """
            FROM run WHERE ($1::text IS NULL OR insurer_number = $1) AND ($2::date IS NULL OR as_of >= $2::date)
              AND ($3::date IS NULL OR as_of <= $3::date)
            ORDER BY run_id DESC LIMIT $4 OFFSET $5
            """, [insurer, from, to, String(limit), String(offset)])
    }

    /// The latest run of each insurer (latest as-of date, then latest run), by insurer.
    public static func latestPerInsurer(_ db: Connection) throws -> [RunListing] {
        try listing(
            db,
            "FROM (SELECT DISTINCT ON (insurer_number) * FROM run ORDER BY insurer_number, as_of DESC, run_id DESC) run ORDER BY insurer_number",
            [])
    }

    private static func listing(_ db: Connection, _ from: String, _ params: [String?]) throws -> [RunListing] {
        try db.query(
            """
            SELECT run_id, insurer_number, as_of::text, job,
                   CASE WHEN status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now()) THEN 'abandoned' ELSE status END,
                   phase, attempts, to_char(started_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'), to_char(finished_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'),
                   extract(epoch FROM finished_at - started_at)::text,
                   counts->>'decisions', counts->>'certificates', counts->>'held', counts->>'waiting', counts->>'checks_pass', params_sha256
            \(from)
            """, params
        ).typedRows.map {
            RunListing(
                runID: try $0.int(0), insurer: try $0.text(1), asOf: try $0.text(2), job: try $0.text(3), status: try $0.text(4),
                phase: $0.optionalText(5), attempts: try $0.optionalInt(6) ?? 1, started: try $0.text(7), finished: $0.optionalText(8),
                seconds: try $0.optionalDouble(9), decisions: $0.optionalText(10), certificates: $0.optionalText(11),
                held: $0.optionalText(12), waiting: $0.optionalText(13), checksPass: $0.optionalText(14).map { $0 == "true" },
                parametersSHA256: $0.optionalText(15))
        }
    }
}

/// What the operations page shows of a run beyond its listing: held members by code, and the
/// documents kept out of the vendor files (the console holds no SQL).
public enum RunWaiting {
    /// Held decisions of the run by reason code, among `codes`, most first (`only` narrows to one code).
    public static func heldByCode(_ db: Connection, run: RunListing, codes: [String], only: String?) throws -> [(code: String, count: Int)]
    {
        try db.query(
            """
            SELECT reason, count(*) FROM decision, unnest(reasons) AS reason
            WHERE run_id = $1 AND as_of = $2 AND outcome = 'held' AND ($3::text IS NULL OR reason = $3) AND reason = ANY ($4::text[])
            GROUP BY 1 ORDER BY 2 DESC, 1
            """, [String(run.runID), run.asOf, only, "{" + codes.sorted().joined(separator: ",") + "}"]
        ).typedRows.map { (try $0.text(0), try $0.int(1)) }
    }

    /// One page of the members held for `code`, by member id.
    public static func heldMembers(_ db: Connection, run: RunListing, code: String, limit: Int, offset: Int) throws -> [String] {
        try db.query(
            """
            SELECT member_id FROM decision WHERE run_id = $1 AND as_of = $2 AND outcome = 'held' AND $3 = ANY (reasons)
            ORDER BY member_id LIMIT $4 OFFSET $5
            """, [String(run.runID), run.asOf, code, String(limit), String(offset)]
        ).typedRows.map { try $0.text(0) }
    }

    /// The first 50 documents of the run kept out of the vendor files: member, document
    /// (`certificate` or a notice kind), its number (certificates), and why.
    public static func documents(
        _ db: Connection, run: RunListing
    ) throws -> [(member: String, document: String, number: String?, problem: String)] {
        try db.query(
            """
            SELECT member_id, 'certificate', certificate_number::text, mail_exception FROM certificate
            WHERE insurer_number = $1 AND run_id = $2 AND \(RunRegistry.inBlock("certificate", run: "$2"))
              AND mail_exception IS NOT NULL AND status = 'active'
            UNION ALL
            SELECT member_id, kind, NULL, mail_exception FROM notice WHERE insurer_number = $1 AND run_id = $2 AND mail_exception IS NOT NULL
            ORDER BY 1, 2 LIMIT 50
            """, [run.insurer, String(run.runID)]
        ).typedRows.map { (try $0.text(0), try $0.text(1), $0.optionalText(2), $0.optionalText(3) ?? "") }
    }
}
