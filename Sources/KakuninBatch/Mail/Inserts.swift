import Crypto
import Foundation
import KakuninCore
import KakuninStore
import KakuninRuntime

/// The member letters of a run (SPEC.md 5.2), as variable data by reference, the way print
/// vendors do variable-data printing: `inserts.csv` holds one row per mailed document
/// (envelope, member, document, language, the name as printed, the certificate number, then
/// the letter's paragraphs in order as paragraph ids) and `letter_paragraphs.csv` each distinct
/// paragraph of the run once (language, id, text, and the paragraph's part of the printable
/// page). Only the name differs from member to member: a paragraph holding it has the
/// placeholder `{name}`. Both files are always UTF-8, whatever the vendor's encoding (CP932
/// cannot carry Thai or Nepali). The printable pages (`letters_<language>.html`) are written on
/// request from these two files (`LetterPages`, `kakunin letters html`).
///
/// The mailing thread hands each placed document's letter over (its key, the name as printed
/// and the identifiers); a thread of its own writes the rows in that order (`InsertWriter`), so
/// a rebuilt run (same documents, same order) writes the same bytes. Memory is bounded: at
/// most `maxQueued` batches wait. With `member_letters = off` nothing is written.
final class InsertFiles {
    static let csvName = "inserts.csv", paragraphsName = "letter_paragraphs.csv"
    static let identity = ["envelope_id", "member_id", "document", "language", "name", "certificate_number"]
    static let header = identity + MemberLetter.Section.allCases.map(\.rawValue)
    static let paragraphsHeader = ["language", "paragraph_id", "text", "html"]
    /// Where a paragraph's text (and page part) has the member's name as printed.
    static let namePlaceholder = "{name}"
    static let batchSize = 256, maxQueued = 16

    /// False under `member_letters = off` (the insurer encloses its own leaflets).
    let enabled: Bool
    private let writer: InsertWriter?
    private var worker: WorkerThread<[PendingLetter]>?
    private var batch: [PendingLetter] = []
    /// Letters handed over (the mailing thread's count, for the manifest and the envelopes).
    private(set) var count = 0

    init(dir: URL, runID: Int, parameters: InsurerParameters) throws {
        enabled = parameters.memberLetters
        guard enabled else { writer = nil; return }
        let writer = try InsertWriter(dir: dir, contact: InsurerContact(parameters))
        self.writer = writer
        batch.reserveCapacity(Self.batchSize)
        worker = WorkerThread(maxQueued: Self.maxQueued, process: { letters in
            for l in letters { try writer.write(l) }
        })
    }

    deinit { worker?.stop() }

    static func htmlName(_ language: String) -> String { "letters_\(language.replacingOccurrences(of: "+", with: "_")).html" }

    /// The letter for one mailed document (a vendor record written) in envelope `envelope`:
    /// its key, the name as printed and the identifiers, kept with its envelope until the
    /// envelope is closed (`write`), so that inserts.csv keeps the envelopes' order. Nil under
    /// `member_letters = off`.
    func letter(_ r: CopyRow, _ p: PersonColumns, envelope id: [UInt8], kind: String, number: Int64?, reasons: [UInt8],
                validFrom: LocalDate?, validTo: LocalDate?) throws -> PendingLetter? {
        guard enabled else { return nil }
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
        try worker?.put(full)
    }

    /// The identifiers printed at the top of a letter, for the enclosing line.
    static func reference(envelope: String, member: String, document: LetterDocument, number: Int64?) -> String {
        "\(envelope) · \(member) · \(document.rawValue)" + (number.map { " No. \($0)" } ?? "")
    }

    /// Waits for the letters' thread, then closes the files (fsync): inserts.csv, then
    /// letter_paragraphs.csv. None under `member_letters = off`.
    func finish() throws -> [MailFiles.FileEntry] {
        guard let writer, let worker else { return [] }
        if !batch.isEmpty { try flush() }
        try worker.finish()
        return try writer.finish()
    }

