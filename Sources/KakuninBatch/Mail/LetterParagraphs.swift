import Crypto
import Foundation
import KakuninRuntime

/// A paragraph's id in a run's letters: the first 6 bytes (12 hex digits) of the SHA-256 of
/// its language, text and page part. The same paragraph gets the same id in every run and
/// rerun; a paragraph shared by many letters (the help lines of a language) is written once.
enum LetterParagraphID {
    static func make(language: String, text: String, html: String) -> (id: String, digest: [UInt8]) {
        var h = SHA256()
        for (i, part) in [language, text, html].enumerated() {
            if i > 0 { h.update(data: [0]) }
            h.update(data: Array(part.utf8))
        }
        let digest = Array(h.finalize())
        return (hex(digest.prefix(6)), digest)
    }
}

/// A paragraph's language, section and sentences as UTF-8, each part after its length: hashed
/// in one go, not as strings (whose hash normalizes every Japanese character first).
struct LetterParagraphKey: Hashable {
    private var bytes: [UInt8] = []

    init(language: String, section: Int, sentences: [[String]]) {
        bytes.reserveCapacity(512)
        append(language)
        number(section)
        number(sentences.count)
        for group in sentences {
            number(group.count)
            for s in group { append(s) }
        }
    }

    private mutating func number(_ n: Int) { withUnsafeBytes(of: n.littleEndian) { bytes.append(contentsOf: $0) } }

    private mutating func append(_ s: String) {
        number(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }

    func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }
}
