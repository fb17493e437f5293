import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// The fields of one CSV record, quoted (RFC 4180) as they are appended.
struct RecordLine {
    var bytes: [UInt8] = []
    /// Where each field begins in `bytes`.
    var starts: [Int] = []

    init() {
        bytes.reserveCapacity(1024)
        starts.reserveCapacity(48)
    }
    private init(empty: Void) {}
    /// A placeholder that allocates nothing.
    static let empty = RecordLine(empty: ())

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
    }

    @inline(__always) private mutating func separator() {
        if !starts.isEmpty { bytes.append(UInt8(ascii: ",")) }
        starts.append(bytes.count)
    }

    /// Bytes of field `i` as written (quoted if it needed quotes).
    func length(_ i: Int) -> Int { (i + 1 < starts.count ? starts[i + 1] - 1 : bytes.count) - starts[i] }

    func range(_ i: Int) -> Range<Int> { starts[i]..<(i + 1 < starts.count ? starts[i + 1] - 1 : bytes.count) }

    /// Scalars of field `i` as written, counted on the bytes (no more than the characters a
    /// limit counts, plus any quotes): a field within its limit by this count needs no String.
    func scalars(_ i: Int) -> Int {
        var n = 0
        for b in bytes[range(i)] where b & 0xC0 != 0x80 { n += 1 }
        return n
    }

    /// Field `i`'s value, unquoted.
    func value(_ i: Int) -> String {
        let end = i + 1 < starts.count ? starts[i + 1] - 1 : bytes.count
        let raw = bytes[starts[i]..<end]
        guard raw.first == 34 else { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: raw.dropFirst().dropLast(), as: UTF8.self).replacingOccurrences(of: "\"\"", with: "\"")
    }

    mutating func field(_ v: UnsafeBufferPointer<UInt8>) {
        separator()
        CSVBytes.appendQuoted(v, to: &bytes)
    }

    mutating func field(_ v: [UInt8]) { v.withUnsafeBufferPointer { field($0) } }

    mutating func field(_ s: String) {
        var s = s
        s.withUTF8 { field($0) }
    }

    /// A column of a decoded row; NULL is an empty field.
    mutating func field(_ r: CopyRow, _ i: Int) {
        r.withField(i) { field($0) }
    }

    mutating func int(_ n: Int64?) {
        separator()
        if let n { LetterBatch.appendDigits(n, to: &bytes) }
    }

    /// The date and, in the next column, its era form.
    mutating func date(_ d: LocalDate?) {
        separator()
        guard let d else {
            bytes.append(UInt8(ascii: ","))
            starts.append(bytes.count)
            return
        }
        starts.append(EraCache.shared.append(d, to: &bytes))
    }

    mutating func date(_ r: CopyRow, _ i: Int) { date(try? r.date(i)) }
}

/// `2026-12-01,令和8年12月1日` for each date seen, so a run formats each distinct date once.
/// Bounded by the calendar, not by the number of members. One for the process (the files share
/// it: at 1M members their birth dates alone are tens of thousands of days); the texts are kept
/// in one buffer and appended from it, no array handed out per date.
final class EraCache: @unchecked Sendable {  // safe: `texts`, `slots` and `at` are read and written only while `lock` is held
    static let shared = EraCache()
    private var texts: [UInt8] = []
    /// A date's text by its day number from `firstDay` (the years 1900–2199: every birth date
    /// and validity a run writes): an array read, no hashing, per date written.
    private var slots: [Slot]
    /// Dates outside those years.
    private var at: [Int32: Slot] = [:]
    private let lock = NSLock()
    private static let firstDay = LocalDate(year: 1900, month: 1, day: 1)!.dayNumber
    private static let dayCount = Int(LocalDate(year: 2200, month: 1, day: 1)!.dayNumber - firstDay)

    /// Where a date's text is in `texts`: `start..<end`, the comma at `comma` (0 ..< 0: not made yet).
    private struct Slot {
        var start: Int32 = 0, comma: Int32 = 0, end: Int32 = 0
    }

    init() {
        slots = Array(repeating: Slot(), count: Self.dayCount)
    }

    /// Appends the date and its era form, a comma between; returns where the era form begins in `out`.
    func append(_ d: LocalDate, to out: inout [UInt8]) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let k = Int(d.dayNumber) - Int(Self.firstDay)
        let inRange = k >= 0 && k < slots.count
        var e = inRange ? slots[k] : at[d.dayNumber] ?? Slot()
        if e.end == 0 {
            e = make(d)
            if inRange { slots[k] = e } else { at[d.dayNumber] = e }
        }
        let base = out.count
        texts.withUnsafeBufferPointer { out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[Int(e.start)..<Int(e.end)])) }
        return base + Int(e.comma - e.start) + 1
    }

    private func make(_ d: LocalDate) -> Slot {
        let start = texts.count
        texts.append(contentsOf: d.description.utf8)
        let comma = texts.count
        texts.append(UInt8(ascii: ","))
        texts.append(contentsOf: (JapaneseEra.format(d) ?? "").utf8)
        return Slot(start: Int32(start), comma: Int32(comma), end: Int32(texts.count))
    }
}

/// CSV quoting on bytes (RFC 4180): a field with a comma, quote, CR or LF is quoted, quotes doubled.
enum CSVBytes {
    static func appendQuoted(_ v: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var needs = false
        for b in v where b == 44 || b == 34 || b == 10 || b == 13 {
            needs = true
            break
        }
        guard needs else {
            out.append(contentsOf: v)
            return
        }
        out.append(34)
        for b in v {
            if b == 34 { out.append(34) }
            out.append(b)
        }
        out.append(34)
    }
}
