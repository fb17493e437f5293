import Foundation
import KakuninRuntime
import KakuninStore

/// The run's writer connection during the stream, on a thread of its own (issue 15).
///
/// The stream's thread hands over the decisions, whole rows of COPY's binary form in chunks;
/// this thread sends them into `decision`. Whenever the spooled rows of the other tables
/// (certificates, notices: written by the mailing thread) have grown by `switchBytes`, it ends
/// the decisions' COPY, sends the new spooled rows into their tables and begins the decisions'
/// COPY again; at the end, once the spools are complete, it sends what they still hold.
/// Everything goes into the run's one transaction, each table's rows in the same
/// order as before; only the server now takes the certificates and notices while the stream
/// still runs, where it used to take them after it, on one core while the other waited.
/// Memory is bounded: at most `maxQueued` chunks wait (2 MiB).
final class StreamWriter: @unchecked Sendable {  // safe: each part one thread's at a time (WorkerThread); `free` Locked
    /// A table fed from a spool: its COPY statement (text format) and how far it was sent.
    struct Side {
        let sql: String
        let spool: CopySpool
        /// Bytes of the spool sent so far, and in how many COPYs.
        var sent = 0, copies = 0
    }

    private let db: Connection
    private let decisionsSQL: String
    private var sides: [Side]
    private let switchBytes: Int
    /// At most `maxQueued` chunks wait for the server, and `maxFree` sent ones for the stream.
    static let chunkBytes = 1 << 15, maxQueued = 64, maxFree = 16

    /// The stream's thread's chunk being filled.
    private var chunk: [UInt8] = []
    /// Chunks sent, emptied, for the stream to fill again.
    private let free = Locked<[[UInt8]]>([])
    private var worker: WorkerThread<[UInt8]>!
    // The writer thread's, until it has exited.
    private var current: CopyInWriter
    private var decisionsLoaded = 0
    /// Per side, the bytes sent while the stream ran (before the last round).
    private var sentDuringStream: [Int] = []
    private(set) var switches = 0

    /// Begins the decisions' COPY on the caller's thread (a statement the server refuses fails
    /// here), then hands the connection to the writer thread until `finish` or `stop`.
    init(db: Connection, decisionsSQL: String, sides: [(sql: String, spool: CopySpool)], switchBytes: Int = 1 << 18) throws {
        self.db = db
        self.decisionsSQL = decisionsSQL
        self.sides = sides.map { Side(sql: $0.sql, spool: $0.spool) }
        self.switchBytes = switchBytes
        current = try db.startCopyIn(decisionsSQL)
        try current.write(CopyBinary.header)
        chunk.reserveCapacity(Self.chunkBytes + 4096)
        worker = WorkerThread(
            maxQueued: Self.maxQueued, process: { [unowned self] in try self.send(&$0) },
            end: { [unowned self] in try self.sendRest() }, abandon: { [unowned self] in self.db.abortCopyIn() })
    }

    /// Appends whole decision rows (the stream's thread); throws the writer thread's error.
    func withBuffer(_ body: (inout [UInt8]) -> Void) throws {
        body(&chunk)
        if chunk.count >= Self.chunkBytes { try flush() }
    }

    private func flush() throws {
        var next = free.withLock { $0.popLast() } ?? []
        if next.capacity < Self.chunkBytes { next.reserveCapacity(Self.chunkBytes + 4096) }
        swap(&next, &chunk)
        try worker.put(next)
    }

    /// Waits until every decision handed over is sent, ends the decisions' COPY and sends the
    /// rest of the spools, which must be complete (`CopySpool.complete`). Returns the decisions
    /// loaded and, per side, the bytes that had been sent during the stream.
    func finish() throws -> (decisions: Int, sentDuringStream: [Int]) {
        if !chunk.isEmpty { try flush() }
        try worker.finish()
        return (decisionsLoaded, sentDuringStream)
    }

    /// Stops the writer thread without finishing (the stream failed): the COPY in progress is
    /// aborted, which fails the transaction. Safe to call again.
    func stop() {
        worker.stop()
    }

    /// One chunk of decisions (the writer thread), then the spools when one has grown enough.
    private func send(_ c: inout [UInt8]) throws {
        try current.write(c)
        var spent: [UInt8] = []
        swap(&spent, &c)
        spent.removeAll(keepingCapacity: true)
        free.withLock { if $0.count < Self.maxFree { $0.append(spent) } }
        if sides.contains(where: { $0.spool.flushedBytes - $0.sent >= switchBytes }) {
            // A round: the decisions' COPY ends and begins again around the spools'.
            try endDecisions()
            try sendSpools()
            switches += 1
            current = try db.startCopyIn(decisionsSQL)
            try current.write(CopyBinary.header)
        }
    }

    /// The last decisions are sent (the writer thread, after `finish`): the rest of the spools.
    private func sendRest() throws {
        try endDecisions()
        sentDuringStream = sides.map(\.sent)
        try sendSpools()
    }

    private func endDecisions() throws {
        try current.write(CopyBinary.trailer)
        decisionsLoaded += try db.endCopyIn(current, decisionsSQL)
    }

    /// Sends what the spools hold (flushed) beyond what was sent, a COPY per spool.
    private func sendSpools() throws {
        for i in sides.indices {
            let upTo = sides[i].spool.flushedBytes
            guard upTo > sides[i].sent else { continue }
            let w = try db.startCopyIn(sides[i].sql)
            do {
                try sides[i].spool.send(to: w, from: sides[i].sent, upTo: upTo)
                try FailPoint.hit("send:\(i):\(sides[i].copies + 1)")
            } catch {
                db.abortCopyIn()
                throw error
            }
            try db.endCopyIn(w, sides[i].sql)
            sides[i].sent = upTo
            sides[i].copies += 1
        }
    }
}
