import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The reject report: the rejects stored (`import_reject`), the import row finished or refused
/// (with its audit entry), and the files staff read: the rejects as CSV and the report.
struct RejectReport {
    let job: ImportJob
    let host: String
    /// How many rejects the on-screen summary lists.
    let shownRejects: Int

    /// Refuses the whole file: nothing of it is stored.
    func refuse(_ summary: inout ImportSummary, _ message: String) throws {
        summary.status = .refused
        summary.refusal = message
        summary.rowsRead = 0
        try job.db.execute(
            "UPDATE import SET status = 'refused', refusal = $2, finished_at = now() WHERE import_id = $1",
            [String(job.importID), message])
        try audit(
            action: "import_refused", importID: job.importID,
            details: ["feed": job.format.name.rawValue, "file": summary.file, "refusal": message])
    }

    /// Appends the spilled rejects to import_reject.
    func store(_ spill: BufferedFileWriter) throws {
        try job.db.copyIn("COPY import_reject (import_id, line, column_name, value, reason, member_id) FROM STDIN") { w in
            try spill.readBack { try w.write($0) }
        }
    }

    /// The number of lines rejected (a line may have several rejects).
    func rejectedLines() throws -> Int {
        Int(
            try job.db.query(
                "SELECT count(DISTINCT line) FROM import_reject WHERE import_id = $1", [String(job.importID)]
            ).scalar!)!
    }

    /// After the transaction: the rejects file (unless refused) and the report file.
    func publish(_ summary: inout ImportSummary) throws {
        let base = job.scratch.appendingPathComponent("import-\(job.importID)-\(job.format.name.rawValue)")
        if summary.status != .refused {
            try loadRejectSummary(&summary)
            let rejectsURL = base.appendingPathExtension("rejects.csv")
            try OwnerOnlyFile.publish(rejectsURL) { w in
                // For staff: UTF-8 with a byte-order mark, so that a spreadsheet opens it right.
                try StaffCSV.byteOrderMark.withUnsafeBytes { try w.write($0) }
                try w.write("line,column,value,reason,\(job.format.rowIdentifier)\n")
                try job.db.copyOut(
                    """
                    COPY (SELECT line, column_name, value, reason, member_id FROM import_reject
                          WHERE import_id = \(job.importID) ORDER BY line, column_name) TO STDOUT (FORMAT csv)
                    """
                ) { try w.write($0) }
            }
            summary.rejectsFile = rejectsURL.path
        }
        let reportURL = base.appendingPathExtension("report.txt")
        summary.reportFile = reportURL.path
        let report = summary.render()
        try OwnerOnlyFile.publish(reportURL) { try $0.write(report) }
    }

    func finish(_ s: inout ImportSummary, bytes: Int) throws {
        try job.db.execute(
            """
            UPDATE import SET status = $2, rows_read = $3, rows_loaded = $4, rows_rejected = $5,
                   inserted = $6, updated = $7, unchanged = $8, file_sha256 = $9, file_bytes = $10, finished_at = now()
            WHERE import_id = $1
            """,
            [
                String(s.importID), s.status.rawValue, String(s.rowsRead), String(s.rowsLoaded), String(s.rowsRejected),
                String(s.inserted), String(s.updated), String(s.unchanged), s.fileSHA256, String(bytes),
            ])
        try audit(
            action: "import", importID: s.importID,
            details: [
                "feed": s.feed.rawValue, "file": s.file, "sha256": s.fileSHA256, "status": s.status.rawValue,
                "rows_read": String(s.rowsRead), "rows_loaded": String(s.rowsLoaded), "rows_rejected": String(s.rowsRejected),
                "inserted": String(s.inserted), "updated": String(s.updated), "unchanged": String(s.unchanged),
            ])
    }

    private func audit(action: String, importID: Int, details: [String: String]) throws {
        var details = details
        details["host"] = host
        try AuditLog.append(job.db, action, importID: importID, details: details)
    }

    private func loadRejectSummary(_ s: inout ImportSummary) throws {
        let id = String(s.importID)
        s.rejectsByReason = try job.db.query(
            """
            SELECT coalesce(column_name, '(row)'), reason, count(*) FROM import_reject WHERE import_id = $1
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 50
            """, [id]
        ).rows.map { ($0[0]!, $0[1]!, Int($0[2]!)!) }
        let personal = Set(FeedFormat.named(s.feed).columns.filter(\.personal).map(\.name))
        s.firstRejects = try job.db.query(
            """
            SELECT line, column_name, value, reason, member_id FROM import_reject WHERE import_id = $1
            ORDER BY line, column_name LIMIT $2
            """, [id, String(shownRejects)]
        ).rows.map { r in
            RejectedRow(
                line: Int(r[0]!)!, column: r[1],
                value: r[1].map { personal.contains($0) ? "(withheld: see rejects file)" : r[2] ?? "" } ?? nil,
                reason: r[3]!, memberID: r[4])
        }
    }
}
