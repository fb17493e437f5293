#if canImport(Glibc)
import Glibc
#endif

/// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes for tab,
/// newline, carriage return and backslash. Works on bytes, so multi-byte UTF-8 passes through
/// untouched.
public enum CopyText {
    @usableFromInline static let tab: UInt8 = 9, newline: UInt8 = 10, cr: UInt8 = 13, backslash: UInt8 = 92

    /// Whether `appendField` changes the bytes (a backslash, tab, line feed or carriage return).
    @inlinable
    public static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for b in bytes where b == backslash || b == tab || b == newline || b == cr { return true }
        return false
    }

    /// Appends one field, escaped. Does not add a separator.
    @inline(__always)
    public static func appendField(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        // Most fields need no escaping: append them in one go.
        if !needsEscape(bytes) {
            out.append(contentsOf: bytes)
            return
        }
        for b in bytes {
            switch b {
            case backslash:
                out.append(backslash)
                out.append(backslash)
            case tab:
                out.append(backslash)
                out.append(UInt8(ascii: "t"))
            case newline:
                out.append(backslash)
                out.append(UInt8(ascii: "n"))
            case cr:
                out.append(backslash)
                out.append(UInt8(ascii: "r"))
            default: out.append(b)
            }
        }
    }

    public static func appendField(_ s: String?, to out: inout [UInt8]) {
        guard var s else {
            out.append(backslash)
            out.append(UInt8(ascii: "N"))
            return
        }
        s.withUTF8 { appendField($0, to: &out) }
    }

    public static func appendNull(to out: inout [UInt8]) {
        out.append(backslash)
        out.append(UInt8(ascii: "N"))
    }

    public static func appendRow(_ fields: [String?], to out: inout [UInt8]) {
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(tab) }
            appendField(f, to: &out)
        }
        out.append(newline)
    }
}

/// A byte-level parser of COPY text-format rows, as `copyOut` delivers them (one row per
/// chunk, ending in a newline). Decodes `\N`, `\t`, `\n`, `\r`, `\\`, `\b`, `\f`, `\v`, octal
/// `\NNN` and hex `\xHH` escapes.
public struct CopyTextParser {
    private var row = CopyRow()

    public init() {}

    /// Splits one row into fields; nil for SQL NULL.
    public mutating func parseRow(_ bytes: UnsafeRawBufferPointer) -> [String?] {
        row.load(bytes)
        return (0..<row.count).map { row.string($0) }
    }

