/// Finding a 12-digit Individual Number (個人番号) in a feed value, so that a feed carrying one is
/// refused before anything of it is stored (SPEC.md 4).
///
/// The value is normalised first: any Unicode decimal digit counts as a digit (full-width
/// `１２３`, as NFKC would fold them, and other scripts' digits), and spaces, hyphens, dots
/// and dash-like characters (`-` `－` `‐` `—` `−` `ー`, U+3000) between digits are separators.
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
        var otherText = false      // anything but the runs and blanks
        var runs = 0
        var found = false
        var onlyRun: [Int]? = nil

        mutating func next(_ u: Unicode.Scalar) {
            if let d = digit(u) {
                run.append(d)
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
            if pendingSeparator { if !pendingBlank { otherText = true }; pendingSeparator = false }
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

        func digit(_ u: Unicode.Scalar) -> Int? {
            let v = u.value
            if v >= 48 && v <= 57 { return Int(v - 48) }
            if v >= 0xFF10 && v <= 0xFF19 { return Int(v - 0xFF10) }  // full-width, the common case
            // No decimal digits below U+0660 or among kana and kanji (U+3000–U+A61F): skip the
            // property lookup for the text of names and addresses.
            if v < 0x0660 || (v >= 0x3000 && v < 0xA620) { return nil }
            guard u.properties.numericType == .decimal, let n = u.properties.numericValue else { return nil }
            return Int(n)
        }

        func isSeparator(_ u: Unicode.Scalar) -> Bool {
            switch u.value {
            case 0x20, 0x2D, 0x2E, 0x3000, 0xFF0D, 0xFF0E, 0x2010...0x2015, 0x2212, 0x30FC, 0xFF70: return true
            default: return false
            }
        }
    }
}
