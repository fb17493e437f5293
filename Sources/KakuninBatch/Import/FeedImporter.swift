import Crypto
import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// Imports one feed file (SPEC.md section 4): streams it through COPY into a staging table,
/// validates every field on the way, then merges set-based into the store.
///
/// Bad rows are rejected with line, column, value and reason and the good rows still load; a
/// file with the wrong header, that is not UTF-8, or that carries an Individual Number is
/// refused as a whole and nothing of it is stored. Importing the same file twice changes nothing.
public final class FeedImporter {
    private let db: Connection
    private let host: String
    /// How many rejects the on-screen summary lists.
    public var shownRejects = 20
    /// Told while the rows stream in (every 4,096 rows): rows read, bytes read, and the file's
    /// size (nil for a pipe or standard input). `kakunin import` draws its progress line with it.
    public var progress: ((_ rows: Int, _ bytes: Int, _ size: Int?) -> Void)?

    public init(db: Connection, host: String) {
        self.db = db
        self.host = host
    }

    /// A reason to refuse the whole file.
    struct Refusal: Error { let message: String }

    /// The first key of the session advisory lock an import holds on its own id while it runs
    /// (`pg_advisory_lock(importLockClass, import_id)`): an import row still `running` whose
    /// lock nobody holds was abandoned (its process was killed).
    public static let importLockClass: Int32 = 0x6B6B_6901

    /// SQL for an import's status as people should see it: `abandoned` when it says running but
    /// no live session holds its lock. `i` is the import row.
    public static let displayedStatusSQL = """
        CASE WHEN i.status = 'running' AND NOT EXISTS (
                 SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.classid = \(importLockClass)::bigint::oid AND l.objid = i.import_id::oid)
             THEN 'abandoned' ELSE i.status END
        """

