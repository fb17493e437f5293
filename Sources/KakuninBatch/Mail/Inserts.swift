import Crypto
import Foundation
import KakuninCore
import KakuninStore
import KakuninRuntime

/// The member letters of a run (SPEC.md 5.2): one insert per mailed document, in
/// `inserts.csv` (envelope, member, document, language, then the letter's paragraphs) and in
/// one printable HTML file per letter language (`letters_<language>.html`, A4, a page per
/// letter). Always UTF-8, whatever the vendor's encoding: CP932 cannot carry Thai or Nepali.
///
/// Written beside the vendor files as each document is placed in its envelope, so a rebuilt
/// run (same documents, same order) writes the same bytes.
final class InsertFiles {
    static let csvName = "inserts.csv"
    static let header = ["envelope_id", "member_id", "document", "certificate_number", "language"] + MemberLetter.Section.allCases.map(\.rawValue)

    private let dir: URL
    private let runID: Int
    private let contact: InsurerContact
    private let csv: MailFileWriter
    /// Per letter language, its HTML file, opened at its first letter.
    private var html: [String: LetterHTMLFile] = [:]
    private(set) var count = 0

    init(dir: URL, runID: Int, parameters: InsurerParameters) throws {
        self.dir = dir
        self.runID = runID
        contact = InsurerContact(parameters)
        csv = try MailFileWriter(dir, Self.csvName, encoder: VendorEncoder(.utf8), limits: [:], header: Self.header, checked: false)
        // Every language's file is created now, with the others: a run that has lost its lock
        // (its staging folder removed by the run that took over) only writes to files it holds
        // open, and stops at its next check with the lock's error. Those left empty are removed.
        for language in LetterCatalog.languages + ["ja+en"] {
            html[language] = try LetterHTMLFile(dir, Self.htmlName(language), language: language, runID: runID)
        }
    }

    static func htmlName(_ language: String) -> String { "letters_\(language.replacingOccurrences(of: "+", with: "_")).html" }

    /// One document's letter, composed when the document is placed and written when its
    /// envelope is closed (`write`), in the envelopes' order.
    struct Letter {
        let envelope: String, member: String, document: LetterDocument, number: Int64?, language: String
        let paragraphs: [String], page: String
        fileprivate let file: LetterHTMLFile
    }

    /// The letter for one mailed document (a vendor record written) in envelope `envelope`.
    func letter(_ r: CopyRow, _ p: PersonColumns, envelope id: [UInt8], kind: String, number: Int64?, reasons: [UInt8],
                validFrom: LocalDate?, validTo: LocalDate?) throws -> Letter {
        let key = TemplateKey(kind: kind, reasons: reasons, validFrom: validFrom, validTo: validTo,
                              language: r.withField(p.language) { Array($0) })
        let t = try template(key)
        let name = r.withField(p.mail + 5) { String(decoding: $0, as: UTF8.self) }
            + r.withField(p.mail + 6) { $0.isEmpty ? "" : " " + String(decoding: $0, as: UTF8.self) }
        let envelope = String(decoding: id, as: UTF8.self)
        let member = r.withField(p.memberID) { String(decoding: $0, as: UTF8.self) }
        let reference = Self.reference(envelope: envelope, member: member, document: t.document, number: number)
        return Letter(envelope: envelope, member: member, document: t.document, number: number, language: t.language,
                      paragraphs: t.paragraphs.map { $0.filled(name: name, reference: "") },
                      page: t.page.filled(name: LetterHTML.escape(name), reference: LetterHTML.escape(reference)), file: t.file)
    }

    /// Writes a letter into inserts.csv and its language's HTML file.
    func write(_ l: Letter) throws {
        _ = try csv.record { w in
            w.field(l.envelope)
            w.field(l.member)
            w.field(l.document.rawValue)
            w.int(l.number)
            w.field(l.language)
            for paragraph in l.paragraphs { w.field(paragraph) }
        }
        count += 1
        try l.file.add(l.page)
    }

    /// What a letter is without the member's name and identifiers: the same for every member
    /// with the same document, reasons, dates and language, so it is composed once (a run has a
    /// few thousand of them, bounded by the calendar, not by the members; past 4,096 the rest are composed each time).
    private struct TemplateKey: Hashable {
        let kind: String, reasons: [UInt8], validFrom: LocalDate?, validTo: LocalDate?, language: [UInt8]
    }
    private struct Template {
        let language: String, document: LetterDocument, paragraphs: [Slots], page: Slots, file: LetterHTMLFile
    }
    private var templates: [TemplateKey: Template] = [:]

