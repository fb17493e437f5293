import Foundation
import KakuninStore

/// What the console's 監査ログ page shows of the log: its size and the latest signed checkpoint.
public enum AuditLogStatus {
    public static func size(_ db: Connection) throws -> Int {
        Int(try db.query("SELECT coalesce(max(log_index) + 1, 0) FROM audit_log").scalar ?? "0") ?? 0
    }

    /// The latest checkpoint (the largest log it covers): its id, when it was made (JST), and the checkpoint.
    public static func latestCheckpoint(_ db: Connection) throws -> (id: String, created: String, checkpoint: Checkpoint)? {
        guard
            let r = try db.query(
                """
                SELECT checkpoint_id::text, to_char(created_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'), signed_text FROM audit_checkpoint
                ORDER BY log_size DESC, checkpoint_id DESC LIMIT 1
                """
            ).firstRow
        else { return nil }
        let id = try r.text(0)
        return (id, try r.text(1), try Checkpoint.parse(try r.text(2), file: "checkpoint \(id)"))
    }
}
