/// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes for tab,
/// newline, carriage return and backslash. Works on bytes, so multi-byte UTF-8 passes through
/// untouched.
public enum CopyText {
    static let tab: UInt8 = 9, newline: UInt8 = 10, cr: UInt8 = 13, backslash: UInt8 = 92

    /// Appends one field, escaped. Does not add a separator.
    @inline(__always)
    public static func appendField(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        // Most fields need no escaping: append them in one go.
        var plain = true
        for b in bytes where b == backslash || b == tab || b == newline || b == cr { plain = false; break }
        if plain { out.append(contentsOf: bytes); return }
        for b in bytes {
            switch b {
            case backslash: out.append(backslash); out.append(backslash)
            case tab: out.append(backslash); out.append(UInt8(ascii: "t"))
            case newline: out.append(backslash); out.append(UInt8(ascii: "n"))
            case cr: out.append(backslash); out.append(UInt8(ascii: "r"))
            default: out.append(b)
            }
        }
    }

    public static func appendField(_ s: String?, to out: inout [UInt8]) {
        guard var s else { out.append(backslash); out.append(UInt8(ascii: "N")); return }
        s.withUTF8 { appendField($0, to: &out) }
    }

    public static func appendNull(to out: inout [UInt8]) {
        out.append(backslash); out.append(UInt8(ascii: "N"))
    }

    public static func appendRow(_ fields: [String?], to out: inout [UInt8]) {
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(tab) }
            appendField(f, to: &out)
        }
        out.append(newline)
    }

    /// Encodes one row to bytes.
    public static func encodeRow(_ fields: [String?]) -> [UInt8] {
        var out: [UInt8] = []
        appendRow(fields, to: &out)
        return out
    }
}

/// A byte-level parser of COPY text-format rows, as `copyOut` delivers them (one row per
/// chunk, ending in a newline). Decodes `\N`, `\t`, `\n`, `\r`, `\\`, `\b`, `\f`, `\v`, octal
/// `\NNN` and hex `\xHH` escapes.
public struct CopyTextParser {
    private var field: [UInt8] = []

    public init() {}

    /// Splits one row into fields; nil for SQL NULL.
    public mutating func parseRow(_ row: UnsafeRawBufferPointer) -> [String?] {
        var fields: [String?] = []
        forEachField(row) { fields.append($0.map { String(decoding: $0, as: UTF8.self) }) }
        return fields
    }

    /// Calls `body` with each field's unescaped bytes (nil for NULL), valid only during the
    /// call: no String is made, for writers that copy bytes straight on.
    public mutating func forEachField(_ row: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<UInt8>?) throws -> Void) rethrows {
        var end = row.count
        if end > 0 && row[end - 1] == CopyText.newline { end -= 1 }
        var i = 0
        while true {
            field.removeAll(keepingCapacity: true)
            var isNull = false
            while i < end && row[i] != CopyText.tab {
                let b = row[i]
                guard b == CopyText.backslash && i + 1 < end else { field.append(b); i += 1; continue }
                let e = row[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "N"): isNull = true  // `\N` alone is NULL; data backslashes are escaped
                case UInt8(ascii: "t"): field.append(CopyText.tab)
                case UInt8(ascii: "n"): field.append(CopyText.newline)
                case UInt8(ascii: "r"): field.append(CopyText.cr)
                case UInt8(ascii: "b"): field.append(8)
                case UInt8(ascii: "f"): field.append(12)
                case UInt8(ascii: "v"): field.append(11)
                case UInt8(ascii: "x"):
                    var v: UInt8 = 0, n = 0
                    while n < 2, i < end, let d = hexValue(row[i]) { v = v &* 16 &+ d; i += 1; n += 1 }
                    field.append(v)
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var v = e - UInt8(ascii: "0"), n = 1
                    while n < 3, i < end, row[i] >= UInt8(ascii: "0"), row[i] <= UInt8(ascii: "7") {
                        v = v &* 8 &+ (row[i] - UInt8(ascii: "0")); i += 1; n += 1
                    }
                    field.append(v)
                default: field.append(e)
                }
            }
            if isNull { try body(nil) } else { try field.withUnsafeBufferPointer { try body($0) } }
            if i >= end { break }
            i += 1  // the tab
        }
    }

    private func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
