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
///
/// Member order (issue 31): the decisions go straight into their COPY while they come in
/// member order (an employee insurer delivered home). From the first that does not (delivery
/// through employers, nhi households) the decisions, and the rows of each side that has
/// `MemberOrderRuns`, gather there instead and are sent in sorted runs as each fills, while
/// the stream goes on: indexes keyed by member then take each run in one pass, left to right.
final class StreamWriter: @unchecked Sendable {  // safe: each part one thread's at a time (WorkerThread); `free` Locked
    /// A table fed from a spool: its COPY statement (text format) and how far it was sent.
    struct Side {
        let sql: String
        let spool: CopySpool
        /// Where its rows gather once the stream has left member order (nil: always sent as they come).
        let inOrder: MemberOrderRuns?
        /// Bytes of the spool sent (or held) so far, and in how many COPYs.
        var sent = 0, copies = 0
        var rows = CopyTextRows()
    }

    private let db: Connection
    private let decisionsSQL: String
    private var sides: [Side]
    /// Where the decisions gather once they have left member order (nil: a dry run's, never held).
    private let decisionsInOrder: MemberOrderRuns?
    /// Set at the first decision out of member order; the last member id sent before it.
    private var holding = false
    private var lastKey: [UInt8] = []
    /// The first decisions, in member order so far, not sent yet (`take`); nil once sent or held.
    private var pending: [UInt8]? = []
    static let probationBytes = 1 << 20
    private let switchBytes: Int
    /// At most `maxQueued` chunks wait for the server, and `maxFree` sent ones for the stream.
    static let chunkBytes = 1 << 15, maxQueued = 64, maxFree = 16

    /// The stream's thread's chunk being filled.
    private var chunk: [UInt8] = []
    /// Chunks sent, emptied, for the stream to fill again.
    private let free = Locked<[[UInt8]]>([])
    private var worker: WorkerThread<[UInt8]>!
    // The writer thread's, until it has exited: the decisions' COPY in progress, if any.
    private var current: CopyInWriter?
    private var decisionsLoaded = 0
    /// Per side, the bytes sent while the stream ran (before the last round).
    private var sentDuringStream: [Int] = []
    private(set) var switches = 0

