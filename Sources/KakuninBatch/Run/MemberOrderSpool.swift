import Foundation
import KakuninRuntime
import KakuninStore

/// One table's rows held until the stream ends, then sent in the order of their key (the
/// member id, byte for byte as the `COLLATE "C"` indexes order it): an external merge sort.
///
/// Why (issue 31): a run streams in envelope order. Where that is not member order (delivery
/// through employers, nhi households), rows sent as they come land all over the indexes keyed
/// by member (`decision_pkey`, `notice_pkey`): a descent and often a half-full page split per
/// row. Sent in member order they append at the right edge of each index.
///
/// Memory stays bounded whatever the number of rows: rows gather in a buffer of `runBytes`;
/// a full buffer is sorted and written as one sorted run to a nameless owner-only file (like
/// `CopySpool`'s, gone with the process); `send` merges the runs with one read buffer each,
/// 8 MiB in all (64 KiB each up to 128 runs, i.e. 512 MiB held; at least 8 KiB each beyond
/// 1,024 runs: 4 GiB of rows, about 14 million decisions of one insurer).
final class MemberOrderSpool {
    /// A row in the buffer: where it starts, its length, and its key within it.
    private struct Entry {
        var start: Int32, length: Int32, keyStart: Int32, keyLength: Int32
    }

    private let directory: URL
    private let label: String
    private let runBytes: Int
    private var rows: [UInt8] = []
    private var entries: [Entry] = []
    /// Created with the first run written (a spool never filled makes no file).
    private var file: BufferedFileWriter?
    /// Where each sorted run lies in the file.
    private var runs: [Range<Int>] = []
    private(set) var count = 0

    /// The buffer's size: 4 MiB (KAKUNIN_ORDER_RUN_BYTES: for tests, to make many runs).
    static let runBytes = Int(ProcessInfo.processInfo.environment["KAKUNIN_ORDER_RUN_BYTES"] ?? "") ?? 4 << 20

    /// Each run record in the file: row length (UInt32), key start and length (UInt16 each), row.
    static let recordHeader = 8

    init(directory: URL, label: String, runBytes: Int = MemberOrderSpool.runBytes) {
        self.directory = directory
        self.label = label
        self.runBytes = runBytes
    }

    /// Appends one row; `key` is the range of its sort key within `row`.
    func append(_ row: UnsafeRawBufferPointer, key: Range<Int>) throws {
        if !rows.isEmpty, rows.count + row.count > runBytes { try writeRun() }
        entries.append(
            Entry(start: Int32(rows.count), length: Int32(row.count), keyStart: Int32(key.lowerBound), keyLength: Int32(key.count)))
        rows.append(contentsOf: row)
        count += 1
    }

    /// Sends every row appended, in key order, through `writer` (the caller begins and ends
    /// the COPY). A spool that never filled its buffer is sorted in memory and sent from there.
    func send(to writer: CopyInWriter) throws {
        guard !runs.isEmpty else {
            try rows.withUnsafeBytes { b in
                for e in sorted(b) { try writer.write(UnsafeRawBufferPointer(rebasing: b[Int(e.start)..<Int(e.start + e.length)])) }
            }
            return
        }
        if !entries.isEmpty { try writeRun() }
        try MemberOrderMerge(file: file!, runs: runs).send(to: writer)
    }

    /// The buffer's entries in key order (equal keys keep their order: by where they start).
    private func sorted(_ b: UnsafeRawBufferPointer) -> [Entry] {
        let base = b.baseAddress!
        return entries.sorted { x, y in
            let c = Self.compare(base + Int(x.start + x.keyStart), Int(x.keyLength), base + Int(y.start + y.keyStart), Int(y.keyLength))
            return c != 0 ? c < 0 : x.start < y.start
        }
    }

