/// Checks one raw field (UTF-8 bytes) against its column; returns the reason it is bad, or nil.
/// Works on bytes: a million-row feed passes through here.
public enum FieldValidator {
    public static func check(_ v: UnsafeBufferPointer<UInt8>, _ column: FeedColumn) -> String? {
        check(v, column, FieldBytes(v))
    }

    /// `check`, with the facts of one pass over the bytes already gathered (the importer gathers
    /// them once per field for all its checks).
    public static func check(_ v: UnsafeBufferPointer<UInt8>, _ column: FeedColumn, _ bytes: FieldBytes) -> String? {
        check(v, kind: column.kind, required: column.required, bytes)
    }

    /// `check` with the column's rule alone (the importer keeps them in arrays: no copy of the
    /// column's names per field).
    public static func check(_ v: UnsafeBufferPointer<UInt8>, kind: FieldKind, required: Bool, _ bytes: FieldBytes) -> String? {
        if v.isEmpty {
            return required ? "required value is missing" : nil
        }
        if bytes.nul {
            return "contains a NUL byte (U+0000), which cannot be stored; the file may be UTF-16 or damaged: correct the extract"
        }
        switch kind {
        case .text(let maxLength):
            if bytes.control { return "contains a control character (a line break or tab inside a value is not allowed)" }
            if bytes.mayBreakLine, let u = lineBreakCharacter(v) {
                return
                    "contains the line break character U+\(String(u, radix: 16, uppercase: true)), which a vendor's file reader may split the line on; correct the source record"
            }
            if bytes.mayBreakLine, let u = hiddenControl(v) {
                return
                    "contains the control character \(codePoint(u)) (\(u < 0x100 ? "a C1 control" : "a bidirectional override, embedding or isolate, which reorders the text as shown")); correct the source record"
            }
            if let first = v.first, formulaStarts.contains(first) {
                return
                    "starts with '\(Character(Unicode.Scalar(first)))': a spreadsheet would run it as a formula; correct the source record"
            }
            return (bytes.ascii ? v.count : characterCount(v)) > maxLength ? "longer than \(maxLength) characters" : nil
        case .printedCode(let maxLength):
            if let reason = check(v, kind: .text(maxLength: maxLength), required: required, bytes) { return reason }
            return hasSpace(v) ? "a printed code holds no spaces (e.g. 区ア, 現役並みⅠ)" : nil
        case .identifier(let maxLength):
            if v.count > maxLength { return "longer than \(maxLength) characters" }
            for b in v where !(isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")) {
                return "identifier may hold only letters, digits, '-' and '_'"
            }
            return nil
        case .insurerNumber:
            guard v.count == 6 || v.count == 8, v.allSatisfy(isDigit) else {
                return "insurer number must be 6 or 8 digits"
            }
            return nil
        case .digits(let count):
            guard v.count == count, v.allSatisfy(isDigit) else { return "must be \(count) digits" }
            return nil
        case .kana(let maxLength):
            // On the bytes: every allowed character is a space or a three-byte sequence
            // E3 xx xx (U+3000, U+30A1–U+30FC), so no String is made per row.
            var n = 0
            var i = 0
            while i < v.count {
                n += 1
                if v[i] == 0x20 {
                    i += 1
                    continue
                }
                guard v[i] == 0xE3, i + 2 < v.count, v[i + 1] & 0xC0 == 0x80, v[i + 2] & 0xC0 == 0x80 else {
                    return "reading must be full-width katakana"
                }
                let u = 0x3000 | UInt32(v[i + 1] & 0x3F) << 6 | UInt32(v[i + 2] & 0x3F)
                guard (0x30A1...0x30FC).contains(u) || u == 0x3000 else { return "reading must be full-width katakana" }
                i += 3
            }
            return n > maxLength ? "longer than \(maxLength) characters" : nil
        case .date:
            return DateField.problem(v)
        case .boolean:
            return equals(v, "true") || equals(v, "false") ? nil : "must be true or false"
        case .oneOf(let values):
            for value in values where equals(v, value) { return nil }
            return "unknown value; expected one of \(values.joined(separator: ", "))"
        case .languageTag:
            // BCP 47, loosely: a 2–3 letter language, then subtags of 1–8 letters or digits.
            var subtag = 0
            var index = 0
            for b in v {
                if b == UInt8(ascii: "-") {
                    if subtag == 0 || (index == 0 && subtag < 2) { return "not a BCP 47 language tag" }
                    subtag = 0
                    index += 1
                    continue
                }
                guard index == 0 ? isAlpha(b) : isAlnum(b) else { return "not a BCP 47 language tag" }
                subtag += 1
                if subtag > (index == 0 ? 3 : 8) { return "not a BCP 47 language tag" }
            }
            return subtag == 0 || (index == 0 && subtag < 2) ? "not a BCP 47 language tag" : nil

        case .count(let max):
            guard v.allSatisfy(isDigit) else { return "must be a whole number of 0 or more (digits only)" }
            var n = 0
            for b in v {
                n = n * 10 + Int(b - 48)
                if n > max { return "larger than \(max)" }
            }
            return nil
        }
    }

