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
/// The mailing thread hands each placed document's letter over (its facts, the name as printed
/// and the identifiers) as the document is placed in its envelope; a thread of its own
/// composes and writes the letters in that order (`InsertWriter`), so the letters' tens of
/// bytes per vendor byte stay off the mailing path, and a rebuilt run (same documents, same
/// order) writes the same bytes. Memory is bounded: at most `maxQueued` batches wait.
final class InsertFiles {
    static let csvName = "inserts.csv"
    static let header = ["envelope_id", "member_id", "document", "certificate_number", "language"] + MemberLetter.Section.allCases.map(\.rawValue)
    static let batchSize = 256, maxQueued = 16

    private let writer: InsertWriter
    private var worker: WorkerThread<[PendingLetter]>!
    private var batch: [PendingLetter] = []
    /// Letters handed over (the mailing thread's count, for the manifest and the envelopes).
    private(set) var count = 0

    init(dir: URL, runID: Int, parameters: InsurerParameters) throws {
        writer = try InsertWriter(dir: dir, runID: runID, contact: InsurerContact(parameters))
        batch.reserveCapacity(Self.batchSize)
        worker = WorkerThread(maxQueued: Self.maxQueued, process: { [writer] letters in
            for l in letters { try writer.write(l) }
        })
    }

    deinit { worker.stop() }

    static func htmlName(_ language: String) -> String { "letters_\(language.replacingOccurrences(of: "+", with: "_")).html" }

    /// The letter for one mailed document (a vendor record written) in envelope `envelope`:
    /// its key, the name as printed and the identifiers, kept with its envelope until the
    /// envelope is closed (`write`), so that inserts.csv keeps the envelopes' order.
    func letter(_ r: CopyRow, _ p: PersonColumns, envelope id: [UInt8], kind: String, number: Int64?, reasons: [UInt8],
                validFrom: LocalDate?, validTo: LocalDate?) throws -> PendingLetter {
        var name = r.withField(p.mail + 5) { Array($0) }
        r.withField(p.mail + 6) { given in
            if !given.isEmpty { name.append(UInt8(ascii: " ")); name.append(contentsOf: given) }
        }
        return PendingLetter(key: LetterKey(kind: kind, reasons: reasons, validFrom: validFrom, validTo: validTo,
                                            language: r.withField(p.language) { Array($0) }),
                             name: name, envelope: id, member: r.withField(p.memberID) { Array($0) }, number: number)
    }

    /// Hands a letter to the letters' thread, in the envelopes' order.
    func write(_ l: PendingLetter) throws {
        batch.append(l)
        count += 1
        if batch.count >= Self.batchSize { try flush() }
    }

    private func flush() throws {
        var full: [PendingLetter] = []
        full.reserveCapacity(Self.batchSize)
        swap(&full, &batch)
        try worker.put(full)
    }

    /// The identifiers printed at the top of a letter, for the enclosing line.
    static func reference(envelope: String, member: String, document: LetterDocument, number: Int64?) -> String {
        "\(envelope) · \(member) · \(document.rawValue)" + (number.map { " No. \($0)" } ?? "")
    }

    /// Waits for the letters' thread, then closes the files (fsync): inserts.csv, then the
    /// HTML files of the languages that have letters, in the order of the languages; the others
    /// are removed.
    func finish() throws -> [MailFiles.FileEntry] {
        if !batch.isEmpty { try flush() }
        try worker.finish()
        return try writer.finish()
    }

    func abandon() {
        worker.stop()
        writer.abandon()
    }

    /// `ja`, `en`, … in the catalog's order, then `ja+en`.
    static func languageOrder(_ a: String, _ b: String) -> Bool {
        let order = LetterCatalog.languages + ["ja+en"]
        return (order.firstIndex(of: a) ?? order.count, a) < (order.firstIndex(of: b) ?? order.count, b)
    }
}

/// What a letter is without the member's name and identifiers: the same for every member
/// with the same document, reasons, dates and language.
struct LetterKey: Hashable {
    let kind: String, reasons: [UInt8], validFrom: LocalDate?, validTo: LocalDate?, language: [UInt8]
}

