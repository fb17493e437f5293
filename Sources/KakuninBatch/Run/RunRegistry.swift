import Foundation
import KakuninCore
import KakuninStore

/// The run registry (SPEC.md 5, issue 4): one run per insurer, as-of date and job.
///
/// Mutual exclusion is a session-level advisory lock held on a connection of its own: it dies
/// with the process (kill -9, power loss, lost connection), so a crashed run never stays
/// locked. The run row carries a lease renewed by a heartbeat, so `runs list` can tell a live
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
                        parameters: LoadedParameters, lockWait: Double = 5) throws -> (Run, completedAt: String?) {
        let key = "kakunin.run:\(insurer):\(asOf):\(job)"
        let deadline = Date().addingTimeInterval(lockWait)
        var locked = false
        while true {
            locked = try db.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", [key]).scalar == "t"
            if locked || Date() >= deadline { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard locked else {
            let r = try db.query("""
                SELECT run_id, lease_owner, lease_expires_at::text FROM run WHERE insurer_number = $1 AND as_of = $2 AND job = $3
                """, [insurer, asOf.description, job]).rows.first
            throw Locked(message: "run \(r?[0] ?? "?") for insurer \(insurer), as of \(asOf), job \(job) is being run by \(r?[1] ?? "another process") (lease until \(r?[2] ?? "?"))")
        }
        try db.execute("INSERT INTO insurer (insurer_number) VALUES ($1) ON CONFLICT DO NOTHING", [insurer])
        let row = try db.query("""
            INSERT INTO run (insurer_number, as_of, job, status, phase, lease_owner, lease_expires_at, host, code_version,
                             params_sha256, params_source)
            VALUES ($1, $2, $3, 'running', 'deciding', $4, now() + make_interval(secs => $5), $6, $7, $8, $9)
            ON CONFLICT (insurer_number, as_of, job) DO UPDATE SET insurer_number = EXCLUDED.insurer_number
            RETURNING run_id, status, phase, attempts, finished_at::text, (xmax = 0) AS inserted
            """, [insurer, asOf.description, job, owner, String(Self.leaseSeconds), owner.split(separator: ":").first.map(String.init),
                  codeVersion, parameters.sha256, parameters.source]).rows[0]
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

    /// Renews the lease at most every few seconds; cheap to call from a hot loop.
    public func heartbeat(runID: Int, force: Bool = false) throws {
        guard force || Date().timeIntervalSince(lastBeat) > 5 else { return }
        lastBeat = Date()
        try db.execute("UPDATE run SET lease_expires_at = now() + make_interval(secs => $2) WHERE run_id = $1",
                       [String(runID), String(Self.leaseSeconds)])
    }

    public func complete(runID: Int, counts: String) throws {
        try db.execute("""
            UPDATE run SET status = 'completed', phase = 'completed', finished_at = now(), lease_owner = NULL,
                   lease_expires_at = NULL, counts = $2::jsonb WHERE run_id = $1
            """, [String(runID), counts])
    }
}