    private func template(_ key: TemplateKey) throws -> Template {
        if let t = templates[key] { return t }
        let facts = LetterFacts(kind: key.kind, reasons: key.reasons.split(separator: UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) },
                                name: Slots.name, validFrom: key.validFrom, validTo: key.validTo,
                                preferredLanguage: key.language.isEmpty ? nil : String(decoding: key.language, as: UTF8.self), insurer: contact)
        let letter = MemberLetter(facts)
        let file = try html[letter.language] ?? {
            let f = try LetterHTMLFile(dir, Self.htmlName(letter.language), language: letter.language, runID: runID)
            html[letter.language] = f
            return f
        }()
        let t = Template(language: letter.language, document: facts.document, paragraphs: letter.paragraphs.map(Slots.init),
                         page: Slots(LetterHTML.page(letter, reference: Slots.reference)), file: file)
        if templates.count < 4096 { templates[key] = t }   // memory stays flat: at most ~30 MB of templates
        return t
    }

    /// The identifiers printed at the top of a letter, for the enclosing line.
    static func reference(envelope: String, member: String, document: LetterDocument, number: Int64?) -> String {
        "\(envelope) · \(member) · \(document.rawValue)" + (number.map { " No. \($0)" } ?? "")
    }

    /// Closes the files (fsync): inserts.csv, then the HTML files of the languages that have
    /// letters, in the order of the languages; the others are removed.
    func finish() throws -> [MailFiles.FileEntry] {
        var entries = [try csv.finish()]
        for language in html.keys.sorted(by: Self.languageOrder) {
            let f = html[language]!
            if f.isEmpty { f.remove() } else { entries.append(try f.finish()) }
        }
        return entries
    }

    func abandon() {
        try? csv.abandon()
        for f in html.values { f.abandon() }
    }

    /// `ja`, `en`, … in the catalog's order, then `ja+en`.
    static func languageOrder(_ a: String, _ b: String) -> Bool {
        let order = LetterCatalog.languages + ["ja+en"]
        return (order.firstIndex(of: a) ?? order.count, a) < (order.firstIndex(of: b) ?? order.count, b)
    }
}

/// One language's letters as one HTML file, hashed as it is written.
final class LetterHTMLFile {
    let name: String
    private let url: URL
    private let file: BufferedFileWriter
    private var hasher = SHA256()
    private var bytes = 0
    private var letters = 0

    init(_ dir: URL, _ name: String, language: String, runID: Int) throws {
        self.name = name
        url = dir.appendingPathComponent(name)
        file = try OwnerOnlyFile.create(url)
        try write(LetterHTML.head(language: language, title: "kakunin run \(runID): member letters (\(language))"))
    }

    /// One letter's page.
    func add(_ page: String) throws {
        try write(page)
        letters += 1
    }

    /// Hashed and written from the string's own bytes (no copy).
    private func write(_ s: String) throws {
        var s = s
        try s.withUTF8 { b in
            let raw = UnsafeRawBufferPointer(b)
            hasher.update(bufferPointer: raw)
            bytes += raw.count
            try file.write(raw)
        }
    }

    func finish() throws -> MailFiles.FileEntry {
        try write(LetterHTML.tail)
        try file.close(sync: true)
        return MailFiles.FileEntry(name: name, records: letters, bytes: bytes, sha256: hex(hasher.finalize()), encoding: "UTF-8")
    }

    func abandon() { try? file.close(sync: false) }

    var isEmpty: Bool { letters == 0 }

    /// A file no letter went into: closed and removed from the staging folder.
    func remove() {
        abandon()
        try? FileManager.default.removeItem(at: url)
    }
}

/// A text with places for the member's name and the letter's reference line, marked by
/// characters no letter text holds (U+0001), split once so that filling is a join.
struct Slots {
    static let name = "\u{1}N\u{1}", reference = "\u{1}R\u{1}"
    private let parts: [Substring]

    /// Bytes of the text without the markers.
    private let length: Int

    init(_ text: String) {
        parts = text.split(separator: "\u{1}", omittingEmptySubsequences: false)
        length = parts.reduce(0) { $0 + $1.utf8.count }
    }

    func filled(name: String, reference: String) -> String {
        guard parts.count > 1 else { return String(parts[0]) }
        var out = ""
        out.reserveCapacity(length + name.utf8.count * 2 + reference.utf8.count)
        for (i, part) in parts.enumerated() {
            // Odd places are the markers' letters (between two U+0001).
            out += i % 2 == 0 ? part[...] : part == "N" ? name[...] : reference[...]
        }
        return out
    }
}
