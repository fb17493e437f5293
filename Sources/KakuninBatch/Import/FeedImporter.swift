import Crypto
import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// Imports one feed file (SPEC.md section 4) as four named steps: the header check
/// (`HeaderCheck`), the row stream (`RowStream`: parse, validate and encode on worker threads,
/// send through COPY), a first load (`FirstLoad`) or a merge (`FeedMerge`) per feed, and the
/// reject report (`RejectReport`).
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
        try OwnerOnlyFile.makeDirectory(reportDirectory)
        try BatchLogin.requireBypassRLS(db)
        let reader = try CSVReader(path: path, spoolDirectory: reportDirectory)
        let fileName = path == "-" ? "(standard input)" : path
        let importID = try startImport(feed, fileName)
        // Held while this process lives: `imports list` shows a killed import as abandoned.
        try db.execute("SELECT pg_advisory_lock($1::int, $2::int)", [String(Self.importLockClass), String(importID)])
        defer { try? db.execute("SELECT pg_advisory_unlock($1::int, $2::int)", [String(Self.importLockClass), String(importID)]) }
        let job = ImportJob(
            db: db, reader: reader, format: FeedFormat.named(feed), importID: importID, scratch: reportDirectory,
            progress: progress)
        var summary = ImportSummary(importID: importID, feed: feed, file: fileName, status: .loaded)
        let report = RejectReport(job: job, host: host, shownRejects: shownRejects)
        do {
            try db.transaction { try load(job, report, &summary) }
        } catch let unreadable as CSVUnreadable {
            try report.refuse(&summary, unreadable.message)
        } catch let refusal as Refusal {
            try report.refuse(&summary, refusal.message)
        } catch {
            try? db.execute(
                "UPDATE import SET status = 'failed', refusal = $2, finished_at = now() WHERE import_id = $1",
                [String(importID), Self.failureText(error)])
            throw error
        }
        summary.seconds = Date().timeIntervalSince(started)
        try report.publish(&summary)
        return summary
    }

    private func startImport(_ feed: FeedFormat.Name, _ fileName: String) throws -> Int {
        Int(
            try db.query(
                "INSERT INTO import (feed, file_name, status, host) VALUES ($1, $2, 'running', $3) RETURNING import_id",
                [feed.rawValue, fileName, host]
            ).scalar!)!
    }

    /// Inside the import's transaction: the rows streamed and loaded (a first load of an
    /// insurer's members straight into `member`, anything else merged), the rejects stored,
    /// the import row finished.
    private func load(_ job: ImportJob, _ report: RejectReport, _ summary: inout ImportSummary) throws {
        // Imports of one feed run one after the other: two imports of the same new
        // members at once would otherwise both insert them.
        try db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ["kakunin.import:\(job.format.name.rawValue)"])
        // The duplicate check and the merge hash a million rows: keep that in memory.
        try db.execute("SET LOCAL work_mem = '256MB'")
        let clock = PhaseClock()
        // Rejects wait in a nameless owner-only file: a killed import leaves nothing.
        var spill = try job.newSpill()
        var loaded = try FirstLoad(job: job).run(spill: spill, clock: clock)
        if loaded == nil {
            spill = try job.newSpill()
            loaded = try FeedMerge(job: job).run(spill: spill, clock: clock)
        }
        CrashPoint.hit("import:streamed")
        try report.store(spill)
        let counts = loaded!
        summary.rowsRead = counts.rows
        summary.inserted = counts.inserted
        summary.updated = counts.updated
        summary.rowsRejected = try report.rejectedLines()
        summary.rowsLoaded = summary.rowsRead - summary.rowsRejected
        summary.unchanged = summary.rowsLoaded - summary.inserted - summary.updated
        summary.status = summary.rowsRejected > 0 ? .loadedWithRejects : .loaded
        summary.fileSHA256 = job.hash.hex()
        try report.finish(&summary, bytes: counts.bytes)
        clock.lap("finish")
        summary.phases = clock.phases
    }

    /// What a failed import records: the cause without data values (a database error's
    /// message and SQLSTATE, never its detail, which may quote a row).
    static func failureText(_ error: Error) -> String {
        if let e = error as? DatabaseError { return "database error \(e.sqlState ?? ""): \(e.message)" }
        if let e = error as? FileWriteError { return e.description }
        if let e = error as? FileReadError { return e.description }
        return String(describing: type(of: error))
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
}

/// What every step of one import shares: the connection (inside the import's transaction),
/// the input, the feed's format, the import's id and where its scratch files go.
struct ImportJob {
    let db: Connection
    let reader: CSVReader
    let format: FeedFormat
    let importID: Int
    let scratch: URL
    let progress: ((_ rows: Int, _ bytes: Int, _ size: Int?) -> Void)?
    /// The file's SHA-256, taken as it is read (started again when the reading starts again).
    let hash: FileHash

    init(
        db: Connection, reader: CSVReader, format: FeedFormat, importID: Int, scratch: URL,
        progress: ((_ rows: Int, _ bytes: Int, _ size: Int?) -> Void)?
    ) {
        self.db = db
        self.reader = reader
        self.format = format
        self.importID = importID
        self.scratch = scratch
        self.progress = progress
        let hash = FileHash()
        self.hash = hash
        reader.onChunk = { hash.sha.update(bufferPointer: $0) }
    }

    /// Back to the file's first byte; the hash starts again with it.
    func rewind() throws {
        try reader.rewind()
        hash.sha = SHA256()
    }

    /// A nameless owner-only file for the rejects of one reading of the file.
    func newSpill() throws -> BufferedFileWriter {
        try OwnerOnlyFile.anonymous(in: scratch, label: "rejects of import \(importID)")
    }
}

/// A file's SHA-256 while it is read.
final class FileHash {
    var sha = SHA256()
    func hex() -> String { KakuninRuntime.hex(sha.finalize()) }
}

/// How many rows a step read and what it stored.
struct LoadCounts {
    var rows = 0, inserted = 0, updated = 0
    /// The file's bytes read.
    var bytes = 0
}

/// The import's phases and how long each took (shown in the report's `took:` line).
final class PhaseClock {
    private(set) var phases: [(String, Double)] = []
    private var last = Date()

    func lap(_ name: String) {
        let now = Date()
        phases.append((name, now.timeIntervalSince(last)))
        last = now
    }
}