    func abandon() {
        worker?.stop()
        writer?.abandon()
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

/// The letters' thread: writes each letter's row of inserts.csv from its template (composed
/// once per key, as bytes), and each paragraph the first time a letter uses it into
/// letter_paragraphs.csv, hashing as it writes. Both files are created when the run begins,
/// with the others: a run that has lost its lock (its staging folder removed by the run that
/// took over) only writes to files it holds open, and stops at its next check with the lock's
/// error.
final class InsertWriter: @unchecked Sendable {  // safe: used only by the letters' thread once handed over; finish() reads it after that thread has joined
    private let contact: InsurerContact
    private let csv: HashedFile, paragraphs: HashedFile
    private var templates: [LetterKey: LetterTemplate] = [:]
    /// Per paragraph id written, the SHA-256 of the paragraph it stands for (two paragraphs
    /// sharing an id would stop the run; bounded like the templates, by the calendar).
    private var written: [String: [UInt8]] = [:]
    /// The record being built, reused letter after letter.
    private var row: [UInt8] = []

    init(dir: URL, contact: InsurerContact) throws {
        self.contact = contact
        csv = try HashedFile(dir, InsertFiles.csvName, head: CSVField.line(InsertFiles.header))
        paragraphs = try HashedFile(dir, InsertFiles.paragraphsName, head: CSVField.line(InsertFiles.paragraphsHeader))
        row.reserveCapacity(1024)
    }

    func write(_ l: PendingLetter) throws {
        let t = try template(l.key)
        row.removeAll(keepingCapacity: true)
        l.envelope.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
        row.append(UInt8(ascii: ","))
        l.member.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
        row.append(contentsOf: t.documentAndLanguage)
        l.name.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
        row.append(UInt8(ascii: ","))
        if let n = l.number { row.append(contentsOf: String(n).utf8) }
        row.append(contentsOf: t.paragraphIDs)
        try csv.add(row)
    }

    private func template(_ key: LetterKey) throws -> LetterTemplate {
        if let t = templates[key] { return t }
        let facts = LetterFacts(kind: key.kind, reasons: key.reasons.split(separator: UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) },
                                name: InsertFiles.namePlaceholder, validFrom: key.validFrom, validTo: key.validTo,
                                preferredLanguage: key.language.isEmpty ? nil : String(decoding: key.language, as: UTF8.self), insurer: contact)
        let letter = MemberLetter(facts)
        let texts = letter.paragraphs
        var ids: [String] = []
        for i in letter.sections.indices { ids.append(try paragraph(letter.language, text: texts[i], html: LetterHTML.section(letter, i))) }
        let t = LetterTemplate(documentAndLanguage: Array(",\(CSVField.quote(facts.document.rawValue)),\(CSVField.quote(letter.language)),".utf8),
                               paragraphIDs: Array(("," + ids.joined(separator: ",") + "\n").utf8))
        // A run has a few thousand keys, bounded by the calendar, not by the members; past 4,096
        // the rest are composed each time (memory stays flat).
        if templates.count < 4096 { templates[key] = t }
        return t
    }

    /// The id of a paragraph (`LetterParagraphID`), its row written the first time.
    private func paragraph(_ language: String, text: String, html: String) throws -> String {
        let (id, digest) = LetterParagraphID.make(language: language, text: text, html: html)
        if let known = written[id] {
            guard known == digest else {
                throw OperatorError(.internalError, "two paragraphs of the run's letters share the id \(id)", fix: "report this to the developers")
            }
            return id
        }
        written[id] = digest
        try paragraphs.add(Array(CSVField.line([language, id, text, html]).utf8))
        return id
    }

    /// inserts.csv, then letter_paragraphs.csv. (After the thread has ended.)
    func finish() throws -> [MailFiles.FileEntry] {
        [try csv.finish(tail: ""), try paragraphs.finish(tail: "")]
    }

    func abandon() {
        csv.abandon()
        paragraphs.abandon()
    }
}

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

/// A letter's fixed parts of its inserts.csv row, as bytes.
struct LetterTemplate {
    /// `,document,language,` between the member and the name.
    let documentAndLanguage: [UInt8]
    /// `,id,id,…` after the certificate number, with the line end.
    let paragraphIDs: [UInt8]
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