    /// Decodes the escape at `i` (a backslash with at least one byte after it), appending its
    /// byte to `out`; returns true for `\N`, the NULL marker.
    static func decodeEscape(_ row: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int, into out: inout [UInt8]) -> Bool {
        let e = row[i + 1]
        i += 2
        switch e {
        case UInt8(ascii: "N"): return true  // `\N` alone is NULL; data backslashes are escaped
        case UInt8(ascii: "t"): out.append(CopyText.tab)
        case UInt8(ascii: "n"): out.append(CopyText.newline)
        case UInt8(ascii: "r"): out.append(CopyText.cr)
        case UInt8(ascii: "b"): out.append(8)
        case UInt8(ascii: "f"): out.append(12)
        case UInt8(ascii: "v"): out.append(11)
        case UInt8(ascii: "x"):
            var v: UInt8 = 0
            var n = 0
            while n < 2, i < end, let d = hexValue(row[i]) {
                v = v &* 16 &+ d
                i += 1
                n += 1
            }
            out.append(v)
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var v = e - UInt8(ascii: "0")
            var n = 1
            while n < 3, i < end, row[i] >= UInt8(ascii: "0"), row[i] <= UInt8(ascii: "7") {
                v = v &* 8 &+ (row[i] - UInt8(ascii: "0"))
                i += 1
                n += 1
            }
            out.append(v)
        default: out.append(e)
        }
        return false
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// One decoded COPY row: the unescaped bytes of every field in one buffer, reused from row to
/// row so a stream of millions of rows allocates nothing per row.
public struct CopyRow {
    // Inlinable (with the storage they read): the mailing and stream loops of a run read a
    // field of a row a few dozen times per member; called across the module as generic
    // functions with a closure they cost a run at 1M members about a second of CPU.
    @usableFromInline var bytes: [UInt8] = []
    /// (start, end) of each field in `bytes`; end -1 for NULL.
    @usableFromInline var bounds: [(Int, Int)] = []

    /// The byte buffer is made by the first `load`, as long as that row (it grows to the longest
    /// row loaded).
    public init() {
        bounds.reserveCapacity(64)
    }

    public var count: Int { bounds.count }

    /// Decodes one row as `copyOut` delivers it, reusing this row's storage. Unescaping only
    /// shortens a field, so the row is decoded in place into a buffer as long as the input.
    /// A field is found with `memchr` (the next tab) and, without a backslash (nearly every
    /// field), copied in one `memcpy`; a data tab is always escaped, so a tab ends a field.
    /// The next backslash is looked for once for all the fields before it, not once per field.
    public mutating func load(_ row: UnsafeRawBufferPointer) {
        var end = row.count
        if end > 0 && row[end - 1] == CopyText.newline { end -= 1 }
        if bytes.count < end { bytes = [UInt8](repeating: 0, count: max(end, 2 * bytes.count)) }
        var fields = bounds
        bounds = []
        fields.removeAll(keepingCapacity: true)
        bytes.withUnsafeMutableBufferPointer { out in
            guard let base = row.baseAddress else { return fields.append((0, 0)) }
            var i = 0
            var o = 0
            var escape = Self.find(CopyText.backslash, base, from: 0, end)
            while true {
                let start = o
                var isNull = false
                let fieldEnd = Self.find(CopyText.tab, base, from: i, end)
                if escape >= fieldEnd {
                    // No escape: the field's bytes as they are.
                    memcpy(out.baseAddress! + o, base + i, fieldEnd - i)
                    o += fieldEnd - i
                    i = fieldEnd
                } else {
                    isNull = Self.unescape(row, &i, end, into: out, at: &o)
                    escape = Self.find(CopyText.backslash, base, from: i, end)
                }
                fields.append(isNull ? (start, -1) : (start, o))
                if i >= end { break }
                i += 1  // the tab
            }
        }
        bounds = fields
    }

    /// Where `byte` is first found in `base[i..<end]`; `end` when it is not.
    @inline(__always)
    private static func find(_ byte: UInt8, _ base: UnsafeRawPointer, from i: Int, _ end: Int) -> Int {
        guard i < end, let p = memchr(base + i, Int32(byte), end - i) else { return end }
        return base.distance(to: UnsafeRawPointer(p))
    }

    /// Decodes the field at `i` byte by byte up to its tab (or the row's end); true for NULL.
    private static func unescape(
        _ row: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int, into out: UnsafeMutableBufferPointer<UInt8>, at o: inout Int
    ) -> Bool {
        var isNull = false
        while i < end {
            let b = row[i]
            if b == CopyText.tab { break }
            if b != CopyText.backslash || i + 1 >= end {
                out[o] = b
                o += 1
                i += 1
                continue
            }
            // An escape: rare in names and addresses, decoded by the general routine.
            var one: [UInt8] = []
            var j = i
            isNull = CopyTextParser.decodeEscape(row, &j, end, into: &one) || isNull
            for x in one {
                out[o] = x
                o += 1
            }
            i = j
        }
        return isNull
    }

    @inlinable
    public func isNull(_ i: Int) -> Bool { bounds[i].1 < 0 }

    /// The number of bytes of the field (0 for NULL).
    @inlinable
    public func length(_ i: Int) -> Int {
        let (start, end) = bounds[i]
        return max(0, end - start)
    }

    /// The field's bytes, valid during the call (empty for NULL).
    @inlinable
    public func withField<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let (start, end) = bounds[i]
        return try bytes.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[start..<max(start, end)]))
        }
    }

    public func string(_ i: Int) -> String? {
        isNull(i) ? nil : withField(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// `t` for a true boolean.
    @inlinable
    public func isTrue(_ i: Int) -> Bool {
        let (start, end) = bounds[i]
        return end == start + 1 && bytes[start] == UInt8(ascii: "t")
    }

    @inlinable
    public func int64(_ i: Int) -> Int64? {
        let (start, end) = bounds[i]
        guard end > start else { return nil }
        return bytes.withUnsafeBufferPointer { all in
            var n: Int64 = 0
            var k = start
            let negative = all[k] == UInt8(ascii: "-")
            if negative { k += 1 }
            while k < end {
                let b = all[k]
                guard b >= 48 && b <= 57 else { return nil }
                n = n &* 10 &+ Int64(b - 48)
                k += 1
            }
            return negative ? -n : n
        }
    }
}
