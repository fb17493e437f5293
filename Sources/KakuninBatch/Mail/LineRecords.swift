import Foundation
import KakuninRuntime

#if canImport(Glibc)
import Glibc
#endif

/// A vendor file read one record per line (its fields hold no line ends: control characters
/// never reach a vendor file), fields split on commas outside quotes. Fields are bytes in the
/// file's encoding; the ids and numbers compared are ASCII in both. The record read last
/// (`peek`) is kept in memory of the reader's own, reused from record to record: reading
/// allocates nothing and counts no references per record or field.
final class LineRecords {
    let path: String
    let name: String
    private let fd: Int32
    // 256 KiB: the check reads four files at once, beside the record counts (grows for a longer line).
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)
    private var start = 0, end = 0, eof = false
    private(set) var header: [String] = []
    /// The current record, `loaded` until consumed.
    private var fields = Fields()
    private var loaded = false

    init(_ url: URL) throws {
        path = url.path
        name = url.lastPathComponent
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
        header = try peek() ? (0..<count).map(text) : []
        consume()
    }

    deinit {
        close(fd)
        fields.deallocate()
    }

    /// Keeps only `columns` of the records read from now on; a record is then indexed by the
    /// position of the column in `columns`.
    func keep(_ columns: [Int]) { fields.keep(columns) }

    /// Reads the next record, unless the one read last is not consumed yet; false at the end.
    func peek() throws -> Bool {
        if !loaded { loaded = try readRecord() }
        return loaded
    }

    /// Done with the current record: the next `peek` reads on.
    func consume() { loaded = false }

    /// The current record's number of fields (kept ones, once `keep` was called).
    var count: Int { fields.count }

    func withField<R>(_ k: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R { try body(fields.field(k)) }

    func field(_ k: Int, equals other: [UInt8]) -> Bool {
        let f = fields.field(k)
        return other.withUnsafeBufferPointer { o in
            f.count == o.count && (f.isEmpty || memcmp(f.baseAddress!, o.baseAddress!, f.count) == 0)
        }
    }

    /// A copy of field `k`.
    func field(_ k: Int) -> [UInt8] { Array(fields.field(k)) }

    /// Field `k` copied into `out` (its capacity kept).
    func copyField(_ k: Int, to out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: fields.field(k))
    }

    func text(_ k: Int) -> String { String(decoding: fields.field(k), as: UTF8.self) }

    func integer(_ k: Int) -> Int? { EnvelopeCheck.integer(fields.field(k)) }

    private func readRecord() throws -> Bool {
        while true {
            if let nl = newline() {
                split(start, nl)
                start = nl + 1
                return true
            }
            if eof {
                guard start < end else { return false }
                split(start, end)
                start = end
                return true
            }
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            }
            if end == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBufferPointer { read(fd, $0.baseAddress! + end, $0.count - end) }
            if n < 0 { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { eof = true } else { end += n }
        }
    }

    /// The index of the next line end in the buffer, nil when the buffer holds none (memchr:
    /// the check reads hundreds of megabytes).
    private func newline() -> Int? {
        guard start < end else { return nil }
        return buffer.withUnsafeBytes { b -> Int? in
            guard let p = memchr(b.baseAddress! + start, 10, end - start) else { return nil }
            return UnsafeRawPointer(p) - b.baseAddress!
        }
    }

    /// The line `from..<to` of the buffer into `fields`.
    private func split(_ from: Int, _ to: Int) {
        buffer.withUnsafeBufferPointer { b in
            let line = UnsafeBufferPointer(rebasing: b[from..<to])
            if !Self.fastSplit(line, &fields) { Self.split(line, &fields) }
        }
    }

    /// The common case, without copying byte by byte: a line with no quote and no CR but at
    /// its end, fields between commas, only the kept ones copied. False: take the general path.
    static func fastSplit(_ b: UnsafeBufferPointer<UInt8>, _ f: inout Fields) -> Bool {
        f.reset()
        guard let base = b.baseAddress else { return false }
        var n = b.count
        if n > 0 && base[n - 1] == 13 { n -= 1 }
        var index = 0
        var start = 0
        while true {
            let p = nextSpecial(base, start, n)
            if p < n && base[p] != 44 { return false }  // a quote or a CR: the general path
            f.set(index, base + start, p - start)
            index += 1
            if p == n { return true }
            start = p + 1
            // Past the last kept column: the rest of the line (a letter's quoted paragraphs)
            // cannot change the fields before it.
            if f.pastKept(index) { return true }
        }
    }

    /// The first comma, quote or CR of `from..<to`, `to` when there is none: eight bytes at a
    /// time (a byte equal to c is a zero byte of the word xor c, found without a branch per byte).
    @inline(__always)
    static func nextSpecial(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        var i = from
        while i + 8 <= to {
            let v = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
            // The lowest bit set marks the first match exactly (a false mark only follows a true one).
            let m = zeroBytes(v ^ (ones &* 44)) | zeroBytes(v ^ (ones &* 34)) | zeroBytes(v ^ (ones &* 13))
            if m != 0 { return i + m.trailingZeroBitCount / 8 }
            i += 8
        }
        while i < to {
            let c = p[i]
            if c == 44 || c == 34 || c == 13 { return i }
            i += 1
        }
        return to
    }

    /// The fields of a line, quotes undone (only the kept ones, when `keep` was called).
    static func split(_ line: UnsafeBufferPointer<UInt8>, _ f: inout Fields) {
        f.reset()
        var field: [UInt8] = []
        var index = 0
        var quoted = false
        var i = 0
        func close() {
            field.withUnsafeBufferPointer { f.set(index, $0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            field.removeAll(keepingCapacity: true)
        }
        while i < line.count {
            let b = line[i]
            if quoted {
                if b == 34 {
                    if i + 1 < line.count && line[i + 1] == 34 {
                        field.append(34)
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(b)
                }
            } else if b == 34 {
                quoted = true
            } else if b == 44 {
                close()
                index += 1
            } else if b != 13 {
                field.append(b)
            }
            i += 1
        }
        close()
    }

    /// The fields of one record in memory of their own (raw: no reference counting in the
    /// loops), grown as needed and kept from record to record. Field k is
    /// `bytes[starts[k]..<ends[k]]`.
    struct Fields {
        private var bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 1024)
        private var capacity = 1024, used = 0
        private var starts = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        private var ends = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        private var slotsCapacity = 64
        /// Column → its position in a kept record (-1: not kept).
        private var slots: [Int] = []
        /// How many columns are kept (0: all of them, as many as the line has).
        private var kept = 0
        private(set) var count = 0

        mutating func keep(_ columns: [Int]) {
            kept = columns.count
            slots = Array(repeating: -1, count: (columns.max() ?? -1) + 1)
            for (k, c) in columns.enumerated() { slots[c] = k }
            reserveFields(kept)
        }

        func deallocate() {
            bytes.deallocate()
            starts.deallocate()
            ends.deallocate()
        }

        func field(_ k: Int) -> UnsafeBufferPointer<UInt8> {
            precondition(k >= 0 && k < count, "field \(k) of a record of \(count)")
            return UnsafeBufferPointer(start: bytes + starts[k], count: ends[k] - starts[k])
        }

        /// Every kept field empty until the line sets it.
        mutating func reset() {
            used = 0
            count = kept
            for k in 0..<kept {
                starts[k] = 0
                ends[k] = 0
            }
        }

        /// Whether the line's field `index` is past every kept column (never when all are kept).
        func pastKept(_ index: Int) -> Bool { kept > 0 && index >= slots.count }

        /// The line's field `index` (`n` bytes at `from`), copied when it is kept.
        @inline(__always)
        mutating func set(_ index: Int, _ from: UnsafePointer<UInt8>, _ n: Int) {
            let k: Int
            if kept == 0 {
                k = count
                count += 1
                reserveFields(count)
            } else {
                guard index < slots.count else { return }
                k = slots.withUnsafeBufferPointer { $0[index] }
                guard k >= 0 else { return }
            }
            if used + n > capacity { grow(used + n) }
            (bytes + used).update(from: from, count: n)
            starts[k] = used
            used += n
            ends[k] = used
        }

        private mutating func grow(_ needed: Int) {
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: max(needed, capacity * 2))
            bigger.update(from: bytes, count: used)
            bytes.deallocate()
            bytes = bigger
            capacity = max(needed, capacity * 2)
        }

        private mutating func reserveFields(_ n: Int) {
            guard n > slotsCapacity else { return }
            let size = max(n, slotsCapacity * 2)
            for p in [\Self.starts, \Self.ends] {
                let bigger = UnsafeMutablePointer<Int>.allocate(capacity: size)
                bigger.update(from: self[keyPath: p], count: slotsCapacity)
                self[keyPath: p].deallocate()
                self[keyPath: p] = bigger
            }
            slotsCapacity = size
        }
    }
}
