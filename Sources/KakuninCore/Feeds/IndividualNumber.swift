/// Finding a 12-digit Individual Number (個人番号) in a feed value, so that a feed carrying one is
/// refused before anything of it is stored (SPEC.md 4).
///
/// The value is normalised first. Digits: any Unicode decimal digit (full-width `１２３`, as
/// NFKC would fold them, and other scripts' digits); the other numbers NFKC folds to digits,
/// one digit each (circled `①`, `⓪`, parenthesised `⑴`, `⒈`, superscript `¹`, subscript `₁`) or
/// two (`⑩`…`⑳`, `㉑`…`㊿`, `⑽`, `⒑`); dingbat digits (`❶`, `➀`); the kanji numerals
/// `〇一二三四五六七八九`, `零` and the formal `壱弐参` (`壹貳參`). Separators between digits:
/// spaces, hyphens, dots, dash-like characters (`-` `－` `‐` `—` `−` `ー`, U+3000), `/` and `_`
/// (and their full-width forms).
/// A *number run* is a maximal sequence of digits joined by single separators.
/// - A value that is nothing but one run of exactly 12 digits (e.g. `123456789012`,
///   `1234-5678-9012`, ` １２３４５６７８９０１２`) is refused whatever its check digit: no feed
///   column holds such a value legitimately.
/// - A run of exactly 12 digits inside other text (`個人番号123456789012`) is refused when its
///   last digit is the Individual Number's check digit, so that a phone or account number
///   that happens to be 12 digits long is refused only 1 time in 11.
/// Runs of other lengths (phone numbers, postal codes, dates, 13-digit corporate numbers) pass.
public enum IndividualNumber {
    public static func appears(in v: UnsafeBufferPointer<UInt8>) -> Bool {
        appears(in: v, FieldBytes(v))
    }

    /// `appears`, with the facts of one pass over the bytes already gathered.
    @inline(__always)
    public static func appears(in v: UnsafeBufferPointer<UInt8>, _ bytes: FieldBytes) -> Bool {
        // Cheap exit: fewer than 12 possible digits.
        bytes.digitCandidates >= 12 && scan(v, ascii: bytes.ascii)
    }

    private static func scan(_ v: UnsafeBufferPointer<UInt8>, ascii: Bool) -> Bool {
        var scan = Scanner()
        if ascii {
            for b in v { scan.next(Unicode.Scalar(b)) }
        } else {
            for u in String(decoding: v, as: UTF8.self).unicodeScalars { scan.next(u) }
        }
        return scan.finish()
    }

    public static func appears(in s: String) -> Bool {
        var s = s
        return s.withUTF8 { appears(in: $0) }
    }

    /// The check digit of the first 11 digits (個人番号の検査用数字): 11 − (Σ Pn × Qn mod 11), or 0
    /// when the remainder is 0 or 1; Pn is the n-th digit from the right, Qn = n + 1 for n ≤ 6,
    /// n − 5 for n ≥ 7.
    public static func checkDigit(_ first11: [Int]) -> Int {
        precondition(first11.count == 11)
        var sum = 0
        for n in 1...11 {
            let p = first11[11 - n]
            let q = n <= 6 ? n + 1 : n - 5
            sum += p * q
        }
        let r = sum % 11
        return r <= 1 ? 0 : 11 - r
    }

    public static func isValid(_ digits: [Int]) -> Bool {
        digits.count == 12 && checkDigit(Array(digits[0..<11])) == digits[11]
    }

    private struct Scanner {
        var run: [Int] = []
        var pendingSeparator = false
        var pendingBlank = false
        var otherText = false  // anything but the runs and blanks
        var runs = 0
        var found = false
        var onlyRun: [Int]? = nil

        mutating func next(_ u: Unicode.Scalar) {
            if let d = digits(u) {
                if d.count == 2 { run.append(d.value / 10) }
                run.append(d.value % 10)
                pendingSeparator = false
                return
            }
            if isSeparator(u), !run.isEmpty, !pendingSeparator {
                pendingSeparator = true
                pendingBlank = u == " " || u == "\u{3000}"
                return
            }
            endRun()
            if !(u == " " || u == "\u{3000}" || u == "\t") { otherText = true }
        }

        mutating func endRun() {
            // A separator after the last digit belongs to the text around the run.
            if pendingSeparator {
                if !pendingBlank { otherText = true }
                pendingSeparator = false
            }
            guard !run.isEmpty else { return }
            runs += 1
            if run.count == 12 {
                if IndividualNumber.isValid(run) { found = true }
                onlyRun = run
            }
            run.removeAll(keepingCapacity: true)
        }

