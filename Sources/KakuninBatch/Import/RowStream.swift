import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The row stream: reads every record and streams the good rows through COPY (as the target
/// says: into a staging table with their line number, whole or only their keys and digest, or
/// straight into `member`); bad rows go to the spill file. The reader's thread parses the CSV
/// and hands the encoded rows to a sending thread (`CopySender`); the records are validated and encoded on worker threads (`ParallelEncoder`), and
/// come back in file order. The header row is checked first (`HeaderCheck`).
struct RowStream {
    let job: ImportJob

    struct Result {
        var rows = 0
        var loaded = 0
        var candidates: [[String]] = []
        var insurers: Set<String> = []
        /// A `.changed` stream's stored members met on more than one good row: their lines.
        var duplicates: [Int: [Int]] = [:]
    }

    /// `only`: read again for the rows of these lines (ascending), which were all good the
    /// first time; nothing is counted or rejected then. `stored`: what a `.changed` stream
    /// compares with.
    func send(
        target: RowEncoder.Target, spill: BufferedFileWriter, into table: String = "pg_temp.stage",
        only wanted: LineList? = nil, stored: StoredDigests? = nil
    ) throws -> Result {
        let format = job.format
        var result = Result()
        let copySQL =
            target == .direct
            ? "COPY member (\(format.columns.map(\.name).joined(separator: ", ")), row_digest, created_by_import, updated_by_import) FROM STDIN (FORMAT binary)"
            : "COPY \(table) FROM STDIN (FORMAT binary)"
        let columnTypes = try self.columnTypes()
        var encoders: ParallelEncoder?
        defer { encoders?.stop() }
        var seen = SeenMembers(count: stored?.count ?? 0)
        result.loaded = try job.db.copyIn(copySQL) { copy in
            // The server takes the rows from a thread of their own (`CopySender`).
            let sender = CopySender(copy)
            defer { sender.stop() }
            try sender.send(copying: CopyBinary.header)
            var rows = try Rows(job: job, target: target, wanted: wanted, stored: stored)
            func emit(_ batch: RecordBatch) throws {
                if wanted != nil && (batch.refusal != nil || !batch.rejects.isEmpty) { throw Self.fileChanged(job.reader.path) }
                if let refusal = batch.refusal { throw refusal }
                try sender.send(&batch.out)
                if !batch.rejects.isEmpty { try spill.write(bytes: batch.rejects) }
                result.insurers.formUnion(batch.insurers)
                seen.add(batch.seen)
                batch.forEachRecord(at: batch.absent) { rows.filter.add($0, fields: rows.keyFields) }
            }
            try job.reader.forEachRecord { record in
                guard let encoders else {
                    encoders = ParallelEncoder(try rows.header(record, columnTypes: columnTypes))
                    return true
                }
                guard try rows.take(record) else { return rows.goOn }
                try encoders.add(record, emit)
                return true
            }
            try rows.finish()
            try encoders!.finish(emit)
            try sender.send(copying: CopyBinary.trailer)
            try sender.finish()
            result.rows = rows.count
            result.candidates = rows.filter.candidates
        }
        result.duplicates = seen.duplicates
        return result
    }

    /// The row stream's bookkeeping on the reader's thread: the header, the rows counted (and
    /// their progress told), the duplicate-key filter, or the lines wanted on a second reading.
    private struct Rows {
        let job: ImportJob
        let target: RowEncoder.Target
        let wanted: LineList?
        let stored: StoredDigests?
        var filter: KeyFilter
        var next: Int?
        var keyFields: [Int] = []  // file columns of the key
        var headerCount = 0
        var count = 0
        /// After `take` said no: whether the reading goes on.
        var goOn = true
        let size: Int?

        init(job: ImportJob, target: RowEncoder.Target, wanted: LineList?, stored: StoredDigests?) throws {
            self.job = job
            self.stored = stored
            self.target = target
            self.wanted = wanted
            filter = KeyFilter(keyColumns: job.format.keyColumns.count)
            next = try wanted?.next()
            size = RowStream.size(of: job.reader.path)
        }

        mutating func header(_ record: CSVRecord, columnTypes: [CopyBinary.ColumnType]) throws -> RowEncoder {
            let format = job.format
            let map = try HeaderCheck(format: format).map(record)
            keyFields = format.keyColumns.map { map[format.index(of: $0)!] }
            headerCount = record.count
            precondition(
                headerCount == map.filter { $0 >= 0 }.count, "HeaderCheck accepts exactly the format's columns, the optional ones or not")
            return try RowEncoder(
                format: format, map: map, target: target, importID: job.importID, columnTypes: columnTypes, stored: stored)
        }

        /// Whether the record goes to the encoders.
        mutating func take(_ record: CSVRecord) throws -> Bool {
            if let wanted {
                guard let line = next else {
                    goOn = false
                    return false
                }
                goOn = true
                if record.line < line { return false }
                guard record.line == line else { throw RowStream.fileChanged(job.reader.path) }
                next = try wanted.next()
                return true
            }
            count += 1
            if count & 4095 == 0, let progress = job.progress { progress(count, job.reader.bytesRead, size) }
            // Every key that can be read goes into the filter, rejected rows too: a
            // candidate too many is checked exactly (and is no duplicate), none is missed. A
            // `.changed` stream's stored members are counted by `SeenMembers`: only its good new
            // rows go into the filter, when their batch comes back (`emit`).
            if target != .direct && target != .changed && record.malformed == nil && record.count == headerCount {
                filter.add(record, fields: keyFields)
            }
            return true
        }

        func finish() throws {
            if wanted != nil && (headerCount == 0 || next != nil) { throw RowStream.fileChanged(job.reader.path) }
            if headerCount == 0 {
                throw FeedImporter.Refusal(
                    message: "the file is empty; expected a header row: \(job.format.columns.map(\.name).joined(separator: ","))")
            }
        }
    }

    /// The type of each of the format's columns in the feed's table (the staging tables copy
    /// them), for COPY's binary format.
    private func columnTypes() throws -> [CopyBinary.ColumnType] {
        let table = FeedImporter.table(job.format)
        let rows = try job.db.query(
            """
            SELECT attname, format_type(atttypid, NULL) FROM pg_attribute
            WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
            """, [table]
        ).rows
        var byName: [String: String] = [:]
        for r in rows { byName[r[0]!] = r[1]! }
        return try job.format.columns.map { column in
            guard let name = byName[column.name], let type = CopyBinary.ColumnType(sqlName: name) else {
                throw FeedImporter.Refusal(
                    message:
                        "\(table).\(column.name) is \(byName[column.name].map { "of type \($0)" } ?? "missing"), which this version cannot load; run `kakunin db migrate` with this version"
                )
            }
            return type
        }
    }

    /// The insurers of the rows sent (known while streaming; a duplicate row rejected later
    /// still names an insurer of the file).
    static func addInsurers(_ insurers: Set<String>, _ db: Connection) throws {
        for insurer in insurers.sorted() {
            try db.execute("INSERT INTO insurer (insurer_number) VALUES ($1) ON CONFLICT DO NOTHING", [insurer])
        }
    }

    /// A regular file's size in bytes; nil for a pipe, a FIFO or standard input.
    static func size(of path: String) -> Int? {
        guard path != "-", let a = try? FileManager.default.attributesOfItem(atPath: path),
            a[.type] as? FileAttributeType == .typeRegular
        else { return nil }
        return (a[.size] as? NSNumber)?.intValue
    }

    static func fileChanged(_ path: String) -> FileReadError {
        FileReadError(
            path: path,
            reason:
                "the file changed while it was being imported (its rows differ from the first reading); import it again once it is complete"
        )
    }
}

/// The stored members a `.changed` stream met, in file order: a member met on a second good row
/// is a key twice in the file (all its lines are rejected, as the staged check does).
struct SeenMembers {
    /// Each stored member's first line, 0 when not met yet.
    private var first: [Int]
    private(set) var duplicates: [Int: [Int]] = [:]

    init(count: Int) { first = [Int](repeating: 0, count: count) }

    mutating func add(_ rows: [RecordBatch.Seen]) {
        for r in rows {
            let m = Int(r.member)
            if first[m] == 0 {
                first[m] = r.line
            } else {
                duplicates[m, default: [first[m]]].append(r.line)
            }
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