    /// True when the bytes are valid UTF-8.
    @inline(__always)
    public static func isValidUTF8(_ v: UnsafeBufferPointer<UInt8>, _ bytes: FieldBytes) -> Bool {
        bytes.ascii || isValidUTF8(v)
    }

    /// True when the bytes are valid UTF-8.
    public static func isValidUTF8(_ v: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = v.count
        while i < n {
            let b = v[i]
            if b < 0x80 {
                i += 1
                continue
            }
            var need = 0
            var min: UInt32 = 0
            var cp: UInt32 = 0
            switch b {
            case 0xC2...0xDF:
                need = 1
                cp = UInt32(b & 0x1F)
                min = 0x80
            case 0xE0...0xEF:
                need = 2
                cp = UInt32(b & 0x0F)
                min = 0x800
            case 0xF0...0xF4:
                need = 3
                cp = UInt32(b & 0x07)
                min = 0x10000
            default: return false
            }
            if i + need >= n { return false }
            for k in 1...need {
                let c = v[i + k]
                guard c & 0xC0 == 0x80 else { return false }
                cp = (cp << 6) | UInt32(c & 0x3F)
            }
            if cp < min || cp > 0x10FFFF || (0xD800...0xDFFF).contains(cp) { return false }
            i += need + 1
        }
        return true
    }

    /// First bytes that make a spreadsheet read a cell as a formula (`=`, `+`, `-`, `@`).
    static let formulaStarts: [UInt8] = [0x3D, 0x2B, 0x2D, 0x40]

    /// NEL (U+0085), LINE SEPARATOR (U+2028) or PARAGRAPH SEPARATOR (U+2029), if present.
    static func lineBreakCharacter(_ v: UnsafeBufferPointer<UInt8>) -> UInt32? {
        guard v.count >= 2 else { return nil }
        for i in 0..<(v.count - 1) {
            if v[i] == 0xC2 && v[i + 1] == 0x85 { return 0x85 }
            if i + 2 < v.count && v[i] == 0xE2 && v[i + 1] == 0x80 && (v[i + 2] == 0xA8 || v[i + 2] == 0xA9) {
                return v[i + 2] == 0xA8 ? 0x2028 : 0x2029
            }
        }
        return nil
    }

    /// A C1 control (U+0080–U+009F) or an explicit bidirectional formatting character
    /// (U+202A–U+202E, U+2066–U+2069), if present: controls like the ASCII ones, though not
    /// below 0x20 (U+0085 NEL is found first, as a line break).
    static func hiddenControl(_ v: UnsafeBufferPointer<UInt8>) -> UInt32? {
        guard v.count >= 2 else { return nil }
        for i in 0..<(v.count - 1) {
            if v[i] == 0xC2 && v[i + 1] >= 0x80 && v[i + 1] <= 0x9F { return UInt32(v[i + 1]) }
            if i + 2 < v.count && v[i] == 0xE2 {
                let u = 0x2000 | UInt32(v[i + 1] & 0x3F) << 6 | UInt32(v[i + 2] & 0x3F)
                if (0x202A...0x202E).contains(u) || (0x2066...0x2069).contains(u) { return u }
            }
        }
        return nil
    }

    /// `U+0085`, `U+202E`, `U+20BB7`: at least four hexadecimal digits.
    public static func codePoint(_ u: UInt32) -> String {
        let h = String(u, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    /// A value as it may be kept in a rejects list: at most `limit` characters, and NUL (which
    /// PostgreSQL cannot store) shown as U+FFFD.
    public static func storable(_ s: String, limit: Int) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(limit).map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }

    /// True when a header name announces an Individual Number column.
    public static func isIndividualNumberHeader(_ name: String) -> Bool {
        let folded = String(name.lowercased().unicodeScalars.filter { !" _-".unicodeScalars.contains($0) })
        return ["individualnumber", "mynumber", "kojinbango", "kojinbangou", "個人番号", "マイナンバー"]
            .contains { folded.contains($0) }
    }

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    @inline(__always) static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) >= 97 && (b | 0x20) <= 122 }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isAlpha(b) }

    static func equals(_ v: UnsafeBufferPointer<UInt8>, _ s: String) -> Bool {
        var s = s
        return s.withUTF8 { u in u.count == v.count && memcmpEqual(u, v) }
    }

    private static func memcmpEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
    }

    static func characterCount(_ v: UnsafeBufferPointer<UInt8>) -> Int {
        // Counts Unicode scalars (continuation bytes are not counted).
        var n = 0
        for b in v where b & 0xC0 != 0x80 { n += 1 }
        return n
    }
}

/// ISO dates (`YYYY-MM-DD`) read from bytes: the one parser of the dates kakunin accepts (feeds,
/// command line, console, parameter files) and of the dates it reads back from its database.
public enum DateField {
    /// Every date kakunin accepts lies in this range (SPEC.md 2.5): a mistyped year (2200, 1899)
    /// is refused where it is typed, never stored and then failing every later reading.
    public static let accepted = LocalDate(year: 1900, month: 1, day: 1)!...LocalDate(year: 2099, month: 12, day: 31)!
    /// The range as the reasons name it.
    public static let acceptedText = "1900-01-01 … 2099-12-31"