/// One letter as the mailing thread hands it over: its key, the name as printed (family and
/// given name) and the identifiers, as bytes of the row.
struct PendingLetter {
    let key: LetterKey
    let name: [UInt8], envelope: [UInt8], member: [UInt8]
    let number: Int64?
}

/// The letters' thread: composes each letter from its template (composed once per key, as
/// bytes) and writes its row of inserts.csv and its page of its language's HTML file, hashing
/// as it writes. Every file is created when the run begins, with the others: a run that has
/// lost its lock (its staging folder removed by the run that took over) only writes to files
/// it holds open, and stops at its next check with the lock's error. Those left empty are
/// removed at the end.
final class InsertWriter: @unchecked Sendable {
    private let dir: URL
    private let runID: Int
    private let contact: InsurerContact
    private let csv: HashedFile
    /// Per letter language, its HTML file.
    private var html: [String: HashedFile] = [:]
    private var templates: [LetterKey: LetterTemplate] = [:]
    /// The record and the page being built, reused letter after letter.
    private var row: [UInt8] = [], page: [UInt8] = [], scratch: [UInt8] = [], reference: [UInt8] = [], name: [UInt8] = []

    init(dir: URL, runID: Int, contact: InsurerContact) throws {
        self.dir = dir
        self.runID = runID
        self.contact = contact
        csv = try HashedFile(dir, InsertFiles.csvName, head: CSVField.join(InsertFiles.header) + "\n")
        for language in LetterCatalog.languages + ["ja+en"] { html[language] = try htmlFile(language) }
        for b in [\InsertWriter.row, \.page] { self[keyPath: b].reserveCapacity(8192) }
    }

    private func htmlFile(_ language: String) throws -> HashedFile {
        try HashedFile(dir, InsertFiles.htmlName(language),
                       head: LetterHTML.head(language: language, title: "kakunin run \(runID): member letters (\(language))"))
    }

    func write(_ l: PendingLetter) throws {
        let t = try template(l.key)
        row.removeAll(keepingCapacity: true)
        l.envelope.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
        row.append(UInt8(ascii: ","))
        l.member.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
        row.append(contentsOf: t.documentField)
        if let n = l.number { row.append(contentsOf: String(n).utf8) }
        row.append(contentsOf: t.languageField)
        for part in t.csv {
            switch part {
            case .quoted(let bytes): row.append(contentsOf: bytes)
            case .named(let slots):
                scratch.removeAll(keepingCapacity: true)
                slots.fill(into: &scratch, name: l.name, reference: [])
                row.append(UInt8(ascii: ","))
                scratch.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
            }
        }
        row.append(10)
        try csv.add(row)
        name.removeAll(keepingCapacity: true)
        LetterHTML.escape(l.name, to: &name)
        reference.removeAll(keepingCapacity: true)
        LetterHTML.escape(l.envelope, to: &reference)
        reference.append(contentsOf: Self.dot)
        LetterHTML.escape(l.member, to: &reference)
        reference.append(contentsOf: t.referenceTail)
        if let n = l.number { reference.append(contentsOf: " No. \(n)".utf8) }
        page.removeAll(keepingCapacity: true)
        t.page.fill(into: &page, name: name, reference: reference)
        try t.file.add(page)
    }

    private static let dot = Array(" · ".utf8)

    private func template(_ key: LetterKey) throws -> LetterTemplate {
        if let t = templates[key] { return t }
        let facts = LetterFacts(kind: key.kind, reasons: key.reasons.split(separator: UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) },
                                name: Slots.name, validFrom: key.validFrom, validTo: key.validTo,
                                preferredLanguage: key.language.isEmpty ? nil : String(decoding: key.language, as: UTF8.self), insurer: contact)
        let letter = MemberLetter(facts)
        let file = try html[letter.language] ?? {
            let f = try htmlFile(letter.language)
            html[letter.language] = f
            return f
        }()
        let t = LetterTemplate(letter, document: facts.document, file: file)
        // A run has a few thousand keys, bounded by the calendar, not by the members; past 4,096
        // the rest are composed each time (memory stays flat: at most ~30 MB of templates).
        if templates.count < 4096 { templates[key] = t }
        return t
    }

    /// inserts.csv, then the HTML files of the languages that have letters, in the order of
    /// the languages; the others are removed. (After the thread has ended.)
    func finish() throws -> [MailFiles.FileEntry] {
        var entries = [try csv.finish(tail: "")]
        for language in html.keys.sorted(by: InsertFiles.languageOrder) {
            let f = html[language]!
            if f.isEmpty { f.remove() } else { entries.append(try f.finish(tail: LetterHTML.tail)) }
        }
        return entries
    }

    func abandon() {
        csv.abandon()
        for f in html.values { f.abandon() }
    }
}

