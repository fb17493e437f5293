import Foundation
import KakuninStore

/// One table's rows, while the stream is out of member order, sent to the database in sorted
/// runs: rows gather in a buffer of `runBytes`; a full buffer is sorted by its key (the member
/// id, byte for byte as the `COLLATE "C"` indexes order it) and becomes the run being sent, a
/// little at a time as new rows come in (`StreamWriter` paces it), in the run's transaction,
/// while the next buffer fills.
///
/// Why (issue 31): a run streams in envelope order. Through employers that is not member
/// order, and rows sent as they come land all over the indexes keyed by member
/// (`decision_pkey`, `notice_pkey`): a cold descent and often a page split per row. A sorted
/// run passes over the index once, from left to right. Sending the runs during the stream keeps
/// both cores busy; held to the end and merged (sessions 7 to 9), they made a tail in which the
/// writer's connection worked alone while the other core waited.
///
/// Memory stays bounded whatever the number of rows: two buffers of `runBytes` per table.
final class MemberOrderRuns {
    /// A row in a buffer: where it starts, its length, and its key within it.
    private struct Entry {
        var start: Int32, length: Int32, keyStart: Int32, keyLength: Int32
    }

    /// Rows in the order they came, and where each lies.
    private struct Buffer {
        var rows: [UInt8] = []
        var entries: [Entry] = []
    }

    private let runBytes: Int
    /// The run being filled, and the run being sent (its entries sorted; `next`: the first
    /// not sent yet).
    private var filling = Buffer(), sending = Buffer()
    private var next = 0
    /// Rows appended, and sorted runs begun.
    private(set) var count = 0
    private(set) var runs = 0

    /// A buffer's size: 2 MiB (KAKUNIN_ORDER_RUN_BYTES: for tests, to make many runs).
    static let runBytes = Int(ProcessInfo.processInfo.environment["KAKUNIN_ORDER_RUN_BYTES"] ?? "") ?? 2 << 20

    init(runBytes: Int = MemberOrderRuns.runBytes) {
        self.runBytes = runBytes
    }

    /// Appends one row (`key`: the range of its sort key within `row`); true once the buffer
    /// holds a run's worth (`startRun`).
    func append(_ row: UnsafeRawBufferPointer, key: Range<Int>) -> Bool {
        filling.entries.append(
            Entry(
                start: Int32(filling.rows.count), length: Int32(row.count), keyStart: Int32(key.lowerBound),
                keyLength: Int32(key.count)))
        filling.rows.append(contentsOf: row)
        count += 1
        return filling.rows.count >= runBytes
    }

    var isEmpty: Bool { filling.entries.isEmpty && !hasRunToSend }

    /// Whether the run being sent has rows not sent yet.
    var hasRunToSend: Bool { next < sending.entries.count }

    /// The full buffer becomes the run being sent, sorted; the previous run must have been
    /// sent whole (`sendSome`). An empty buffer begins no run.
    func startRun() {
        precondition(!hasRunToSend, "a sorted run was begun before the previous one was sent")
        guard !filling.entries.isEmpty else { return }
        swap(&filling, &sending)
        filling.rows.removeAll(keepingCapacity: true)
        filling.entries.removeAll(keepingCapacity: true)
        sort(&sending)
        next = 0
        runs += 1
    }

    /// Sends at least `bytes` of the run being sent (whole rows), or the rest of it, in key
    /// order through `writer` (the caller's COPY): the caller paces the run with the rows
    /// coming in, so that the server takes it while the next run fills.
    func sendSome(_ writer: CopyInWriter, bytes: Int) throws {
        guard hasRunToSend else { return }
        var sent = 0
        try sending.rows.withUnsafeBytes { b in
            try sending.entries.withUnsafeBufferPointer { e in
                while next < e.count && sent < bytes {
                    let x = e[next]
                    try writer.write(UnsafeRawBufferPointer(rebasing: b[Int(x.start)..<Int(x.start + x.length)]))
                    sent += Int(x.length)
                    next += 1
                }
            }
        }
    }

    /// A buffer's entries in key order (equal keys keep their order: by where they start).
    private func sort(_ buffer: inout Buffer) {
        buffer.rows.withUnsafeBytes { b in
            let base = b.baseAddress!
            buffer.entries.sort { x, y in
                let c = Self.compare(
                    base + Int(x.start + x.keyStart), Int(x.keyLength), base + Int(y.start + y.keyStart), Int(y.keyLength))
                return c != 0 ? c < 0 : x.start < y.start
            }
        }
    }

    /// memcmp order, a prefix first.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return a.count - b.count }
        return compare(pa, a.count, pb, b.count)
    }

    static func compare(_ a: UnsafeRawPointer, _ aCount: Int, _ b: UnsafeRawPointer, _ bCount: Int) -> Int {
        let c = memcmp(a, b, min(aCount, bCount))
        return c != 0 ? Int(c) : aCount - bCount
    }
}

extension CopyBinary {
    /// The length of the binary COPY row at `offset` of `b` and the range of its first field's
    /// bytes within the row (a NULL first field: an empty range).
    static func rowExtent(_ b: UnsafeRawBufferPointer, at offset: Int) -> (length: Int, first: Range<Int>) {
        func int(_ at: Int, _ bytes: Int) -> Int {
            var v: UInt32 = 0
            for i in 0..<bytes { v = v << 8 | UInt32(b[at + i]) }
            return bytes == 4 ? Int(Int32(bitPattern: v)) : Int(v)
        }
        let fields = int(offset, 2)
        var p = offset + 2
        var first = 0..<0
        for f in 0..<fields {
            let n = int(p, 4)
            p += 4
            if f == 0 { first = (p - offset)..<(p - offset + max(n, 0)) }
            if n > 0 { p += n }
        }
        return (p - offset, first)
    }
}
