import Foundation
import KakuninCore

#if canImport(Glibc)
import Glibc
#endif

/// Windows-31J (CP932, with the NEC and IBM extensions) as a table built once from glibc's
/// iconv: 65,536 entries of the BMP (CP932 has nothing beyond it), each the one or two bytes of
/// the character, or 0 when CP932 cannot carry it. A mapping is kept only when it decodes back
/// to the same character, so nothing is ever silently replaced; the exceptions are the pairs
/// Japanese systems treat as one character (WAVE DASH 〜 as FULLWIDTH TILDE ～, and the like),
/// listed in `equivalents`.
package final class CP932Table: Sendable {
    package static let shared = CP932Table()

    /// The byte value(s): < 0x100 one byte, otherwise two (lead byte high).
    package let table: [UInt16]

    /// Unicode characters printed as the same CP932 character as their partner (JIS X 0208 vs
    /// Microsoft's mapping): the vendor's file then carries the partner's bytes.
    package static let equivalents: [UInt32: UInt32] = [
        0x301C: 0xFF5E,  // 〜 WAVE DASH → ～ FULLWIDTH TILDE
        0x2016: 0x2225,  // ‖ DOUBLE VERTICAL LINE → ∥ PARALLEL TO
        0x2212: 0xFF0D,  // − MINUS SIGN → － FULLWIDTH HYPHEN-MINUS
        0x00A2: 0xFFE0,  // ¢ → ￠
        0x00A3: 0xFFE1,  // £ → ￡
        0x00AC: 0xFFE2,  // ¬ → ￢
        0x2014: 0x2015,  // — EM DASH → ― HORIZONTAL BAR
    ]

    private init() {
        var t = [UInt16](repeating: 0, count: 0x10000)
        let encode = iconv_open("CP932", "UTF-32LE")
        let decode = iconv_open("UTF-32LE", "CP932")
        precondition(encode != iconv_t(bitPattern: -1) && decode != iconv_t(bitPattern: -1), "glibc iconv has no CP932")
        defer {
            iconv_close(encode)
            iconv_close(decode)
        }
        func run(_ cd: iconv_t?, _ input: [UInt8], _ capacity: Int) -> [UInt8]? {
            var inBuf = input
            var outBuf = [UInt8](repeating: 0, count: capacity)
            let produced: Int? = inBuf.withUnsafeMutableBufferPointer { ib in
                outBuf.withUnsafeMutableBufferPointer { ob in
                    var ip: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(ib.baseAddress!).assumingMemoryBound(to: CChar.self)
                    var op: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(ob.baseAddress!).assumingMemoryBound(to: CChar.self)
                    var il = ib.count
                    var ol = ob.count
                    _ = iconv(cd, nil, nil, nil, nil)
                    guard iconv(cd, &ip, &il, &op, &ol) != -1, il == 0 else { return nil }
                    return ob.count - ol
                }
            }
            guard let produced else { return nil }
            return Array(outBuf[0..<produced])
        }
        func le(_ u: UInt32) -> [UInt8] { [UInt8(u & 0xFF), UInt8((u >> 8) & 0xFF), UInt8((u >> 16) & 0xFF), UInt8(u >> 24)] }
        // Not the private-use area: glibc maps it to CP932's user-defined area (外字), whose
        // glyphs are each vendor's own; such a character must wait for staff. Nor the C1
        // controls and invisible format characters (`VendorEncoder.isPrintable`).
        for u in UInt32(0x80)..<0x10000 where !(0xD800...0xDFFF).contains(u) && VendorEncoder.isPrintable(Unicode.Scalar(u)!) {
            guard let bytes = run(encode, le(u), 8), (1...2).contains(bytes.count), let back = run(decode, bytes, 8), back == le(u) else {
                continue
            }
            t[Int(u)] = bytes.count == 1 ? UInt16(bytes[0]) : UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        }
        for (u, partner) in Self.equivalents where t[Int(u)] == 0 { t[Int(u)] = t[Int(partner)] }
        table = t
    }
}

