import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The merge of a feed that is not a first load: the rows are staged (a member's keys and row
/// digest only), duplicate keys and unknown members rejected, then each feed merged set-based
/// into its table: members (`findChanged`, the changed rows read again, `mergeMembers`), Myna
/// status snapshots, applications, establishments.
struct FeedMerge {
    let job: ImportJob

    func run(spill: BufferedFileWriter, clock: PhaseClock) throws -> LoadCounts {
        let format = job.format
        // Members are compared on their row digests first: in the worker threads against the
        // stored ones (read once), or, with more members stored than `StoredDigests.limit`, in
        // the server on staged keys and digests. Only new and changed members are sent whole
        // (an unchanged extract: none).
        let stored = format.name == .members ? try loadStored(clock) : nil
        try job.rewind()
        let target: RowEncoder.Target = format.name != .members ? .stage : stored != nil ? .changed : .keys
        try createStage(keysOnly: target == .keys, told: target == .changed)
        let result = try RowStream(job: job).send(target: target, spill: spill, stored: stored)
        var counts = LoadCounts(rows: result.rows, bytes: job.reader.bytesRead)
        if format.name == .members || format.name == .establishments { try RowStream.addInsurers(result.insurers, job.db) }
        clock.lap(target == .keys ? "stream keys" : target == .changed ? "stream changed" : "stream+copy")
        if let stored { try rejectStoredDuplicates(result.duplicates, stored) }
        // Statistics for the duplicate check and the merge.
        try job.db.execute("ANALYZE pg_temp.stage")
        try rejectDuplicates(candidates: result.candidates)
        clock.lap("duplicates")
        TestPause.hit("import:merge")
        (counts.inserted, counts.updated) = try merge(target, spill: spill, clock: clock)
        clock.lap("merge")
        return counts
    }

    /// Inserts new rows and updates changed ones; returns (inserted, updated).
    private func merge(_ target: RowEncoder.Target, spill: BufferedFileWriter, clock: PhaseClock) throws -> (Int, Int) {
        switch job.format.name {
        case .members:
            let changed = try target == .changed ? toldChanged() : findChanged()
            clock.lap("compare")
            guard changed > 0 else { return (0, 0) }
            guard target == .keys else { return try mergeMembers(rows: "pg_temp.stage") }
            try stageChangedRows(spill: spill)
            clock.lap("changed rows")
            return try mergeMembers(rows: "pg_temp.changed_rows")
        case .mynaStatus: return try mergeMynaStatus()
        case .establishments: return try mergeEstablishments()
        case .applications: return try mergeApplications()
        }
    }

    /// The stored members with their digests; nil with more than `StoredDigests.limit`.
    private func loadStored(_ clock: PhaseClock) throws -> StoredDigests? {
        let stored = try StoredDigests.load(job.db)
        clock.lap("stored digests")
        return stored
    }

    /// `told`: each staged member also says what it is to the stored members (`stored`:
    /// `RowEncoder.StoredKind`), as a `.changed` stream compared it.
    private func createStage(keysOnly: Bool = false, told: Bool = false, name: String = "stage") throws {
        let format = job.format
        let table = FeedImporter.table(format)
        let cols = keysOnly ? format.keyColumns.joined(separator: ", ") : format.columns.map(\.name).joined(separator: ", ")
        var extra = format.name == .applications ? ", reject_reason" : format.name == .members ? ", row_digest" : ""
        if told { extra += ", NULL::smallint AS stored" }
        // Temporary tables live in backend-local buffers (8 MB by default): give a large feed room.
        // Takes effect only before the session's first temporary table; harmless otherwise.
        try? job.db.execute("SET temp_buffers = '512MB'")
        try job.db.execute(
            """
            CREATE TEMP TABLE \(name) ON COMMIT DROP AS
            SELECT NULL::bigint AS line, \(cols)\(extra) FROM \(table) WITH NO DATA
            """)
    }

    /// Rejects every copy of a key that appears more than once. Only the candidates the key
    /// filter flagged are checked, so a clean file costs one scan of the stage at most.
    private func rejectDuplicates(candidates: [[String]]) throws {
        let format = job.format
        let importID = job.importID
        let key = format.keyColumns.joined(separator: ", ")
        let join = format.keyColumns.map { "s.\($0) = d.\($0)" }.joined(separator: " AND ")
        // The filter has no false negatives: without candidates no key was seen twice.
        if let first = candidates.first, !first.isEmpty {
            let arrays = candidates.map(Self.textArray)
            let unnest = format.keyColumns.indices.map { "$\($0 + 1)::text[]" }.joined(separator: ", ")
            let cast = format.keyColumns.map { "c.\($0)::\($0 == "status_as_of" || $0 == "received_on" ? "date" : "text")" }
            try job.db.execute(
                """
                CREATE TEMP TABLE dup ON COMMIT DROP AS
                SELECT \(key), array_agg(line ORDER BY line) AS lines FROM pg_temp.stage
                WHERE (\(key)) IN (SELECT \(cast.joined(separator: ", ")) FROM unnest(\(unnest)) AS c(\(key)))
                GROUP BY \(key) HAVING count(*) > 1
                """, arrays)
            try job.db.execute(
                """
                WITH gone AS (
                    DELETE FROM pg_temp.stage s USING pg_temp.dup d WHERE \(join)
                    RETURNING s.line, s.\(format.rowIdentifier) AS row_id, d.lines)
                INSERT INTO import_reject (import_id, line, column_name, value, reason, member_id)
                SELECT $1, line, '\(format.rowIdentifier)', row_id,
                       \(Self.duplicateReason(key: key)), row_id
                FROM gone
                """, [String(importID)])
        }
        if format.name == .mynaStatus || format.name == .applications {
            try job.db.execute(
                """
                WITH gone AS (
                    DELETE FROM pg_temp.stage s
                    WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.insurer_number = s.insurer_number AND m.member_id = s.member_id)
                    RETURNING s.line, s.member_id)
                INSERT INTO import_reject (import_id, line, column_name, value, reason, member_id)
                SELECT $1, line, 'member_id', member_id, 'unknown member: not in the members feed; import members.csv first', member_id
                FROM gone
                """, [String(importID)])
        }
    }

    /// Rejects every line of each stored member a `.changed` stream met on more than one good
    /// row, as `rejectDuplicates` does for staged keys (its unchanged copies were never staged;
    /// the changed ones are taken out of the stage).
    private func rejectStoredDuplicates(_ duplicates: [Int: [Int]], _ stored: StoredDigests) throws {
        guard !duplicates.isEmpty else { return }
        let members = duplicates.keys.sorted()
        let lines = members.flatMap { duplicates[$0]! }
        let keys = members.flatMap { m in duplicates[m]!.map { _ in stored.key(m) } }
        try job.db.execute(
            """
            CREATE TEMP TABLE stored_dup ON COMMIT DROP AS
            SELECT insurer_number, member_id, array_agg(line ORDER BY line) AS lines
            FROM unnest($1::bigint[], $2::text[], $3::text[]) AS d(line, insurer_number, member_id) GROUP BY 1, 2
            """,
            [
                "{" + lines.map(String.init).joined(separator: ",") + "}", Self.textArray(keys.map(\.insurer)),
                Self.textArray(keys.map(\.memberID)),
            ])
        try job.db.execute(
            """
            WITH gone AS (DELETE FROM pg_temp.stage s USING pg_temp.stored_dup d WHERE s.line = ANY (d.lines))
            INSERT INTO import_reject (import_id, line, column_name, value, reason, member_id)
            SELECT $1, l.line, 'member_id', d.member_id, \(Self.duplicateReason(key: "insurer_number, member_id")), d.member_id
            FROM pg_temp.stored_dup d CROSS JOIN LATERAL unnest(d.lines) AS l(line)
            """, [String(job.importID)])
    }

    /// SQL: the reason a duplicate key's rows are rejected (`lines`: all its lines, in order).
    static func duplicateReason(key: String) -> String {
        "'the same key (\(key)) appears on lines ' || array_to_string(lines, ', ') || '; fix the extract so it appears once'"
    }

    /// A PostgreSQL text array literal of `values`, each quoted.
    static func textArray(_ values: [String]) -> String {
        "{"
            + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }

    /// Finds the staged members (keys and row digests) that are new or changed, by one join on
    /// the digests (sql/016) that reads only the stored keys and digests; returns their count.
    /// A re-import of an unchanged extract stops here.
    func findChanged() throws -> Int {
        let on = job.on
        return try job.db.query(
            """
            CREATE TEMP TABLE changed ON COMMIT DROP AS
            SELECT s.line, s.row_digest, t.member_id IS NULL AS is_new, t.member_id IS NOT NULL AND t.row_digest IS NULL AS legacy
            FROM pg_temp.stage s LEFT JOIN member t ON \(on)
            WHERE t.member_id IS NULL OR t.row_digest IS DISTINCT FROM s.row_digest
            """
        ).affectedRows
    }

    /// `findChanged` for a `.changed` stream, which staged only new and changed members and told
    /// which they are: no join with `member`.
    func toldChanged() throws -> Int {
        try job.db.query(
            """
            CREATE TEMP TABLE changed ON COMMIT DROP AS
            SELECT line, row_digest, stored = \(RowEncoder.StoredKind.new.rawValue) AS is_new,
                   stored = \(RowEncoder.StoredKind.legacy.rawValue) AS legacy
            FROM pg_temp.stage
            """
        ).affectedRows
    }

    /// Reads the file again for the lines `findChanged` found and stages those rows whole
    /// (`changed_rows`). Their line numbers wait in a nameless owner-only file, so memory does
    /// not grow with their number. Each row must give the digest it gave the first time: a file
    /// rewritten while it is imported is refused, not half loaded.
    func stageChangedRows(spill: BufferedFileWriter) throws {
        let reader = job.reader
        let lines = try OwnerOnlyFile.anonymous(in: job.scratch, label: "changed lines of import \(job.importID)")
        _ = try job.db.copyOut("COPY (SELECT line FROM pg_temp.changed ORDER BY line) TO STDOUT") { try lines.write($0) }
        try lines.flush()
        try createStage(name: "changed_rows")
        reader.onChunk = nil  // the file's hash was taken on the first reading
        try reader.rewind()
        _ = try RowStream(job: job).send(target: .stage, spill: spill, into: "pg_temp.changed_rows", only: LineList(lines))
        let differing = try job.db.query(
            """
            SELECT count(*) FROM pg_temp.changed c LEFT JOIN pg_temp.changed_rows r USING (line)
            WHERE r.row_digest IS DISTINCT FROM c.row_digest
            """
        ).scalar
        if differing != "0" { throw RowStream.fileChanged(reader.path) }
    }

    /// Members: the new and changed rows (`findChanged`, `stageChangedRows`) inserted or updated;
    /// returns (inserted, updated).
    private func mergeMembers(rows: String) throws -> (Int, Int) {
        let (id, on, data, all) = (String(job.importID), job.on, job.dataColumns, job.format.columns.map(\.name))
        let differs = FeedMerge.differ(data, "t", "s")
        // The new and changed rows (findChanged, stageChangedRows), whole. A member stored
        // without a digest ("legacy") is compared column by column below, and gets its
        // digest without counting as changed.
        try job.db.execute(
            """
            CREATE TEMP TABLE delta ON COMMIT DROP AS
            SELECT r.*, c.is_new, c.legacy FROM \(rows) r JOIN pg_temp.changed c USING (line)
            """)
        // The database keeps each change in member_history (trigger member_history_kept).
        // Whether a row changed is decided against the stored row before the update.
        let updated = Int(
            try job.db.query(
                """
                WITH c AS (
                    SELECT s.*, NOT s.legacy OR \(differs) AS changed
                    FROM pg_temp.delta s JOIN member t ON \(on)
                    WHERE NOT s.is_new),
                u AS (
                    UPDATE member t SET \(data.map { "\($0) = s.\($0)" }.joined(separator: ", ")), row_digest = s.row_digest,
                           updated_by_import = $1, updated_at = CASE WHEN s.changed THEN now() ELSE t.updated_at END
                    FROM c s WHERE \(on)
                    RETURNING s.changed)
                SELECT count(*) FILTER (WHERE changed) FROM u
                """, [id]
            ).scalar!)!
        let inserted = try job.db.query(
            """
            INSERT INTO member (\(all.joined(separator: ", ")), row_digest, created_by_import, updated_by_import)
            SELECT \(all.map { "s.\($0)" }.joined(separator: ", ")), s.row_digest, $1, $1 FROM pg_temp.delta s WHERE s.is_new
            """, [id]
        ).affectedRows
        return (inserted, updated)
    }

    /// Applications: new ones inserted, changed ones not yet fulfilled updated; returns
    /// (inserted, updated).
    private func mergeApplications() throws -> (Int, Int) {
        let (id, on) = (String(job.importID), job.on)
        // Serialise with the nightly run, which holds its insurer's row locked from before
        // it reads the facts until it commits: either the run sees these changes, or it has
        // fulfilled the applications before they are touched here (and they are kept).
        try job.db.execute(
            """
            SELECT 1 FROM insurer WHERE insurer_number IN (SELECT DISTINCT insurer_number FROM pg_temp.stage)
            ORDER BY insurer_number FOR SHARE
            """)
        TestPause.hit("import:applications-locked")
        // SPEC.md 2.2 [2026-12]: an elderly member's special-consideration application needs
        // no basis while the insurer's elderly_apply_without_basis is on (the version in force
        // on the day it was received; on without one), whenever received: the run issues on it
        // for a certificate period starting on or after 2026-08-01 (Policy rule 3). Every
        // other one without a basis is rejected with NO_BASIS.
        try job.db.execute(
            """
            UPDATE pg_temp.stage s SET reject_reason = CASE WHEN s.status = 'rejected' THEN 'REJECTED_BY_INSURER' END
            FROM member m
            WHERE s.reject_reason = 'NO_BASIS' AND m.insurer_number = s.insurer_number AND m.member_id = s.member_id
              AND m.scheme = 'elderly'
              AND coalesce((SELECT v.parameters->>'elderly_apply_without_basis' FROM insurer_parameter_version v
                            WHERE v.insurer_number = s.insurer_number AND v.effective_from <= s.received_on
                            ORDER BY v.effective_from DESC LIMIT 1), 'on') = 'on'
            """)
        try job.db.execute("UPDATE pg_temp.stage SET status = 'rejected' WHERE reject_reason = 'NO_BASIS'")
        // A fulfilled application is history: a later feed does not change it.
        let updated = try job.db.query(
            """
            UPDATE application t SET basis = s.basis, status = s.status, reject_reason = s.reject_reason,
                   import_id = $1, updated_at = now()
            FROM pg_temp.stage s
            WHERE \(on) AND t.fulfilled_on IS NULL
              AND (t.basis, t.status, t.reject_reason) IS DISTINCT FROM (s.basis, s.status, s.reject_reason)
            """, [id]
        ).affectedRows
        let inserted = try job.db.query(
            """
            INSERT INTO application (insurer_number, member_id, kind, received_on, basis, status, reject_reason, source, import_id)
            SELECT s.insurer_number, s.member_id, s.kind, s.received_on, s.basis, s.status, s.reject_reason, 'import', $1
            FROM pg_temp.stage s
            WHERE NOT EXISTS (SELECT 1 FROM application t WHERE \(on))
            """, [id]
        ).affectedRows
        return (inserted, updated)
    }

    /// [2026-12] Establishments: new ones inserted, changed ones updated (the database keeps
    /// each change in establishment_history, sql/032); an establishment the file leaves out
    /// stays as it is.
    private func mergeEstablishments() throws -> (Int, Int) {
        let (id, on, data, all) = (String(job.importID), job.on, job.dataColumns, job.format.columns.map(\.name))
        let updated = try job.db.query(
            """
            UPDATE establishment t SET \(data.map { "\($0) = s.\($0)" }.joined(separator: ", ")),
                   updated_by_import = $1, updated_at = now()
            FROM pg_temp.stage s WHERE \(on) AND \(FeedMerge.differ(data, "t", "s"))
            """, [id]
        ).affectedRows
        let inserted = try job.db.query(
            """
            INSERT INTO establishment (\(all.joined(separator: ", ")), created_by_import, updated_by_import)
            SELECT \(all.map { "s.\($0)" }.joined(separator: ", ")), $1, $1 FROM pg_temp.stage s
            WHERE NOT EXISTS (SELECT 1 FROM establishment t WHERE \(on))
            """, [id]
        ).affectedRows
        return (inserted, updated)
    }
}

extension ImportJob {
    /// SQL: the target row `t` and the staged row `s` have the same key.
    var on: String { format.keyColumns.map { "t.\($0) = s.\($0)" }.joined(separator: " AND ") }
    /// The format's columns that are not its key.
    var dataColumns: [String] { format.columns.map(\.name).filter { !format.keyColumns.contains($0) } }
}
