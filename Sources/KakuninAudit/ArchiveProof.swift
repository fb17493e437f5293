import Crypto
import Foundation
import KakuninRuntime
import KakuninStore

/// Archived decisions (issue 34 item 4, `kakunin archive`): the inclusion proof of a file's
/// `decisions_archived` entry, and the auditors' offline check of the file against it.
extension AuditLog {
    /// The sha256 (hex) and the number of records after the header line of a CSV file.
    public static func archiveFileFacts(_ path: String) throws -> (sha256: String, rows: Int) {
        let reader = try CSVReader(path: path)
        var hash = SHA256()
        reader.onChunk = { hash.update(bufferPointer: $0) }
        let records = try reader.countRecords()
        return (hash.finalize().map { String(format: "%02x", $0) }.joined(), max(records - 1, 0))
    }

    /// An inclusion proof of the `decisions_archived` entry naming this file's sha256.
    public static func proveArchive(_ db: Connection, file: String, checkpoint: Checkpoint) throws -> String {
        let facts = try archiveFileFacts(file)
        guard
            let index = try db.query(
                """
                SELECT l.log_index FROM audit_event e JOIN audit_log l ON l.event_id = e.event_id
                WHERE e.action = 'decisions_archived' AND e.details->>'sha256' = $1 ORDER BY l.log_index LIMIT 1
                """, [facts.sha256]
            ).scalar.flatMap({ Int($0) })
        else {
            throw OperatorError(
                .notFound, "no sealed decisions_archived entry of the audit log names \(file) (sha256 \(facts.sha256))",
                fix: "check the file (kakunin archive wrote it); an entry is sealed by kakunin archive itself")
        }
        guard index < checkpoint.size else {
            throw OperatorError(
                .usage, "the archive's entry is \(index), after the checkpoint's \(checkpoint.size) entries",
                fix: "make a newer checkpoint: kakunin audit checkpoint --key FILE")
        }
        return try prove(db, index: index, checkpoint: checkpoint)
    }

    /// What checking an archive file against its proof found.
    public struct ArchiveCheck: Sendable {
        public var proof: ProofCheck
        public var sha256: String
        public var rows: Int
        /// The entry's details: partition, month, file, runs.
        public var partition = ""
        public var month = ""
        public var runs: [Int] = []
        public var problems: [String] = []
    }

    /// Offline: the proof holds (and its checkpoint is signed by the key, when given), its entry is
    /// a `decisions_archived` event, and the file's sha256 and number of rows are the entry's.
    public static func verifyArchive(file: String, proof text: String, publicKey: Curve25519.Signing.PublicKey?) throws -> ArchiveCheck {
        let facts = try archiveFileFacts(file)
        let proof = try verifyProof(text, publicKey: publicKey)
        var check = ArchiveCheck(proof: proof, sha256: facts.sha256, rows: facts.rows, problems: proof.problems)
        guard proof.kind == .inclusion, let entry = proof.entry,
            let object = try? JSONSerialization.jsonObject(with: Data(entry.utf8)) as? [String: Any],
            object["type"] as? String == "event", object["action"] as? String == "decisions_archived",
            let details = object["details"] as? [String: Any]
        else {
            check.problems.append("the proof's entry is not a decisions_archived event of the log")
            return check
        }
        check.partition = details["partition"] as? String ?? ""
        check.month = details["month"] as? String ?? ""
        check.runs = (details["runs"] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? []
        if details["sha256"] as? String != facts.sha256 {
            check.problems.append("the file's sha256 \(facts.sha256) is not the entry's \(details["sha256"] as? String ?? "-")")
        }
        if (details["rows"] as? NSNumber)?.intValue != facts.rows {
            check.problems.append("the file holds \(facts.rows) rows, the entry records \((details["rows"] as? NSNumber)?.intValue ?? -1)")
        }
        return check
    }
}