/// One problem that keeps a record out of a vendor file.
package struct RecordProblem: Sendable, Equatable {
    /// `invisible`: a format character (U+200B, U+FEFF, a bidirectional control; category Cf).
    package enum Kind: String { case character, control, invisible, length }
    package let field: String
    package let kind: Kind
    /// The character (character problems) and its code point (U+20BB7; control and invisible
    /// ones too).
    package var character: String? = nil
    package var codePoint: String? = nil
    /// Length and limit in characters, for length problems.
    package var length: Int? = nil
    package var limit: Int? = nil

    package init(
        field: String, kind: Kind, character: String? = nil, codePoint: String? = nil,
        length: Int? = nil, limit: Int? = nil
    ) {
        self.field = field
        self.kind = kind
        self.character = character
        self.codePoint = codePoint
        self.length = length
        self.limit = limit
    }

    package var summary: String {
        switch kind {
        case .character: return "\(field): \(codePoint!) \(character!) cannot be carried"
        case .control: return "\(field): control character \(codePoint!)"
        case .invisible: return "\(field): invisible character \(codePoint!)"
        case .length: return "\(field): \(length!) characters, limit \(limit!)"
        }
    }
}

/// Checks a vendor record (the fields as UTF-8, CSV-quoted) and writes it in the vendor's
/// encoding: no control characters (C1 included), no invisible format characters (category Cf:
/// U+200B, U+2060, U+FEFF, U+200E/F, the bidirectional controls U+202A–U+202E and
/// U+2066–U+2069, …), no private-use characters (each vendor's 外字 differ), in UTF-8 as in
/// CP932; every character carried by the encoding (after composing a
/// base character with a following combining mark where one precomposed character exists), the
/// limited fields within their lengths. Fast on the common path: one pass over the bytes.
package struct VendorEncoder {
    package let encoding: InsurerParameters.VendorEncoding
    private let cp932: [UInt16]

    package init(_ encoding: InsurerParameters.VendorEncoding) {
        self.encoding = encoding
        cp932 = encoding == .cp932 ? CP932Table.shared.table : []
    }

    package var manifestName: String { encoding == .cp932 ? "CP932 (Windows-31J)" : "UTF-8" }

    /// Encodes `line` (UTF-8) into `out` (room for 2 × its bytes) and returns the bytes
    /// written, or nil when a byte or character cannot go (a control character, or a character
    /// the encoding lacks). For UTF-8 nothing is copied: `out` is untouched and the line's own
    /// length returned; the caller writes the line itself.
    /// Whether all eight bytes of `w` are ASCII from U+0020 to U+007E (what the byte loop lets
    /// through one at a time): no high bit; each byte + 0x60 carries into its high bit (≥ 0x20);
    /// none + 1 does (no 0x7F). An ASCII byte plus 0x60 or 1 never carries into the next byte.
    @inline(__always)
    static func printableASCII(_ w: UInt64) -> Bool {
        let high: UInt64 = 0x8080_8080_8080_8080
        return w & high == 0 && (w &+ 0x6060_6060_6060_6060) & high == high && (w &+ 0x0101_0101_0101_0101) & high == 0
    }

    package func encode(_ b: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>?) -> Int? {
        let n = b.count
        var i = 0
        if encoding == .utf8 {
            while i < n {
                // Eight printable ASCII bytes at a time (digits, dates, ids, separators).
                while i + 8 <= n, Self.printableASCII(UnsafeRawPointer(b.baseAddress! + i).loadUnaligned(as: UInt64.self)) {
                    i += 8
                }
                if i >= n { break }
                let c = b[i]
                if c < 0x80 {
                    if c < 0x20 || c == 0x7F { return nil }
                    i += 1
                    continue
                }
                // Kana, kanji, hangul (U+3000–U+DFFF): nothing to refuse, no decoding.
                if c >= 0xE3 && c <= 0xED {
                    i += 3
                    continue
                }
                let (u, length) = Self.scalar(b, at: i)
                if !Self.isPrintable(u) { return nil }
                i += length
            }
            return n
        }
        var o = 0
        return cp932.withUnsafeBufferPointer { t -> Int? in
            while i < n {
                let c = b[i]
                if c < 0x80 {
                    if c < 0x20 || c == 0x7F { return nil }
                    out?[o] = c
                    o += 1
                    i += 1
                    continue
                }
                let u: Int
                if c < 0xE0 {
                    u = Int(c & 0x1F) << 6 | Int(b[i + 1] & 0x3F)
                    i += 2
                } else if c < 0xF0 {
                    u = Int(c & 0x0F) << 12 | Int(b[i + 1] & 0x3F) << 6 | Int(b[i + 2] & 0x3F)
                    i += 3
                } else {
                    return nil  // beyond the BMP: CP932 has none
                }
                let v = t[u]
                if v == 0 { return nil }
                if v < 0x100 {
                    out?[o] = UInt8(v)
                    o += 1
                } else {
                    out?[o] = UInt8(v >> 8)
                    out?[o + 1] = UInt8(v & 0xFF)
                    o += 2
                }
            }
            return o
        }
    }

    /// Whether one character can be carried (used to name the problem).
    package func carries(_ u: Unicode.Scalar) -> Bool {
        if u.value < 0x20 || u.value == 0x7F || !Self.isPrintable(u) { return false }
        if encoding == .utf8 || u.value < 0x80 { return true }
        return u.value < 0x10000 && cp932[Int(u.value)] != 0
    }

    /// Not a C1 control (U+0080–U+009F), an invisible format character (category Cf) or a
    /// private-use character: what may reach a vendor file, in any encoding. The full-width
    /// forms (U+FF00–U+FFEF, common in addresses) are settled without a property lookup.
    package static func isPrintable(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if v < 0x80 { return true }
        if v < 0xA0 { return false }
        if v >= 0xF900 && v < 0xFFF0 { return v != 0xFEFF }
        switch u.properties.generalCategory {
        case .format, .privateUse: return false
        default: return true
        }
    }

    /// The character at `i` of valid UTF-8 and its length in bytes.
    @inline(__always)
    package static func scalar(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> (Unicode.Scalar, Int) {
        let c = b[i]
        let v: UInt32
        let n: Int
        if c < 0x80 {
            v = UInt32(c)
            n = 1
        } else if c < 0xE0 {
            v = UInt32(c & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F)
            n = 2
        } else if c < 0xF0 {
            v = UInt32(c & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F)
            n = 3
        } else {
            v = UInt32(c & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6 | UInt32(b[i + 3] & 0x3F)
            n = 4
        }
        return (Unicode.Scalar(v) ?? "\u{FFFD}", n)
    }

    /// A base character followed by a combining mark, composed where one precomposed character
    /// exists (か + ゛ = が); nothing else is changed (no NFC of the whole text, which would also
    /// replace compatibility ideographs the vendor may print).
    package static func composePairs(_ s: String) -> String {
        var out: [Unicode.Scalar] = []
        for u in s.unicodeScalars {
            if let last = out.last, isCombining(u) {
                let pair = String(String.UnicodeScalarView([last, u])).precomposedStringWithCanonicalMapping.unicodeScalars
                if pair.count == 1 {
                    out[out.count - 1] = pair.first!
                    continue
                }
            }
            out.append(u)
        }
        return String(String.UnicodeScalarView(out))
    }

    package static func isCombining(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Characters as printed: scalars, not counting combining marks and variation selectors.
    package static func printedLength(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + (isCombining($1) || $1.properties.isVariationSelector ? 0 : 1) }
    }

    /// The characters of one field's value that cannot be carried, each once.
    package func problems(field: String, value: String) -> [RecordProblem] {
        var found: [RecordProblem] = []
        var seen = Set<UInt32>()
        for u in value.unicodeScalars where !carries(u) && seen.insert(u.value).inserted {
            // Neither a control nor an invisible character is copied into exceptions.csv (a
            // bidirectional control would reorder the line as staff see it): its code point is.
            let kind: RecordProblem.Kind =
                u.value < 0x20 || (0x7F...0x9F).contains(u.value)
                ? .control
                : u.properties.generalCategory == .format ? .invisible : .character
            found.append(
                RecordProblem(
                    field: field, kind: kind,
                    character: kind == .character ? String(u) : "", codePoint: FieldValidator.codePoint(u.value)))
        }
        return found
    }
}
