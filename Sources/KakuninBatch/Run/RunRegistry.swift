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

    /// Registers or takes over the run; returns nil when it is already completed.
    /// `lockWait`: how long to wait for the lock before refusing. A process killed a moment ago
    /// still holds it until the server notices its connection is gone.
    public func acquire(insurer: String, asOf: LocalDate, job: String, codeVersion: String,
                        lockWait: Double = 5) throws -> (Run, completedAt: String?) {
        let key = Self.lockKey(insurer: insurer)
        let deadline = Date().addingTimeInterval(lockWait)
        var locked = false
        while true {
            locked = try db.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", [key]).scalar == "t"
            if locked || Date() >= deadline { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard locked else {
            let r = try db.query("""
                SELECT run_id, as_of::text, job, lease_owner, lease_expires_at::text FROM run
                WHERE insurer_number = $1 AND status = 'running' ORDER BY lease_expires_at DESC NULLS LAST, run_id DESC LIMIT 1
                """, [insurer]).rows.first
            let what = r.map { "run \($0[0]!) (as of \($0[1]!), job \($0[2]!)) is being run by \($0[3] ?? "another process") (lease until \($0[4] ?? "?"))" }
                ?? "another process holds its lock"
            throw Locked(message: "insurer \(insurer) already has an issuing run in progress: \(what); at most one run per insurer issues at a time, whatever its job or date")
        }
        // A completed run is history (the database refuses to change it): look first.
        let existing = try db.query("""
            SELECT run_id, status, phase, attempts, finished_at::text FROM run WHERE insurer_number = $1 AND as_of = $2 AND job = $3
            """, [insurer, asOf.description, job]).rows.first
        if let e = existing, e[1] == "completed" {
            return (Run(id: Int(e[0]!)!, phase: .completed, attempts: Int(e[3]!)!, resumed: false), e[4])
        }
        // The database registers the run with the parameter version in force on its as-of date
        // (sql/022: run_parameters_in_force), or refuses it.
        let row = try db.query("""
            INSERT INTO run (insurer_number, as_of, job, status, phase, lease_owner, lease_expires_at, host, code_version)
            VALUES ($1, $2, $3, 'running', 'deciding', $4, now() + make_interval(secs => $5), $6, $7)
            ON CONFLICT (insurer_number, as_of, job) DO UPDATE SET attempts = run.attempts
            RETURNING run_id, status, phase, attempts, finished_at::text, (xmax = 0) AS inserted
            """, [insurer, asOf.description, job, owner, String(Self.leaseSeconds), owner.split(separator: ":").first.map(String.init),
                  codeVersion]).rows[0]
        let id = Int(row[0]!)!
        if row[1] == "completed" {
            return (Run(id: id, phase: .completed, attempts: Int(row[3]!)!, resumed: false), row[4])
        }
        let inserted = row[5] == "t"
        var attempts = Int(row[3]!)!
        if !inserted {
            // Nobody holds the lock, so the previous process is gone: take the run over.
            attempts += 1
            try db.execute("""
                UPDATE run SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3), attempts = $4,
                       status = 'running', code_version = $5
                WHERE run_id = $1
                """, [String(id), owner, String(Self.leaseSeconds), String(attempts), codeVersion])
        }
        return (Run(id: id, phase: Phase(rawValue: row[2] ?? "deciding") ?? .deciding, attempts: attempts, resumed: !inserted), nil)
    }

    /// Renews the lease at most every second; cheap to call from a hot loop. Each renewal proves
    /// the lock is still held: the lock connection answers (a session lock lives as long as its
    /// connection) and the run row still names this process. Otherwise throws `LostLock`.
    public func heartbeat(runID: Int, force: Bool = false) throws {
        guard force || Date().timeIntervalSince(lastBeat) >= 1 else { return }
        lastBeat = Date()
        let renewed: Int
        do {
            renewed = try db.query("""
                UPDATE run SET lease_expires_at = now() + make_interval(secs => $2) WHERE run_id = $1 AND lease_owner = $3
                """, [String(runID), String(Self.leaseSeconds), owner]).affectedRows
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
        try db.transaction {
            let held = try db.query("SELECT numbers_from, numbers_to FROM run WHERE run_id = $1 AND lease_owner = $2",
                                    [String(runID), owner]).rows
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
        let n = try db.query("""
            UPDATE run SET status = 'completed', phase = 'completed', finished_at = now(), lease_owner = NULL,
                   lease_expires_at = NULL, counts = $2::jsonb WHERE run_id = $1 AND lease_owner = $3
            """, [String(runID), counts, owner]).affectedRows
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
    public let started: String
    public let finished: String?
    public let seconds: Double?
    public let decisions: String?
    public let certificates: String?
    public let held: String?
    public let waiting: String?

    public var abandoned: Bool { status == "abandoned" }

    /// Newest first; every filter optional.
    public static func recent(_ db: Connection, insurer: String? = nil, from: String? = nil, to: String? = nil,
                              limit: Int, offset: Int = 0) throws -> [RunListing] {
        try listing(db, """
            FROM run WHERE ($1::text IS NULL OR insurer_number = $1) AND ($2::date IS NULL OR as_of >= $2::date)
              AND ($3::date IS NULL OR as_of <= $3::date)
            ORDER BY run_id DESC LIMIT $4 OFFSET $5
            """, [insurer, from, to, String(limit), String(offset)])
    }

    /// The latest run of each insurer (latest as-of date, then latest run), by insurer.
    public static func latestPerInsurer(_ db: Connection) throws -> [RunListing] {
        try listing(db, "FROM (SELECT DISTINCT ON (insurer_number) * FROM run ORDER BY insurer_number, as_of DESC, run_id DESC) run ORDER BY insurer_number", [])
    }

    private static func listing(_ db: Connection, _ from: String, _ params: [String?]) throws -> [RunListing] {
        try db.query("""
            SELECT run_id, insurer_number, as_of::text, job,
                   CASE WHEN status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now()) THEN 'abandoned' ELSE status END,
                   phase, attempts, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS'), to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS'),
                   extract(epoch FROM finished_at - started_at)::text,
                   counts->>'decisions', counts->>'certificates', counts->>'held', counts->>'waiting'
            \(from)
            """, params).rows.map {
            RunListing(runID: Int($0[0]!)!, insurer: $0[1]!, asOf: $0[2]!, job: $0[3]!, status: $0[4]!, phase: $0[5], attempts: Int($0[6]!) ?? 1,
                       started: $0[7]!, finished: $0[8], seconds: $0[9].flatMap(Double.init), decisions: $0[10], certificates: $0[11],
                       held: $0[12], waiting: $0[13])
        }
    }
}