    /// Begins the decisions' COPY on the caller's thread (a statement the server refuses fails
    /// here), then hands the connection to the writer thread until `finish` or `stop`.
    init(
        db: Connection, decisionsSQL: String, sides: [(sql: String, spool: CopySpool, inOrder: MemberOrderRuns?)],
        decisionsInOrder: MemberOrderRuns?, switchBytes: Int = 1 << 18
    ) throws {
        self.db = db
        self.decisionsSQL = decisionsSQL
        self.sides = sides.map { Side(sql: $0.sql, spool: $0.spool, inOrder: $0.inOrder) }
        self.decisionsInOrder = decisionsInOrder
        self.switchBytes = switchBytes
        _ = try decisionsCopy()
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

    /// Hands the last decisions over and lets the writer's thread send the rest of the spools
    /// (and what was held for member order) without waiting for it: `finish` waits. The spools
    /// must be complete (`CopySpool.complete`).
    func endInput() throws {
        if !chunk.isEmpty { try flush() }
        worker.endInput()
    }

    /// Waits until every decision handed over is sent, ends the decisions' COPY and sends the
    /// rest of the spools, which must be complete (`CopySpool.complete`). Returns the decisions
    /// loaded, per side the bytes that had been sent during the stream, and the decisions and
    /// notices (the last side) sent in sorted runs.
    func finish() throws -> (
        decisions: Int, sentDuringStream: [Int], held: (decisions: Int, notices: Int), runs: (decisions: Int, notices: Int)
    ) {
        if !chunk.isEmpty { try flush() }
        try worker.finish()
        return (
            decisionsLoaded, sentDuringStream, (decisionsInOrder?.count ?? 0, sides.last?.inOrder?.count ?? 0),
            (decisionsInOrder?.runs ?? 0, sides.last?.inOrder?.runs ?? 0)
        )
    }

    /// Stops the writer thread without finishing (the stream failed): the COPY in progress is
    /// aborted, which fails the transaction. Safe to call again.
    func stop() {
        worker.stop()
    }

    /// One chunk of decisions (the writer thread), then the spools when one has grown enough.
    private func send(_ c: inout [UInt8]) throws {
        try take(c)
        var spent: [UInt8] = []
        swap(&spent, &c)
        spent.removeAll(keepingCapacity: true)
        free.withLock { if $0.count < Self.maxFree { $0.append(spent) } }
        if sides.contains(where: { $0.spool.flushedBytes - $0.sent >= switchBytes }) {
            // A round: the decisions' COPY ends around the spools' (and begins again with the
            // next decisions sent as they come).
            try endDecisions()
            try sendSpools()
            switches += 1
        }
    }

    /// The decisions' COPY in progress, begun if none is.
    private func decisionsCopy() throws -> CopyInWriter {
        if let current { return current }
        let c = try db.startCopyIn(decisionsSQL)
        try c.write(CopyBinary.header)
        current = c
        return c
    }

    /// Whole decision rows: sent while they come in member order, held in sorted runs from the
    /// first that does not. The first `probationBytes` of them wait in `pending` before they
    /// are sent: a stream out of member order shows it within them (through employers: at the
    /// second establishment), and they then go into the first run with the rest.
    private func take(_ c: [UInt8]) throws {
        guard let held = decisionsInOrder else { return try decisionsCopy().write(c) }
        try c.withUnsafeBytes { b in
            let ordered = holding ? 0 : orderedPrefix(b)
            let prefix = UnsafeRawBufferPointer(rebasing: b[0..<ordered])
            if !holding {
                guard ordered < b.count else { return try pass(prefix) }
                holding = true
                if let waiting = pending {
                    pending = nil
                    try waiting.withUnsafeBytes { try hold($0, in: held) }
                    try hold(prefix, in: held)
                } else if !prefix.isEmpty {
                    try decisionsCopy().write(prefix)
                }
            }
            try hold(UnsafeRawBufferPointer(rebasing: b[ordered...]), in: held)
        }
        if holding && held.hasRunToSend { try held.sendSome(decisionsCopy(), bytes: Self.pace(c.count)) }
    }

    /// How much of a sorted run to send for `bytes` held: a little more, so that a run is
    /// sent whole before the next has filled (else the next would wait for it).
    static func pace(_ bytes: Int) -> Int { bytes + bytes / 4 }

    /// Decision rows in member order: into `pending` while on probation, else sent.
    private func pass(_ rows: UnsafeRawBufferPointer) throws {
        guard pending != nil else { return try decisionsCopy().write(rows) }
        pending!.append(contentsOf: rows)
        if pending!.count >= Self.probationBytes { try sendPending() }
    }

    private func sendPending() throws {
        guard let waiting = pending else { return }
        pending = nil
        try decisionsCopy().write(waiting)
    }

    /// Whole decision rows into the held decisions, keyed by member id; a full buffer becomes
    /// the next sorted run.
    private func hold(_ b: UnsafeRawBufferPointer, in held: MemberOrderRuns) throws {
        var offset = 0
        while offset < b.count {
            let (length, key) = CopyBinary.rowExtent(b, at: offset)
            if held.append(UnsafeRawBufferPointer(rebasing: b[offset..<offset + length]), key: key) { try startRun(held) }
            offset += length
        }
    }

    /// The held decisions' next sorted run, once the previous one is sent whole.
    private func startRun(_ held: MemberOrderRuns) throws {
        if held.hasRunToSend { try held.sendSome(decisionsCopy(), bytes: .max) }
        held.startRun()
        try FailPoint.hit("send:held:decisions")
    }

    /// The bytes of the leading rows of `b` whose member ids (the first field) ascend from `lastKey`.
    private func orderedPrefix(_ b: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while offset < b.count {
            let (length, key) = CopyBinary.rowExtent(b, at: offset)
            let id = UnsafeRawBufferPointer(rebasing: b[offset + key.lowerBound..<offset + key.upperBound])
            if !lastKey.isEmpty, lastKey.withUnsafeBytes({ MemberOrderRuns.compare($0, id) }) >= 0 { return offset }
            lastKey.removeAll(keepingCapacity: true)
            lastKey.append(contentsOf: id)
            offset += length
        }
        return offset
    }

    /// The last decisions are sent (the writer thread, after `finish`): the rest of the spools,
    /// then the last sorted runs.
    private func sendRest() throws {
        try sendPending()
        if let held = decisionsInOrder, !held.isEmpty {
            try startRun(held)
            if held.hasRunToSend { try held.sendSome(decisionsCopy(), bytes: .max) }
        }
        try endDecisions()
        sentDuringStream = sides.map(\.sent)
        try sendSpools()
        for i in sides.indices {
            guard let held = sides[i].inOrder, !held.isEmpty else { continue }
            try startRun(held, side: i)
            if held.hasRunToSend { try copy(sides[i].sql) { try held.sendSome($0, bytes: .max) } }
        }
    }

    /// A side's next sorted run, once the previous one is sent whole (in a COPY of its own).
    private func startRun(_ held: MemberOrderRuns, side i: Int) throws {
        if held.hasRunToSend { try copy(sides[i].sql) { try held.sendSome($0, bytes: .max) } }
        held.startRun()
        try FailPoint.hit("send:held:\(i)")
    }

    private func endDecisions() throws {
        guard let c = current else { return }
        current = nil
        try c.write(CopyBinary.trailer)
        decisionsLoaded += try db.endCopyIn(c, decisionsSQL)
    }

    /// One COPY of `sql` whose rows `body` writes; a failure aborts it.
    private func copy(_ sql: String, _ body: (CopyInWriter) throws -> Void) throws {
        let w = try db.startCopyIn(sql)
        do {
            try body(w)
        } catch {
            db.abortCopyIn()
            throw error
        }
        try db.endCopyIn(w, sql)
    }

    /// Sends what the spools hold (flushed) beyond what was sent, a COPY per spool; a spool
    /// with `MemberOrderRuns` gathers its rows there instead once the decisions have left
    /// member order, and sends each run that fills.
    private func sendSpools() throws {
        for i in sides.indices {
            let upTo = sides[i].spool.flushedBytes
            guard upTo > sides[i].sent else { continue }
            if holding, let held = sides[i].inOrder {
                var rows = sides[i].rows
                try sides[i].spool.read(from: sides[i].sent, upTo: upTo) { try rows.feed($0, into: held) { try startRun(held, side: i) } }
                sides[i].rows = rows
                let fed = upTo - sides[i].sent
                if held.hasRunToSend { try copy(sides[i].sql) { try held.sendSome($0, bytes: Self.pace(fed)) } }
            } else {
                try copy(sides[i].sql) { w in
                    try sides[i].spool.send(to: w, from: sides[i].sent, upTo: upTo)
                    try FailPoint.hit("send:\(i):\(sides[i].copies + 1)")
                }
                sides[i].copies += 1
            }
            sides[i].sent = upTo
        }
    }
}

/// COPY text rows (lines) split out of the chunks they arrive in, each held with its first
/// field (the member id) as its key; `full` is called when a run's worth is held.
struct CopyTextRows {
    private var partial: [UInt8] = []

    mutating func feed(_ b: UnsafeRawBufferPointer, into held: MemberOrderRuns, full: () throws -> Void) throws {
        var start = 0
        while start < b.count, let found = memchr(b.baseAddress! + start, Int32(UInt8(ascii: "\n")), b.count - start) {
            let end = b.baseAddress!.distance(to: UnsafeRawPointer(found))
            if partial.isEmpty {
                if hold(UnsafeRawBufferPointer(rebasing: b[start...end]), into: held) { try full() }
            } else {
                partial.append(contentsOf: b[start...end])
                if partial.withUnsafeBytes({ hold($0, into: held) }) { try full() }
                partial.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
        partial.append(contentsOf: b[start...])
    }

    private func hold(_ row: UnsafeRawBufferPointer, into held: MemberOrderRuns) -> Bool {
        let tab =
            memchr(row.baseAddress!, Int32(UInt8(ascii: "\t")), row.count).map { row.baseAddress!.distance(to: UnsafeRawPointer($0)) }
            ?? row.count - 1
        return held.append(row, key: 0..<tab)
    }
}
