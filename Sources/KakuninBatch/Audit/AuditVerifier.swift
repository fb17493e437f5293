import Crypto
import Foundation
import KakuninStore

/// Recomputes the audit trail's hash chain (SPEC.md 5: tamper-evident, verifiable by an
/// auditor): every event's hash must be the SHA-256 of its canonical payload, and every event
/// must point at the hash of the one before it.
public struct AuditVerification: Sendable {
    public var events = 0
    public var firstEventID: Int?
    public var lastEventID: Int?
    public var lastHash = ""
    /// The first broken event and what is wrong with it.
    public var failure: (eventID: Int, problem: String)?

    public var ok: Bool { failure == nil }

    public static func verify(_ db: Connection) throws -> AuditVerification {
        var v = AuditVerification()
        var previous = String(repeating: "0", count: 64)
        var parser = CopyTextParser()
        var previousID: Int?
        try db.copyOut("""
            COPY (SELECT e.event_id, e.prev_hash, e.hash, audit_event_payload(e) FROM audit_event e ORDER BY e.event_id) TO STDOUT
            """) { chunk in
            guard v.failure == nil else { return }
            let row = parser.parseRow(chunk)
            let id = Int(row[0]!)!
            v.events += 1
            if v.firstEventID == nil { v.firstEventID = id }
            v.lastEventID = id
            let computed = SHA256.hash(data: Data(row[3]!.utf8)).map { String(format: "%02x", $0) }.joined()
            if row[1] != previous {
                v.failure = (id, previousID.map { "does not link to event \($0): an event before it was changed or deleted" }
                                ?? "the first event does not start the chain")
            } else if computed != row[2] {
                v.failure = (id, "its content does not match its hash: it was changed after it was written")
            }
            previous = row[2]!
            previousID = id
        }
        v.lastHash = previous
        return v
    }

    public func render() -> String {
        if let f = failure {
            return "audit trail BROKEN at event \(f.eventID): \(f.problem) (\(events) events read)\n"
        }
        return "audit trail verified: \(events) events\(firstEventID.map { ", \($0) … \(lastEventID!)" } ?? ""), every hash and link recomputed; head \(lastHash)\n"
    }
}
