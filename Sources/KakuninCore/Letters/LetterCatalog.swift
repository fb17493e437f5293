/// The member letter's texts (SPEC.md 5.2): one file per language in `Letters/Texts/`, embedded at
/// build time by the EmbedSQL plugin (`EmbeddedLetters`), each sentence under its key.
///
/// A file is `key = text` lines; `#` starts a comment. Its leading comment block names who
/// produced the translation and who reviewed it when (`# reviewed_by:`, `# reviewed_on:`, blank
/// until a person has). `ja` is the reference: every other file has exactly its keys (tests).
public struct LetterTexts: Sendable {
    public let language: String
    public let sentences: [String: String]
    /// Keys in file order (the reference's order is the translator's reading order).
    public let keys: [String]
    /// `# name: value` lines of the header (produced_by, reviewed_by, reviewed_on).
    public let header: [String: String]

    public subscript(key: String) -> String? { sentences[key] }

    /// Parses one file; a line that is neither a comment nor `key = text` is an error.
    public init(language: String, text: String) throws {
        self.language = language
        var sentences: [String: String] = [:]
        var keys: [String] = []
        var header: [String: String] = [:]
        var inHeader = true
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingSpaces
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                if inHeader, let colon = line.firstIndex(of: ":") {
                    let name = line[line.index(after: line.startIndex)..<colon].trimmingSpaces
                    header[name] = line[line.index(after: colon)...].trimmingSpaces
                }
                continue
            }
            inHeader = false
            guard let eq = line.firstIndex(of: "=") else {
                throw LetterTextError(language: language, line: n + 1, problem: "not `key = text`")
            }
            let key = line[..<eq].trimmingSpaces
            let value = line[line.index(after: eq)...].trimmingSpaces
            guard !key.isEmpty, !value.isEmpty else { throw LetterTextError(language: language, line: n + 1, problem: "empty key or text") }
            guard sentences[key] == nil else { throw LetterTextError(language: language, line: n + 1, problem: "key \(key) twice") }
            sentences[key] = value
            keys.append(key)
        }
        self.sentences = sentences
        self.keys = keys
        self.header = header
    }
}

public struct LetterTextError: Error, CustomStringConvertible, Equatable {
    public let language: String, line: Int, problem: String
    public var description: String { "Letters/Texts/\(language).txt line \(line): \(problem)" }
}

/// Every language's texts, read once from the embedded files.
public enum LetterCatalog {
    /// The reference language; members whose language has no file get it with English.
    public static let reference = "ja"
    /// The languages of SPEC.md 5.2, in the order the files are listed.
    public static let languages = ["ja", "en", "zh", "ko", "es", "pt", "vi", "th", "id", "tl", "ne"]

    /// Parsed at first use; a file that does not parse is a build defect the tests catch
    /// (`LetterCatalogTests`): here it is left out, and its members get Japanese and English.
    public static let texts: [String: LetterTexts] = {
        var out: [String: LetterTexts] = [:]
        for (name, base64) in EmbeddedLetters.files where name.hasSuffix(".txt") {
            let language = String(name.dropLast(4))
            guard let bytes = Base64.decode(base64),
                let t = try? LetterTexts(language: language, text: String(decoding: bytes, as: UTF8.self))
            else { continue }
            out[language] = t
        }
        return out
    }()

    /// The embedded files as they are, for the tests (a file that does not parse fails them).
    public static var files: [(language: String, text: String)] {
        EmbeddedLetters.files.map { (String($0.name.dropLast(4)), String(decoding: Base64.decode($0.base64) ?? [], as: UTF8.self)) }
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

/// Standard base64 (RFC 4648), for the embedded files (KakuninCore does without Foundation).
enum Base64 {
    static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        out.reserveCapacity(s.utf8.count * 3 / 4)
        for c in s.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = c - 65
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = c - 71
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c + 4
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}