    /// Parses a date kakunin accepts: a real calendar date within `accepted`.
    public static func parse(_ v: UnsafeBufferPointer<UInt8>) -> LocalDate? {
        guard let d = parseStored(v), accepted.contains(d) else { return nil }
        return d
    }

    /// Why `v` is not a date kakunin accepts, or nil when it is one.
    public static func problem(_ v: UnsafeBufferPointer<UInt8>) -> String? {
        guard let d = parseStored(v) else { return "not a date in YYYY-MM-DD form" }
        return accepted.contains(d) ? nil : "outside the dates kakunin accepts (\(acceptedText)): check the year"
    }

    /// Parses any real calendar date of years 0001–9999, as stored in the database (read back
    /// whatever it is; input goes through `parse`).
    public static func parseStored(_ v: UnsafeBufferPointer<UInt8>) -> LocalDate? {
        guard v.count == 10, v[4] == UInt8(ascii: "-"), v[7] == UInt8(ascii: "-") else { return nil }
        func num(_ from: Int, _ to: Int) -> Int? {
            var n = 0
            for i in from..<to {
                let b = v[i]
                guard b >= 48 && b <= 57 else { return nil }
                n = n * 10 + Int(b - 48)
            }
            return n
        }
        guard let y = num(0, 4), let m = num(5, 7), let d = num(8, 10), y >= 1 else { return nil }
        return LocalDate(year: y, month: m, day: d)
    }
}

/// What one pass over a field's bytes tells every later check, so that a field of plain ASCII
/// (most fields of a feed) is read once: whether it is all ASCII, holds a control character or
/// NUL or a backslash, and how many of its characters could be digits.
public struct FieldBytes: Sendable {
    /// No byte ≥ 0x80: valid UTF-8, no Unicode line break, one character per byte.
    public let ascii: Bool
    /// A byte below 0x20 or DEL (NUL, tab and line ends included).
    public let control: Bool
    public let nul: Bool
    public let backslash: Bool
    /// An upper bound of the digits `IndividualNumber` can read in the field, for its cheap
    /// exit: ASCII digits; one for every other character outside U+3000–U+9FFF (UTF-8 lead
    /// bytes E3–E9), two where a character may stand for two (U+0800–U+2FFF: ⑩, ⒑, ❿; and
    /// beyond the BMP); among kana and kanji only the numerals and circled numbers
    /// `IndividualNumber.cjkDigits` names. Full-width digits (EF) count one, as before.
    public let digitCandidates: Int
    /// A lead byte C2 or E2 occurs: a C1 control (NEL among them), U+2028/U+2029 or a
    /// bidirectional control may be present.
    public let mayBreakLine: Bool

    /// One pass over the bytes (inlinable: an import runs it on every field of every record,
    /// from another module).
    @inlinable
    public init(_ v: UnsafeBufferPointer<UInt8>) {
        var ascii = true
        var control = false
        var nul = false
        var backslash = false
        var mayBreakLine = false
        var digitCandidates = 0
        let n = v.count
        var i = 0
        while i < n {
            let b = v[i]
            if b < 0x80 {
                if b &- 48 < 10 {
                    digitCandidates += 1
                } else if b < 0x20 || b == 0x7F {
                    control = true
                    if b == 0 { nul = true }
                } else if b == 0x5C {
                    backslash = true
                }
            } else {
                ascii = false
                if b & 0xC0 != 0x80 {
                    if b < 0xE3 || b > 0xE9 {
                        digitCandidates += (b >= 0xE0 && b <= 0xE2) || b >= 0xF0 ? 2 : 1
                        if b == 0xC2 || b == 0xE2 { mayBreakLine = true }
                    } else if i + 2 < n {
                        // Hiragana and katakana (E3 81–83: U+3040–U+30FF) hold no numeral.
                        if b != 0xE3 || v[i + 1] &- 0x81 >= 3 {
                            digitCandidates += IndividualNumber.cjkDigits(b, v[i + 1], v[i + 2])
                        }
                    }
                }
            }
            i += 1
        }
        self.ascii = ascii
        self.control = control
        self.nul = nul
        self.backslash = backslash
        self.digitCandidates = digitCandidates
        self.mayBreakLine = mayBreakLine
    }

    /// Needs escaping in COPY text (a backslash or a control character).
    public var needsCopyEscape: Bool { backslash || control }
}

extension FieldValidator {
    /// An ASCII space or an ideographic space (U+3000, E3 80 80) among the bytes.
    static func hasSpace(_ v: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < v.count {
            if v[i] == 0x20 { return true }
            if v[i] == 0xE3, i + 2 < v.count, v[i + 1] == 0x80, v[i + 2] == 0x80 { return true }
            i += 1
        }
        return false
    }
}