    /// The buffer, sorted, as the next run of the file; the buffer is emptied.
    private func writeRun() throws {
        if file == nil { file = try OwnerOnlyFile.anonymous(in: directory, label: "spool file for \(label) in member order") }
        let f = file!
        let start = f.bytesWritten
        try rows.withUnsafeBytes { b in
            for e in sorted(b) {
                try f.append { out in
                    Self.appendBigEndian(UInt32(e.length), bytes: 4, to: &out)
                    Self.appendBigEndian(UInt32(e.keyStart), bytes: 2, to: &out)
                    Self.appendBigEndian(UInt32(e.keyLength), bytes: 2, to: &out)
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[Int(e.start)..<Int(e.start + e.length)]))
                }
            }
        }
        try f.flush()
        runs.append(start..<f.bytesWritten)
        rows.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
    }

    static func appendBigEndian(_ v: UInt32, bytes: Int, to out: inout [UInt8]) {
        for i in stride(from: bytes - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
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

/// The k-way merge of a `MemberOrderSpool`'s sorted runs: a reader per run, a binary heap of
/// the readers by their current row's key (ties: the earlier run first).
private struct MemberOrderMerge {
    let file: BufferedFileWriter
    let runs: [Range<Int>]

    func send(to writer: CopyInWriter) throws {
        var heap: [MemberOrderRunReader] = []
        // 64 KiB per run, less (not under 8 KiB) once there are more than 128 runs (512 MiB held).
        let bufferSize = max(8 << 10, min(64 << 10, (8 << 20) / max(runs.count, 1)))
        for (i, r) in runs.enumerated() {
            let reader = MemberOrderRunReader(file: file, run: r, index: i, bufferSize: bufferSize)
            if try reader.advance() { heap.append(reader) } else { reader.release() }
        }
        defer { for reader in heap { reader.release() } }
        for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(&heap, i) }
        while let top = heap.first {
            try writer.write(top.row)
            if try !top.advance() {
                top.release()
                heap.swapAt(0, heap.count - 1)
                heap.removeLast()
            }
            if !heap.isEmpty { siftDown(&heap, 0) }
        }
    }

    private func less(_ a: MemberOrderRunReader, _ b: MemberOrderRunReader) -> Bool {
        let c = MemberOrderSpool.compare(a.keyPointer, a.keyLength, b.keyPointer, b.keyLength)
        return c != 0 ? c < 0 : a.index < b.index
    }

    private func siftDown(_ heap: inout [MemberOrderRunReader], _ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < heap.count, less(heap[l], heap[m]) { m = l }
            if r < heap.count, less(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
}

/// One sorted run read back in order through a buffer of its own.
private final class MemberOrderRunReader {
    let index: Int
    private let file: BufferedFileWriter
    private var next: Int
    private let end: Int
    private var buffer: UnsafeMutableRawBufferPointer
    /// Bytes of the buffer holding data, and where the current record begins.
    private var filled = 0, position = 0
    private var rowStart = 0, rowLength = 0

    init(file: BufferedFileWriter, run: Range<Int>, index: Int, bufferSize: Int) {
        self.file = file
        self.index = index
        next = run.lowerBound
        end = run.upperBound
        buffer = .allocate(byteCount: bufferSize, alignment: 1)
    }

    func release() {
        buffer.deallocate()
        buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    var row: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer.baseAddress! + rowStart, count: rowLength) }
    /// The current row's key (valid until `advance`).
    private(set) var keyPointer = UnsafeRawPointer(bitPattern: 1)!
    private(set) var keyLength = 0

    /// Moves to the run's next record; false at its end.
    func advance() throws -> Bool {
        position = rowStart + rowLength
        guard try have(MemberOrderSpool.recordHeader) else { return false }
        let h = UnsafeRawBufferPointer(rebasing: buffer[position..<position + MemberOrderSpool.recordHeader])
        let length = Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3])
        let keyStart = Int(h[4]) << 8 | Int(h[5])
        let keyLength = Int(h[6]) << 8 | Int(h[7])
        guard try have(MemberOrderSpool.recordHeader + length) else {
            throw FileWriteError(path: file.path, "reading back failed: a sorted run ends inside a row")
        }
        rowStart = position + MemberOrderSpool.recordHeader
        rowLength = length
        keyPointer = UnsafeRawPointer(buffer.baseAddress! + rowStart + keyStart)
        self.keyLength = keyLength
        return true
    }

    /// Whether `n` bytes from `position` are in the buffer, reading more (and making room) as needed.
    private func have(_ n: Int) throws -> Bool {
        if filled - position >= n { return true }
        if next >= end { return false }
        let kept = filled - position
        if n > buffer.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 2 * buffer.count), alignment: 1)
            bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[position..<filled]))
            buffer.deallocate()
            buffer = bigger
        } else if kept > 0 {
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + position, byteCount: kept)
        }
        filled = kept
        position = 0
        rowStart = 0
        rowLength = 0
        while filled < n, next < end {
            let want = min(buffer.count - filled, end - next)
            let got = try file.read(at: off_t(next), into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + want]))
            if got == 0 { throw FileWriteError(path: file.path, "reading back failed: the file ends early") }
            filled += got
            next += got
        }
        return filled >= n
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
