import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// A run as the CLI and the console name it: by id, or by insurer, as-of date and job. The one
/// read of a run's identity for commands and pages (the registry owns the writes).
public enum RunRecord {
    public struct Identity: Sendable {
        public let insurer: String
        public let asOf: String
        public let job: String

        /// `<root>/<insurer>/<as-of>/<job>/`: where the run published its mailing files.
        public func filesDirectory(under root: URL) -> URL {
            root.appendingPathComponent(insurer).appendingPathComponent(asOf).appendingPathComponent(job)
        }
    }

    public static func identity(_ db: Connection, runID: Int) throws -> Identity? {
        try db.query("SELECT insurer_number, as_of::text, job FROM run WHERE run_id = $1", [String(runID)]).firstRow
            .map { Identity(insurer: try $0.text(0), asOf: try $0.text(1), job: try $0.text(2)) }
    }

    /// `runs show`: every column an operator reads, as labelled text.
    public static func details(_ db: Connection, runID: Int) throws -> (identity: Identity, fields: [(String, String)])? {
        guard
            let r = try db.query(
                """
                SELECT run_id, insurer_number, as_of::text, job, status, phase, attempts, host, actor, code_version,
                       params_source, params_sha256, started_at::text, coalesce(finished_at::text, ''), coalesce(lease_owner, ''),
                       coalesce(lease_expires_at::text, '')
                FROM run WHERE run_id = $1
                """, [String(runID)]
            ).firstRow
        else { return nil }
        let names = [
            "run", "insurer", "as_of", "job", "status", "phase", "attempts", "host", "database user", "code version",
            "parameters", "parameters sha256", "started", "finished", "lease owner", "lease until",
        ]
        return (Identity(insurer: try r.text(1), asOf: try r.text(2), job: try r.text(3)), zip(names, r.values).map { ($0, $1 ?? "") })
    }

    public static func find(_ db: Connection, insurer: String, asOf: LocalDate, job: String) throws -> Int? {
        try db.query(
            "SELECT run_id FROM run WHERE insurer_number = $1 AND as_of = $2 AND job = $3",
            [insurer, asOf.description, job]
        ).scalar.flatMap { Int($0) }
    }
}

/// A run's decisions as CSV (SPEC.md 5), streamed by the server's COPY in member order.
public enum DecisionExport {
    public static let header = "run_id,insurer_number,member_id,as_of,outcome,reasons,valid_from,valid_to,certificate_number\n"

    /// Calls `body` with each chunk of CSV rows (without the header).
    public static func copy(_ db: Connection, runID: Int, asOf: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let date = LocalDate(stored: asOf) else { throw OperatorError(.internalError, "run \(runID) has no as-of date") }
        // Both values are checked numbers and dates: COPY takes no parameters.
        _ = try db.copyOut(
            """
            COPY (SELECT run_id, insurer_number, member_id, as_of, outcome, array_to_string(reasons, ';'), valid_from, valid_to,
                         certificate_number FROM decision_in_force(\(runID)) WHERE as_of = '\(date.description)' ORDER BY member_id)
            TO STDOUT (FORMAT csv)
            """, body)
    }
}
