import KakuninStore

/// The imports recorded, for `kakunin imports list`.
public enum ImportList {
    /// The latest `limit` imports, newest first: id, feed, status (a running one whose process is
    /// gone shows as abandoned), started, finished, rows read, loaded, rejected, actor, file.
    public static func recent(_ db: Connection, limit: Int) throws -> [[String?]] {
        try db.query(
            """
            SELECT i.import_id, i.feed, \(FeedImporter.displayedStatusSQL), to_char(i.started_at, 'YYYY-MM-DD HH24:MI:SS'),
                   coalesce(to_char(i.finished_at, 'YYYY-MM-DD HH24:MI:SS'), ''), i.rows_read, i.rows_loaded, i.rows_rejected,
                   i.actor, i.file_name
            FROM import i ORDER BY i.import_id DESC LIMIT $1
            """, [String(limit)]
        ).rows
    }
}
