import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The first load of an insurer's members: the rows go straight into `member` (no staging),
/// into an empty table with its keys and indexes built once after the COPY (sql/016). A key
/// twice in the file (a unique violation) rolls the attempt back, and the import goes on as a
/// merge (`FeedMerge`), which rejects every copy of that key.
struct FirstLoad {
    let job: ImportJob

    /// nil when this is no first load of members (or it was abandoned for a duplicate key):
    /// the caller merges.
    func run(spill: BufferedFileWriter, clock: PhaseClock) throws -> LoadCounts? {
        guard job.format.name == .members, try isFirstLoad() else { return nil }
        let db = job.db
        // Back to the first byte (the peek above read some): the hash covers the file once.
        try job.rewind()
        try db.execute("SAVEPOINT direct_load")
        do {
            // Into an empty member table, secondary indexes are built after the COPY (sql/016).
            let deferred = try db.query("SELECT member_bulk_load_begin()").scalar == "t"
            let result = try RowStream(job: job).send(target: .direct, spill: spill)
            let counts = LoadCounts(rows: result.rows, inserted: result.loaded, bytes: job.reader.bytesRead)
            try RowStream.addInsurers(result.insurers, db)
            clock.lap("direct copy")
            if deferred {
                // A key twice in the file fails here, building the primary key.
                try db.execute("SELECT member_bulk_load_end()")
                clock.lap("keys and indexes")
            }
            try db.execute("RELEASE SAVEPOINT direct_load")
            return counts
        } catch let e as DatabaseError where e.sqlState == "23505" {
            try db.execute("ROLLBACK TO SAVEPOINT direct_load")
            clock.lap("direct copy (abandoned: duplicate key)")
            return nil
        }
    }

    /// Is this the first load of the insurer named on the file's first row? Reads the first
    /// records; the caller rewinds.
    private func isFirstLoad() throws -> Bool {
        guard let insurer = try Self.firstInsurer(job.reader) else { return false }
        return try job.db.query("SELECT NOT EXISTS (SELECT 1 FROM member WHERE insurer_number = $1)", [insurer]).scalar == "t"
    }

    /// The insurer named on the file's first row (nil without a header naming insurer_number,
    /// or without a row). Reads the first records; the caller rewinds.
    private static func firstInsurer(_ reader: CSVReader) throws -> String? {
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
        return insurer
    }
}