    /// `path` may be `-` (standard input), a pipe or a FIFO: the input is opened once, and kept
    /// in a nameless scratch file in `reportDirectory` when it has to be read twice.
    public func run(feed: FeedFormat.Name, path: String, reportDirectory: URL) throws -> ImportSummary {
        let started = Date()
        let format = FeedFormat.named(feed)
        try OwnerOnlyFile.makeDirectory(reportDirectory)
        try BatchLogin.requireBypassRLS(db)
        let reader = try CSVReader(path: path, spoolDirectory: reportDirectory)
        var hasher = SHA256()
        reader.onChunk = { hasher.update(bufferPointer: $0) }
        let fileName = path == "-" ? "(standard input)" : path

        let importID = Int(
            try db.query(
                "INSERT INTO import (feed, file_name, status, host) VALUES ($1, $2, 'running', $3) RETURNING import_id",
                [feed.rawValue, fileName, host]
            ).scalar!)!
        // Held while this process lives: `imports list` shows a killed import as abandoned.
        try db.execute("SELECT pg_advisory_lock($1::int, $2::int)", [String(Self.importLockClass), String(importID)])
        defer { try? db.execute("SELECT pg_advisory_unlock($1::int, $2::int)", [String(Self.importLockClass), String(importID)]) }
        var summary = ImportSummary(importID: importID, feed: feed, file: fileName, status: .loaded)
        let base = reportDirectory.appendingPathComponent("import-\(importID)-\(feed.rawValue)")
        func refuse(_ refusal: Refusal) throws {
            summary.status = .refused
            summary.refusal = refusal.message
            summary.rowsRead = 0
            try db.execute(
                "UPDATE import SET status = 'refused', refusal = $2, finished_at = now() WHERE import_id = $1",
                [String(importID), refusal.message])
            try audit(
                action: "import_refused", importID: importID,
                details: ["feed": feed.rawValue, "file": fileName, "refusal": refusal.message])
        }

        do {
            try db.transaction {
                // Imports of one feed run one after the other: two imports of the same new
                // members at once would otherwise both insert them.
                try db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ["kakunin.import:\(feed.rawValue)"])
                // The duplicate check and the merge hash a million rows: keep that in memory.
                try db.execute("SET LOCAL work_mem = '256MB'")
                var clock = Date()
                func lap(_ name: String) {
                    summary.phases.append((name, Date().timeIntervalSince(clock)))
                    clock = Date()
                }
                var loaded: (inserted: Int, updated: Int)? = nil
                var fileBytes = 0

                // A first load of an insurer's members goes straight into `member`; a duplicate
                // key there (unique violation) falls back to the staged merge.
                // Rejects wait in a nameless owner-only file: a killed import leaves nothing.
                var spill = try OwnerOnlyFile.anonymous(in: reportDirectory, label: "rejects of import \(importID)")
                let direct = try format.name == .members && isFirstLoad(reader)
                // Back to the first byte (the peek above read some): the hash covers the file once.
                try reader.rewind()
                hasher = SHA256()
                if direct {
                    try db.execute("SAVEPOINT direct_load")
                    do {
                        // Into an empty member table, secondary indexes are built after the COPY (sql/016).
                        let deferred = try db.query("SELECT member_bulk_load_begin()").scalar == "t"
                        let result = try streamRows(reader: reader, format: format, importID: importID, target: .direct, spill: spill)
                        summary.rowsRead = result.rows
                        fileBytes = reader.bytesRead
                        try addInsurers(result.insurers)
                        lap("direct copy")
                        if deferred {
                            // A key twice in the file fails here, building the primary key.
                            try db.execute("SELECT member_bulk_load_end()")
                            lap("keys and indexes")
                        }
                        try db.execute("RELEASE SAVEPOINT direct_load")
                        loaded = (result.loaded, 0)
                    } catch let e as DatabaseError where e.sqlState == "23505" {
                        try db.execute("ROLLBACK TO SAVEPOINT direct_load")
                        summary.rowsRead = 0
                        try reader.rewind()
                        hasher = SHA256()
                        spill = try OwnerOnlyFile.anonymous(in: reportDirectory, label: "rejects of import \(importID)")
                        lap("direct copy (abandoned: duplicate key)")
                    }
                }
                if loaded == nil {
                    // Members are compared on their keys and row digests first; only the new and
                    // changed rows are read again and sent whole (an unchanged extract: none).
                    let keysFirst = format.name == .members
                    try createStage(format, keysOnly: keysFirst)
                    let result = try streamRows(
                        reader: reader, format: format, importID: importID,
                        target: keysFirst ? .keys : .stage, spill: spill)
                    summary.rowsRead = result.rows
                    fileBytes = reader.bytesRead
                    if format.name == .members || format.name == .establishments { try addInsurers(result.insurers) }
                    lap(keysFirst ? "stream keys" : "stream+copy")
                    // Statistics for the duplicate check and the merge.
                    try db.execute("ANALYZE pg_temp.stage")
                    try rejectDuplicates(format, importID: importID, candidates: result.candidates)
                    lap("duplicates")
                    TestPause.hit("import:merge")
                    if keysFirst {
                        let changed = try findChanged(format)
                        lap("compare")
                        if changed > 0 {
                            try stageChangedRows(
                                reader: reader, format: format, importID: importID, spill: spill,
                                scratch: reportDirectory)
                            lap("changed rows")
                            loaded = try merge(format, importID: importID)
                        } else {
                            loaded = (0, 0)
                        }
                    } else {
                        loaded = try merge(format, importID: importID)
                    }
                    lap("merge")
                }
                CrashPoint.hit("import:streamed")
                try loadSpill(spill)
                summary.inserted = loaded!.inserted
                summary.updated = loaded!.updated
                summary.rowsRejected = Int(
                    try db.query(
                        "SELECT count(DISTINCT line) FROM import_reject WHERE import_id = $1", [String(importID)]
                    ).scalar!)!
                summary.rowsLoaded = summary.rowsRead - summary.rowsRejected
                summary.unchanged = summary.rowsLoaded - summary.inserted - summary.updated
                summary.status = summary.rowsRejected > 0 ? .loadedWithRejects : .loaded
                summary.fileSHA256 = hex(hasher.finalize())
                try finishImport(&summary, bytes: fileBytes)
                lap("finish")
            }
        } catch let unreadable as CSVUnreadable {
            try refuse(Refusal(message: unreadable.message))
        } catch let refusal as Refusal {
            try refuse(refusal)
        } catch {
            try? db.execute(
                "UPDATE import SET status = 'failed', refusal = $2, finished_at = now() WHERE import_id = $1",
                [String(importID), Self.failureText(error)])
            throw error
        }