        mutating func finish() -> Bool {
            endRun()
            if found { return true }
            // The whole value is one 12-digit run (blanks around it allowed).
            return onlyRun != nil && runs == 1 && !otherText
        }

        /// The digits `u` stands for: `count` (1 or 2) digits of `value`; nil for none.
        func digits(_ u: Unicode.Scalar) -> (count: Int, value: Int)? {
            let v = u.value
            if v >= 48 && v <= 57 { return (1, Int(v - 48)) }
            if v >= 0xFF10 && v <= 0xFF19 { return (1, Int(v - 0xFF10)) }  // full-width, the common case
            // Below U+00B2 (superscript two) no character is a digit but ASCII's.
            if v < 0xB2 { return nil }
            // Among kana and kanji (U+3000–U+A61F) only the numerals and circled numbers:
            // no property lookup for the text of names and addresses.
            if v >= 0x3000 && v < 0xA620 { return IndividualNumber.cjkDigits(v) }
            let p = u.properties
            guard let n = p.numericValue, n >= 0, n == n.rounded() else { return nil }
            switch p.numericType {
            // Decimal digits of every script; the digits NFKC folds to one (①, ¹, ⑴, ⒈) and
            // the dingbat digits (❶, ➀), all Numeric_Type=Digit.
            case .decimal?, .digit?: return n < 10 ? (1, Int(n)) : nil
            // ⑩…⑳, ⑽, ⒑, ⓫…: numbers, not letters (Roman numerals are), of two digits.
            case .numeric?: return p.generalCategory == .otherNumber && n >= 10 && n < 100 ? (2, Int(n)) : nil
            default: return nil
            }
        }

        func isSeparator(_ u: Unicode.Scalar) -> Bool {
            switch u.value {
            case 0x20, 0x2D, 0x2E, 0x2F, 0x5F, 0x3000, 0xFF0D, 0xFF0E, 0xFF0F, 0xFF3F, 0x2010...0x2015, 0x2212, 0x30FC, 0xFF70:
                return true
            default: return false
            }
        }
    }

    /// The digits of a kanji numeral or a circled number between U+3000 and U+A61F: one
    /// (〇一二三四五六七八九, 零, 壱弐参, 壹貳參, ㈠…㈨, ㊀…㊈) or two (㉑…㉟, ㊱…㊿); nil for anything
    /// else (十 and ㊉ are no digit).
    static func cjkDigits(_ v: UInt32) -> (count: Int, value: Int)? {
        switch v {
        case 0x3007, 0x96F6: return (1, 0)  // 〇 零
        case 0x4E00, 0x58F1, 0x58F9: return (1, 1)  // 一 壱 壹
        case 0x4E8C, 0x5F10, 0x8CB3: return (1, 2)  // 二 弐 貳
        case 0x4E09, 0x53C2, 0x53C3: return (1, 3)  // 三 参 參
        case 0x56DB: return (1, 4)  // 四
        case 0x4E94: return (1, 5)  // 五
        case 0x516D: return (1, 6)  // 六
        case 0x4E03: return (1, 7)  // 七
        case 0x516B: return (1, 8)  // 八
        case 0x4E5D: return (1, 9)  // 九
        case 0x3220...0x3228: return (1, Int(v - 0x3220) + 1)  // ㈠…㈨ (NFKC: (一)…(九))
        case 0x3280...0x3288: return (1, Int(v - 0x3280) + 1)  // ㊀…㊈ (NFKC: 一…九)
        case 0x3251...0x325F: return (2, Int(v - 0x3251) + 21)  // ㉑…㉟
        case 0x32B1...0x32BF: return (2, Int(v - 0x32B1) + 36)  // ㊱…㊿
        default: return nil
        }
    }

    /// How many digits the three-byte UTF-8 character `b0 b1 b2` (lead byte E3–E9) can stand
    /// for (`FieldBytes`' upper bound): 0 for all but the numerals of `cjkDigits`.
    @inline(__always)
    @inlinable
    public static func cjkDigits(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8) -> Int {
        let v = UInt32(b0 & 0x0F) << 12 | UInt32(b1 & 0x3F) << 6 | UInt32(b2 & 0x3F)
        // Most kana and kanji lie on a 256-character page without any numeral: no lookup.
        switch v >> 8 {
        case 0x30, 0x32, 0x4E, 0x51, 0x53, 0x56, 0x58, 0x5F, 0x8C, 0x96: return digitCount(v)
        default: return 0
        }
    }

    @usableFromInline static func digitCount(_ v: UInt32) -> Int { cjkDigits(v)?.count ?? 0 }
}