/// A letter's fixed parts as bytes, with places for the name and the reference line.
struct LetterTemplate {
    enum CSVPart {
        /// Paragraphs without the name, each preceded by its comma and quoted as it needs.
        case quoted([UInt8])
        /// A paragraph with the name, quoted once filled.
        case named(Slots)
    }
    /// `,document,` and `,language`, around the certificate number.
    let documentField: [UInt8], languageField: [UInt8]
    let csv: [CSVPart]
    /// ` · document` after the envelope and member of the reference line.
    let referenceTail: [UInt8]
    let page: Slots
    let file: HashedFile

    init(_ letter: MemberLetter, document: LetterDocument, file: HashedFile) {
        documentField = Array(",\(CSVField.quote(document.rawValue)),".utf8)
        languageField = Array(",\(CSVField.quote(letter.language))".utf8)
        var parts: [CSVPart] = [], quoted: [UInt8] = []
        for paragraph in letter.paragraphs {
            let slots = Slots(paragraph)
            if slots.isFixed {
                quoted.append(UInt8(ascii: ","))
                Array(paragraph.utf8).withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &quoted) }
                continue
            }
            if !quoted.isEmpty { parts.append(.quoted(quoted)); quoted = [] }
            parts.append(.named(slots))
        }
        if !quoted.isEmpty { parts.append(.quoted(quoted)) }
        csv = parts
        referenceTail = Array(" · \(document.rawValue)".utf8)
        page = Slots(LetterHTML.page(letter, reference: Slots.reference))
        self.file = file
    }
}

/// One file of the letters, UTF-8, hashed as it is written and fsync'd once at its end.
final class HashedFile {
    let name: String
    private let url: URL
    private let file: BufferedFileWriter
    private var hasher = SHA256()
    private var bytes = 0
    private var records = 0

    init(_ dir: URL, _ name: String, head: String) throws {
        self.name = name
        url = dir.appendingPathComponent(name)
        file = try OwnerOnlyFile.create(url)
        try write(Array(head.utf8))
    }

    /// One record (a row, a page).
    func add(_ record: [UInt8]) throws {
        try write(record)
        records += 1
    }

    private func write(_ b: [UInt8]) throws {
        try b.withUnsafeBytes { raw in
            hasher.update(bufferPointer: raw)
            bytes += raw.count
            try file.write(raw)
        }
    }

    func finish(tail: String) throws -> MailFiles.FileEntry {
        try write(Array(tail.utf8))
        try file.close(sync: true)
        return MailFiles.FileEntry(name: name, records: records, bytes: bytes, sha256: hex(hasher.finalize()), encoding: "UTF-8")
    }

    func abandon() { try? file.close(sync: false) }

    var isEmpty: Bool { records == 0 }

    /// A file no letter went into: closed and removed from the staging folder.
    func remove() {
        abandon()
        try? FileManager.default.removeItem(at: url)
    }
}

/// A text with places for the member's name and the letter's reference line, marked by
/// characters no letter text holds (U+0001), split once into bytes so that filling is appending.
struct Slots {
    static let name = "\u{1}N\u{1}", reference = "\u{1}R\u{1}"
    /// Even places: the text's bytes; odd places: the marker's letter (N or R).
    private let parts: [[UInt8]]

    init(_ text: String) {
        parts = Array(text.utf8).split(separator: 1, omittingEmptySubsequences: false).map(Array.init)
    }

    var isFixed: Bool { parts.count == 1 }

    func fill(into out: inout [UInt8], name: [UInt8], reference: [UInt8]) {
        for (i, part) in parts.enumerated() {
            out.append(contentsOf: i % 2 == 0 ? part : part == [UInt8(ascii: "N")] ? name : reference)
        }
    }
}