        summary.seconds = Date().timeIntervalSince(started)
        if summary.status != .refused {
            try loadRejectSummary(&summary)
            let rejectsURL = base.appendingPathExtension("rejects.csv")
            try OwnerOnlyFile.publish(rejectsURL) { w in
                // For staff: UTF-8 with a byte-order mark, so that a spreadsheet opens it right.
                try StaffCSV.byteOrderMark.withUnsafeBytes { try w.write($0) }
                try w.write("line,column,value,reason,\(format.rowIdentifier)\n")
                try db.copyOut(
                    """
                    COPY (SELECT line, column_name, value, reason, member_id FROM import_reject
                          WHERE import_id = \(importID) ORDER BY line, column_name) TO STDOUT (FORMAT csv)
                    """
                ) { try w.write($0) }
            }
            summary.rejectsFile = rejectsURL.path
        }
        let reportURL = base.appendingPathExtension("report.txt")
        summary.reportFile = reportURL.path
        let report = summary.render()
        try OwnerOnlyFile.publish(reportURL) { try $0.write(report) }
        return summary
    }

    // MARK: - Streaming and validation

    private func createStage(_ format: FeedFormat, keysOnly: Bool = false, name: String = "stage") throws {
        let table = Self.table(format)
        let cols = keysOnly ? format.keyColumns.joined(separator: ", ") : format.columns.map(\.name).joined(separator: ", ")
        let extra = format.name == .applications ? ", reject_reason" : format.name == .members ? ", row_digest" : ""
        // Temporary tables live in backend-local buffers (8 MB by default): give a large feed room.
        // Takes effect only before the session's first temporary table; harmless otherwise.
        try? db.execute("SET temp_buffers = '512MB'")
        try db.execute(
            """
            CREATE TEMP TABLE \(name) ON COMMIT DROP AS
            SELECT NULL::bigint AS line, \(cols)\(extra) FROM \(table) WITH NO DATA
            """)
    }

    struct StreamResult {
        var rows = 0
        var loaded = 0
        var candidates: [[String]] = []
        var insurers: Set<String> = []
    }

    /// What a failed import records: the cause without data values (a database error's
    /// message and SQLSTATE, never its detail, which may quote a row).
    static func failureText(_ error: Error) -> String {
        if let e = error as? DatabaseError { return "database error \(e.sqlState ?? ""): \(e.message)" }
        if let e = error as? FileWriteError { return e.description }
        if let e = error as? FileReadError { return e.description }
        return String(describing: type(of: error))
    }

    /// A regular file's size in bytes; nil for a pipe, a FIFO or standard input.
    static func size(of path: String) -> Int? {
        guard path != "-", let a = try? FileManager.default.attributesOfItem(atPath: path),
            a[.type] as? FileAttributeType == .typeRegular
        else { return nil }
        return (a[.size] as? NSNumber)?.intValue
    }

    /// Is this the first load of the insurer named on the file's first row? Reads the first
    /// records; the caller rewinds.
    private func isFirstLoad(_ reader: CSVReader) throws -> Bool {
        var insurer: String?
        var index: Int?
        try reader.forEachRecord { r in
            if index == nil {
                index = (0..<r.count).first { r.string($0).trimmingCharacters(in: .whitespaces).lowercased() == "insurer_number" }
                return index != nil
            }
            if let i = index, i < r.count { insurer = r.string(i) }
            return false
        }
        guard let insurer else { return false }
        return try db.query("SELECT NOT EXISTS (SELECT 1 FROM member WHERE insurer_number = $1)", [insurer]).scalar == "t"
    }

    /// The insurers of the rows sent (known while streaming; a duplicate row rejected later
    /// still names an insurer of the file).
    private func addInsurers(_ insurers: Set<String>) throws {
        for insurer in insurers.sorted() {
            try db.execute("INSERT INTO insurer (insurer_number) VALUES ($1) ON CONFLICT DO NOTHING", [insurer])
        }
    }

    /// Appends the spilled rejects to import_reject.
    private func loadSpill(_ spill: BufferedFileWriter) throws {
        try db.copyIn("COPY import_reject (import_id, line, column_name, value, reason, member_id) FROM STDIN") { w in
            try spill.readBack { try w.write($0) }
        }
    }

    /// Reads every record and streams the good rows through COPY (as `target` says: into a
    /// staging table with their line number, whole or only their keys and digest, or straight
    /// into `member`); bad rows go to the spill file. The reader's thread parses the CSV and
    /// sends; the records are validated and encoded on worker threads (`ParallelEncoder`), and
    /// come back in file order.
    ///
    /// `only`: read again for the rows of these lines (ascending), which were all good the
    /// first time; nothing is counted or rejected then.
    private func streamRows(
        reader: CSVReader, format: FeedFormat, importID: Int, target: RowEncoder.Target,
        spill: BufferedFileWriter, into table: String = "pg_temp.stage",
        only wanted: LineList? = nil
    ) throws -> StreamResult {
        var result = StreamResult()
        var filter = KeyFilter(keyColumns: format.keyColumns.count)
        let keyIndexes = format.keyColumns.map { format.index(of: $0)! }
        let copySQL =
            target == .direct
            ? "COPY member (\(format.columns.map(\.name).joined(separator: ", ")), row_digest, created_by_import, updated_by_import) FROM STDIN (FORMAT binary)"
            : "COPY \(table) FROM STDIN (FORMAT binary)"
        let columnTypes = try self.columnTypes(format)
        var next = try wanted?.next()
        var encoders: ParallelEncoder?
        defer { encoders?.stop() }
        result.loaded = try db.copyIn(copySQL) { copy in
            try copy.write(CopyBinary.header)
            var keyFields: [Int] = []  // file columns of the key
            var headerCount = 0
            var rows = 0
            func emit(_ batch: RecordBatch) throws {
                if wanted != nil && (batch.refusal != nil || !batch.rejects.isEmpty) {
                    throw Self.fileChanged(reader.path)
                }
                if let refusal = batch.refusal { throw refusal }
                try batch.out.withUnsafeBytes { try copy.write($0) }
                if !batch.rejects.isEmpty { try spill.write(bytes: batch.rejects) }
                result.insurers.formUnion(batch.insurers)
            }
            try reader.forEachRecord { record in
                if headerCount == 0 {
                    let map = try self.checkHeader(record, format)
                    keyFields = keyIndexes.map { map[$0] }
                    headerCount = record.count
                    precondition(
                        headerCount == map.filter { $0 >= 0 }.count,
                        "checkHeader accepts exactly the format's columns, the optional ones or not")
                    encoders = ParallelEncoder(
                        try RowEncoder(
                            format: format, map: map, target: target, importID: importID,
                            columnTypes: columnTypes))
                    return true
                }
                if wanted != nil {
                    guard let line = next else { return false }
                    if record.line < line { return true }
                    guard record.line == line else { throw Self.fileChanged(reader.path) }
                    next = try wanted!.next()
                    try encoders!.add(record, emit)
                    return true
                }
                rows += 1
                if rows & 4095 == 0, let progress = self.progress { progress(rows, reader.bytesRead, Self.size(of: reader.path)) }
                // Every key that can be read goes into the filter, rejected rows too: a
                // candidate too many is checked exactly (and is no duplicate), none is missed.
                if target != .direct && record.malformed == nil && record.count == headerCount {
                    filter.add(record, fields: keyFields)
                }
                try encoders!.add(record, emit)
                return true
            }
            if wanted != nil && (headerCount == 0 || next != nil) { throw Self.fileChanged(reader.path) }
            if headerCount == 0 {
                throw Refusal(message: "the file is empty; expected a header row: \(format.columns.map(\.name).joined(separator: ","))")
            }
            try encoders!.finish(emit)
            try copy.write(CopyBinary.trailer)
            result.rows = rows
        }
        result.candidates = filter.candidates
        return result
    }

    /// The type of each of the format's columns in the feed's table (the staging tables copy
    /// them), for COPY's binary format.
    private func columnTypes(_ format: FeedFormat) throws -> [CopyBinary.ColumnType] {
        let table = Self.table(format)
        let rows = try db.query(
            """
            SELECT attname, format_type(atttypid, NULL) FROM pg_attribute
            WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
            """, [table]
        ).rows
        var byName: [String: String] = [:]
        for r in rows { byName[r[0]!] = r[1]! }
        return try format.columns.map { column in
            guard let name = byName[column.name], let type = CopyBinary.ColumnType(sqlName: name) else {
                throw Refusal(
                    message:
                        "\(table).\(column.name) is \(byName[column.name].map { "of type \($0)" } ?? "missing"), which this version cannot load; run `kakunin db migrate` with this version"
                )
            }
            return type
        }
    }

    /// The table a feed's rows end in.
    static func table(_ format: FeedFormat) -> String {
        switch format.name {
        case .members: return "member"
        case .mynaStatus: return "myna_status"
        case .applications: return "application"
        case .establishments: return "establishment"
        }
    }

    /// Maps the header to the format's columns, in any order (-1: an optional column the file
    /// leaves out, read as blank on every row); refuses a wrong header. The
    /// message never quotes what was found (a file without a header starts with a member's
    /// data): only column names close to an expected one are named, the rest are counted.
    private func checkHeader(_ record: CSVRecord, _ format: FeedFormat) throws -> [Int] {
        let expected = format.columns.map(\.name)
        let want = "Expected the header row: \(expected.joined(separator: ","))"
        var names: [String] = []
        for i in 0..<record.count {
            let f = record.field(i)
            if f.contains(0) {
                throw Refusal(
                    message:
                        "the header holds NUL bytes: the file looks like UTF-16 or a binary file; feeds must be UTF-8 (convert with `iconv -f UTF-16LE -t UTF-8 FILE > FILE.utf8`)"
                )
            }
            if f.contains(13) {
                throw Refusal(
                    message:
                        "the file uses CR-only line ends (old Mac format), so it reads as one line; convert it: tr '\\r' '\\n' < FILE > FILE.lf"
                )
            }
            guard FieldValidator.isValidUTF8(f) else {
                throw Refusal(
                    message: "the header is not UTF-8; feeds must be UTF-8: convert with `iconv -f CP932 -t UTF-8 FILE > FILE.utf8`")
            }
            names.append(record.string(i).trimmingCharacters(in: .whitespaces).lowercased())
        }
        if let bad = names.first(where: FieldValidator.isIndividualNumberHeader) {
            let shown = bad.count <= 40 ? "'\(bad)'" : "at position \(names.firstIndex(of: bad)! + 1)"
            throw Refusal(
                message:
                    "column \(shown) is an Individual Number (個人番号) column; kakunin never stores Individual Numbers: remove the column from the extract and import again"
            )
        }
        let optional = Set(format.columns.filter(\.optional).map(\.name))
        let missing = expected.filter { !names.contains($0) && !optional.contains($0) }
        let unexpected = names.enumerated().filter { !expected.contains($0.element) }
        var dupes: [String] = []
        for n in Set(names) where expected.contains(n) && names.filter({ $0 == n }).count > 1 { dupes.append(n) }
        if !names.contains(where: expected.contains) {
            throw Refusal(
                message:
                    "this is not a \(format.name.rawValue) feed: the first line has \(record.count) fields and none of them is a column name of the feed (a file without its header row starts with data). \(want)"
            )
        }
        if !missing.isEmpty || !unexpected.isEmpty || !dupes.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing column(s) \(missing.joined(separator: ", "))") }
            var named: [String] = []
            var unnamed: [Int] = []
            for (position, name) in unexpected {
                if let close = missing.first(where: {
                    ParameterFile.editDistance($0, name) <= 2
                        || (name.count >= 4 && ($0.contains(name) || name.contains($0)))
                }) {
                    named.append("'\(name)' (did you mean \(close)?)")
                } else {
                    unnamed.append(position + 1)
                }
            }
            if !named.isEmpty { parts.append("unexpected column(s) \(named.prefix(10).joined(separator: ", "))") }
            if !unnamed.isEmpty {
                let where_ = unnamed.prefix(10).map(String.init).joined(separator: ", ") + (unnamed.count > 10 ? ", …" : "")
                parts.append(
                    "\(unnamed.count) field(s) that are not column names of the feed, at position(s) \(where_) (not shown: they may hold data)"
                )
            }
            if !dupes.isEmpty { parts.append("repeated column(s) \(dupes.sorted().joined(separator: ", "))") }
            throw Refusal(message: "this is not a \(format.name.rawValue) feed: \(parts.joined(separator: "; ")). \(want)")
        }
        return expected.map { names.firstIndex(of: $0) ?? -1 }
    }

    // MARK: - Set-based checks and merge

    /// Rejects every copy of a key that appears more than once. Only the candidates the key
    /// filter flagged are checked, so a clean file costs one scan of the stage at most.
    private func rejectDuplicates(_ format: FeedFormat, importID: Int, candidates: [[String]]) throws {
        let key = format.keyColumns.joined(separator: ", ")
        let join = format.keyColumns.map { "s.\($0) = d.\($0)" }.joined(separator: " AND ")
        // The filter has no false negatives: without candidates no key was seen twice.
        if let first = candidates.first, !first.isEmpty {
            let arrays = candidates.map {
                "{"
                    + $0.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
                    .joined(separator: ",") + "}"
            }
            let unnest = format.keyColumns.indices.map { "$\($0 + 1)::text[]" }.joined(separator: ", ")
            let cast = format.keyColumns.map { "c.\($0)::\($0 == "status_as_of" || $0 == "received_on" ? "date" : "text")" }
            try db.execute(
                """
                CREATE TEMP TABLE dup ON COMMIT DROP AS
                SELECT \(key), array_agg(line ORDER BY line) AS lines FROM pg_temp.stage
                WHERE (\(key)) IN (SELECT \(cast.joined(separator: ", ")) FROM unnest(\(unnest)) AS c(\(key)))
                GROUP BY \(key) HAVING count(*) > 1
                """, arrays)
            try db.execute(
                """
                WITH gone AS (
                    DELETE FROM pg_temp.stage s USING pg_temp.dup d WHERE \(join)
                    RETURNING s.line, s.\(format.rowIdentifier) AS row_id, d.lines)
                INSERT INTO import_reject (import_id, line, column_name, value, reason, member_id)
                SELECT $1, line, '\(format.rowIdentifier)', row_id,
                       'the same key (\(key)) appears on lines ' || array_to_string(lines, ', ') || '; fix the extract so it appears once',
                       row_id
                FROM gone
                """, [String(importID)])
        }
        if format.name == .mynaStatus || format.name == .applications {
            try db.execute(
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

    /// Finds the staged members (keys and row digests) that are new or changed, by one join on
    /// the digests (sql/016) that reads only the stored keys and digests; returns their count.
    /// A re-import of an unchanged extract stops here.
    private func findChanged(_ format: FeedFormat) throws -> Int {
        let on = format.keyColumns.map { "t.\($0) = s.\($0)" }.joined(separator: " AND ")
        return try db.query(
            """
            CREATE TEMP TABLE changed ON COMMIT DROP AS
            SELECT s.line, s.row_digest, t.member_id IS NULL AS is_new, t.member_id IS NOT NULL AND t.row_digest IS NULL AS legacy
            FROM pg_temp.stage s LEFT JOIN member t ON \(on)
            WHERE t.member_id IS NULL OR t.row_digest IS DISTINCT FROM s.row_digest
            """
        ).affectedRows
    }

    /// Reads the file again for the lines `findChanged` found and stages those rows whole
    /// (`changed_rows`). Their line numbers wait in a nameless owner-only file, so memory does
    /// not grow with their number. Each row must give the digest it gave the first time: a file
    /// rewritten while it is imported is refused, not half loaded.
    private func stageChangedRows(
        reader: CSVReader, format: FeedFormat, importID: Int, spill: BufferedFileWriter,
        scratch: URL
    ) throws {
        let lines = try OwnerOnlyFile.anonymous(in: scratch, label: "changed lines of import \(importID)")
        _ = try db.copyOut("COPY (SELECT line FROM pg_temp.changed ORDER BY line) TO STDOUT") { try lines.write($0) }
        try lines.flush()
        try createStage(format, name: "changed_rows")
        reader.onChunk = nil  // the file's hash was taken on the first reading
        try reader.rewind()
        _ = try streamRows(
            reader: reader, format: format, importID: importID, target: .stage, spill: spill,
            into: "pg_temp.changed_rows", only: LineList(lines))
        let differing = try db.query(
            """
            SELECT count(*) FROM pg_temp.changed c LEFT JOIN pg_temp.changed_rows r USING (line)
            WHERE r.row_digest IS DISTINCT FROM c.row_digest
            """
        ).scalar
        if differing != "0" { throw Self.fileChanged(reader.path) }
    }

    static func fileChanged(_ path: String) -> FileReadError {
        FileReadError(
            path: path,
            reason:
                "the file changed while it was being imported (its rows differ from the first reading); import it again once it is complete"
        )
    }

    /// SQL: the `columns` of row `a` differ from those of row `b` (NULLs compare equal).
    static func differ(_ columns: [String], _ a: String, _ b: String) -> String {
        "(\(columns.map { "\(a).\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(columns.map { "\(b).\($0)" }.joined(separator: ", ")))"
    }

    /// SQL: snapshot `a` repeats snapshot `b` (earlier), but its last use falls out of the usage
    /// test's recent window that `b`'s still covered (last_used_on ≥ status_as_of − 3 months,
    /// SPEC.md 2.4; the SQL month step clamps like LocalDate's). The test counts back from the
    /// snapshot's date, so such a repeat is marked (status_changed): the marked snapshot the facts
    /// query reads then decides the test as the latest one would. The window only closes once
    /// per last use, so a member whose use stopped costs one mark more, not one a month.
    /// `a`: the snapshot's alias (or "" for unqualified columns); `previous`: the earlier
    /// snapshot's status_as_of.
    static func recentUseLapses(_ a: String, previous: String) -> String {
        let months = MynaStatus.recentUseMonths
        let q = a.isEmpty ? "" : a + "."
        return """
            coalesce(\(q)last_used_on >= (\(previous) - interval '\(months) months')::date
                     AND \(q)last_used_on < (\(q)status_as_of - interval '\(months) months')::date, false)
            """
    }

    /// Recomputes the marks (status_changed, sql/019) of the members in `pg_temp.myna_remark`
    /// from all their snapshots: the first and every one that differs from the one before.
    /// Only the marks that change are written.
    private func remarkSnapshots(_ data: [String]) throws {
        let values = "(\(data.joined(separator: ", ")))"
        let previous = "(\(data.map { "lag(\($0)) OVER w" }.joined(separator: ", ")))"
        try db.execute(
            """
            UPDATE myna_status t SET status_changed = x.changed
            FROM (SELECT insurer_number, member_id, status_as_of,
                         row_number() OVER w = 1 OR \(values) IS DISTINCT FROM \(previous)
                                OR \(Self.recentUseLapses("", previous: "lag(status_as_of) OVER w")) AS changed
                  FROM myna_status
                  WHERE (insurer_number, member_id) IN (SELECT insurer_number, member_id FROM pg_temp.myna_remark)
                  WINDOW w AS (PARTITION BY insurer_number, member_id ORDER BY status_as_of)) x
            WHERE t.insurer_number = x.insurer_number AND t.member_id = x.member_id AND t.status_as_of = x.status_as_of
              AND t.status_changed <> x.changed
            """)
    }

    /// Inserts new rows and updates changed ones; returns (inserted, updated).
    private func merge(_ format: FeedFormat, importID: Int) throws -> (Int, Int) {
        let id = String(importID)
        let keys = format.keyColumns
        let on = keys.map { "t.\($0) = s.\($0)" }.joined(separator: " AND ")
        switch format.name {
        case .members:
            let data = format.columns.map(\.name).filter { !keys.contains($0) }
            let all = format.columns.map(\.name)
            let differs = Self.differ(data, "t", "s")
            // The new and changed rows (findChanged, stageChangedRows), whole. A member stored
            // without a digest ("legacy") is compared column by column below, and gets its
            // digest without counting as changed.
            try db.execute(
                """
                CREATE TEMP TABLE delta ON COMMIT DROP AS
                SELECT r.*, c.is_new, c.legacy FROM pg_temp.changed_rows r JOIN pg_temp.changed c USING (line)
                """)
            // The database keeps each change in member_history (trigger member_history_kept).
            // Whether a row changed is decided against the stored row before the update.
            let updated = Int(
                try db.query(
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
            let inserted = try db.query(
                """
                INSERT INTO member (\(all.joined(separator: ", ")), row_digest, created_by_import, updated_by_import)
                SELECT \(all.map { "s.\($0)" }.joined(separator: ", ")), s.row_digest, $1, $1 FROM pg_temp.delta s WHERE s.is_new
                """, [id]
            ).affectedRows
            return (inserted, updated)
        case .mynaStatus:
            let data = format.columns.map(\.name).filter { !keys.contains($0) }
            let all = format.columns.map(\.name)
            let differs = Self.differ(data, "t", "s")
            // The members whose marks (status_changed, sql/019) must be recomputed from all
            // their snapshots: a snapshot corrected, inserted before a later one, or several in
            // one file. A monthly extract, one later snapshot per member, needs none of that.
            try db.execute("CREATE TEMP TABLE myna_remark (insurer_number text, member_id text) ON COMMIT DROP")
            let updated = try db.query(
                """
                WITH u AS (
                    UPDATE myna_status t SET \(data.map { "\($0) = s.\($0)" }.joined(separator: ", ")), import_id = $1
                    FROM pg_temp.stage s WHERE \(on) AND \(differs)
                    RETURNING t.insurer_number, t.member_id)
                INSERT INTO pg_temp.myna_remark SELECT * FROM u
                """, [id]
            ).affectedRows
            // Each new snapshot is marked against the member's latest marked one, which carries
            // the values of their latest snapshot (changes only: the partial index's rows). The
            // members to re-mark: a new snapshot not after that change, several in the file, or
            // a change with later snapshots (which may now differ from it).
            let inserted = Int(
                try db.query(
                    """
                    WITH n AS MATERIALIZED (
                        SELECT s.*, p.status_as_of AS previous_change,
                               \(Self.differ(data, "s", "p")) OR \(Self.recentUseLapses("s", previous: "p.status_as_of")) AS changed
                        FROM pg_temp.stage s
                        LEFT JOIN (SELECT DISTINCT ON (insurer_number, member_id) * FROM myna_status
                                   WHERE status_changed
                                   -- Backwards along the partial index: no sort (half the time of
                                   -- sorting only the file's members, for a monthly extract).
                                   ORDER BY insurer_number DESC, member_id DESC, status_as_of DESC) p
                               ON p.insurer_number = s.insurer_number AND p.member_id = s.member_id
                        WHERE NOT EXISTS (SELECT 1 FROM myna_status t WHERE \(on))),
                    several AS (
                        SELECT insurer_number, member_id FROM pg_temp.stage GROUP BY 1, 2 HAVING count(*) > 1),
                    ins AS (
                        INSERT INTO myna_status (\(all.joined(separator: ", ")), import_id, status_changed)
                        SELECT \(all.joined(separator: ", ")), $1, changed FROM n
                        RETURNING 1),
                    remark AS (
                        INSERT INTO pg_temp.myna_remark
                        SELECT n.insurer_number, n.member_id FROM n
                        WHERE n.status_as_of <= n.previous_change
                           OR (n.insurer_number, n.member_id) IN (SELECT * FROM several)
                           OR n.changed AND EXISTS (SELECT 1 FROM myna_status t WHERE t.insurer_number = n.insurer_number
                                                    AND t.member_id = n.member_id AND t.status_as_of > n.status_as_of))
                    SELECT count(*) FROM ins
                    """, [id]
                ).scalar!)!
            try remarkSnapshots(data)
            return (inserted, updated)
        case .establishments:
            return try mergeEstablishments(format, importID: importID)
        case .applications:
            // Serialise with the nightly run, which holds its insurer's row locked from before
            // it reads the facts until it commits: either the run sees these changes, or it has
            // fulfilled the applications before they are touched here (and they are kept).
            try db.execute(
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
            try db.execute(
                """
                UPDATE pg_temp.stage s SET reject_reason = CASE WHEN s.status = 'rejected' THEN 'REJECTED_BY_INSURER' END
                FROM member m
                WHERE s.reject_reason = 'NO_BASIS' AND m.insurer_number = s.insurer_number AND m.member_id = s.member_id
                  AND m.scheme = 'elderly'
                  AND coalesce((SELECT v.parameters->>'elderly_apply_without_basis' FROM insurer_parameter_version v
                                WHERE v.insurer_number = s.insurer_number AND v.effective_from <= s.received_on
                                ORDER BY v.effective_from DESC LIMIT 1), 'on') = 'on'
                """)
            try db.execute("UPDATE pg_temp.stage SET status = 'rejected' WHERE reject_reason = 'NO_BASIS'")
            // A fulfilled application is history: a later feed does not change it.
            let updated = try db.query(
                """
                UPDATE application t SET basis = s.basis, status = s.status, reject_reason = s.reject_reason,
                       import_id = $1, updated_at = now()
                FROM pg_temp.stage s
                WHERE \(on) AND t.fulfilled_on IS NULL
                  AND (t.basis, t.status, t.reject_reason) IS DISTINCT FROM (s.basis, s.status, s.reject_reason)
                """, [id]
            ).affectedRows
            let inserted = try db.query(
                """
                INSERT INTO application (insurer_number, member_id, kind, received_on, basis, status, reject_reason, source, import_id)
                SELECT s.insurer_number, s.member_id, s.kind, s.received_on, s.basis, s.status, s.reject_reason, 'import', $1
                FROM pg_temp.stage s
                WHERE NOT EXISTS (SELECT 1 FROM application t WHERE \(on))
                """, [id]
            ).affectedRows
            return (inserted, updated)
        }
    }

    /// [2026-12] Establishments: new ones inserted, changed ones updated (the database keeps
    /// each change in establishment_history, sql/032); an establishment the file leaves out
    /// stays as it is.
    private func mergeEstablishments(_ format: FeedFormat, importID: Int) throws -> (Int, Int) {
        let id = String(importID)
        let keys = format.keyColumns
        let on = keys.map { "t.\($0) = s.\($0)" }.joined(separator: " AND ")
        let data = format.columns.map(\.name).filter { !keys.contains($0) }
        let all = format.columns.map(\.name)
        let updated = try db.query(
            """
            UPDATE establishment t SET \(data.map { "\($0) = s.\($0)" }.joined(separator: ", ")),
                   updated_by_import = $1, updated_at = now()
            FROM pg_temp.stage s WHERE \(on) AND \(Self.differ(data, "t", "s"))
            """, [id]
        ).affectedRows
        let inserted = try db.query(
            """
            INSERT INTO establishment (\(all.joined(separator: ", ")), created_by_import, updated_by_import)
            SELECT \(all.map { "s.\($0)" }.joined(separator: ", ")), $1, $1 FROM pg_temp.stage s
            WHERE NOT EXISTS (SELECT 1 FROM establishment t WHERE \(on))
            """, [id]
        ).affectedRows
        return (inserted, updated)
    }

    private func finishImport(_ s: inout ImportSummary, bytes: Int) throws {
        try db.execute(
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
        try AuditLog.append(db, action, importID: importID, details: details)
    }

    private func loadRejectSummary(_ s: inout ImportSummary) throws {
        let id = String(s.importID)
        s.rejectsByReason = try db.query(
            """
            SELECT coalesce(column_name, '(row)'), reason, count(*) FROM import_reject WHERE import_id = $1
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 50
            """, [id]
        ).rows.map { ($0[0]!, $0[1]!, Int($0[2]!)!) }
        let personal = Set(FeedFormat.named(s.feed).columns.filter(\.personal).map(\.name))
        s.firstRejects = try db.query(
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

/// Line numbers, one per line in decimal, read back in order from a scratch file.
final class LineList {
    private let file: BufferedFileWriter
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0, end = 0
    private var offset: off_t = 0

    init(_ file: BufferedFileWriter) { self.file = file }

    func next() throws -> Int? {
        var value = 0
        var digits = 0
        while true {
            if start == end {
                let n = try buffer.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
                if n == 0 { return digits > 0 ? value : nil }
                offset += off_t(n)
                start = 0
                end = n
            }
            let b = buffer[start]
            start += 1
            if b == 10 {
                if digits > 0 { return value }
            } else {
                value = value * 10 + Int(b &- 48)
                digits += 1
            }
        }
    }
}
