import Crypto
import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

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
    /// A run has a few thousand keys, bounded by the calendar, not by the members; past this
    /// many, a letter carries its key and its template is composed each time (memory stays flat).
    static let maxKeys = 4096

    /// False under `member_letters = off` (the insurer encloses its own leaflets).
    let enabled: Bool
    private let writer: InsertWriter?
    private var worker: WorkerThread<LetterBatch>?
    private var batch = LetterBatch()
    /// Each key seen, numbered in the order it was first seen (at most `maxKeys`).
    private var keys: [LetterKey: Int32] = [:]
    private var newKeys: [LetterKey] = []
    /// The letters of the envelopes open for the stream's current key, until they are closed.
    private var staged = LetterBatch()
    /// Reused for each letter's key and name (no allocation per letter).
    private var language: [UInt8] = [], name: [UInt8] = []
    /// Letters handed over (the mailing thread's count, for the manifest and the envelopes).
    private(set) var count = 0

    init(dir: URL, runID: Int, parameters: InsurerParameters) throws {
        enabled = parameters.memberLetters
        guard enabled else {
            writer = nil
            return
        }
        let writer = try InsertWriter(dir: dir, contact: InsurerContact(parameters))
        self.writer = writer
        batch.reserve()
        staged.reserve()
        worker = WorkerThread(maxQueued: Self.maxQueued, process: { try writer.write($0) })
    }

    deinit { worker?.stop() }

    static func htmlName(_ language: String) -> String { "letters_\(language.replacingOccurrences(of: "+", with: "_")).html" }

    /// The letter for one mailed document (a vendor record written) in the open envelope
    /// `envelope` (its id `id`): its key and its row's own bytes (envelope and member, name
    /// and certificate number), kept until the envelope is closed (`write(envelope:)`), so that
    /// inserts.csv keeps the envelopes' order. False under `member_letters = off`.
    func letter(
        _ r: CopyRow, _ p: PersonColumns, envelope: Int, id: [UInt8], kind: String, number: Int64?, reasons: [UInt8],
        validFrom: LocalDate?, validTo: LocalDate?
    ) -> Bool {
        guard enabled else { return false }
        language.removeAll(keepingCapacity: true)
        r.withField(p.language) { language.append(contentsOf: $0) }
        let dates = LetterContent.printedDates(kind: kind, validFrom: validFrom, validTo: validTo)
        let key = self.key(LetterKey(kind: kind, reasons: reasons, validFrom: dates.from, validTo: dates.to, language: language))
        name.removeAll(keepingCapacity: true)
        r.withField(p.mail + 5) { name.append(contentsOf: $0) }
        r.withField(p.mail + 6) { given in
            if !given.isEmpty {
                name.append(UInt8(ascii: " "))
                name.append(contentsOf: given)
            }
        }
        staged.add(key: key, envelope: Int32(envelope)) { row, middle in
            id.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
            row.append(UInt8(ascii: ","))
            r.withField(p.memberID) { CSVBytes.appendQuoted($0, to: &row) }
            middle = row.count
            name.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
            row.append(UInt8(ascii: ","))
            if let number { LetterBatch.appendDigits(number, to: &row) }
        }
        return true
    }

    /// The key's number, or (past `maxKeys`) the key itself carried in the batch.
    private func key(_ k: LetterKey) -> Int32 {
        if let i = keys[k] { return i }
        guard keys.count < Self.maxKeys else { return staged.carry(k) }
        let i = Int32(keys.count)
        keys[k] = i
        newKeys.append(k)
        return i
    }

    /// Hands the letters of open envelope `envelope`, now closed, to the letters' thread.
    func write(envelope: Int) throws {
        guard enabled else { return }
        count += batch.move(from: staged, envelope: Int32(envelope))
        if batch.slots.count >= Self.batchSize { try flush() }
    }

    /// Every open envelope is closed: their letters were handed over.
    func endGroup() {
        guard enabled else { return }
        staged.clear()
    }

    private func flush() throws {
        var full = LetterBatch()
        full.reserve()
        swap(&full, &batch)
        swap(&full.keys, &newKeys)
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
        if !batch.slots.isEmpty || !newKeys.isEmpty { try flush() }
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

/// One letter given whole (its key, the name as printed and the identifiers, as bytes).
struct PendingLetter {
    let key: LetterKey
    let name: [UInt8], envelope: [UInt8], member: [UInt8]
    let number: Int64?
}

/// Letters as the mailing thread hands them to the letters' thread: each letter's own bytes of
/// its row, one after the other in `bytes`, and per letter a slot naming its key and where its
/// bytes are. Keys are numbers (`keys`: those first seen since the last batch, in order); a
/// key past `InsertFiles.maxKeys` travels in `carried` (slot key −1 − its index).
struct LetterBatch: Sendable {
    struct Slot: Sendable {
        var key: Int32, envelope: Int32
        /// `envelope,member` is `start..<middle`, `name,number` is `middle..<end`.
        var start: Int32, middle: Int32, end: Int32
    }
    var bytes: [UInt8] = []
    var slots: [Slot] = []
    var keys: [LetterKey] = []
    var carried: [LetterKey] = []

    mutating func reserve() {
        bytes.reserveCapacity(InsertFiles.batchSize * 96)
        slots.reserveCapacity(InsertFiles.batchSize)
    }

    /// One letter, its bytes appended by `body` (which says where the name begins).
    mutating func add(key: Int32, envelope: Int32, _ body: (inout [UInt8], inout Int) -> Void) {
        let start = bytes.count
        var middle = start
        body(&bytes, &middle)
        slots.append(Slot(key: key, envelope: envelope, start: Int32(start), middle: Int32(middle), end: Int32(bytes.count)))
    }

    /// A key past the numbered ones, carried with its letter.
    mutating func carry(_ k: LetterKey) -> Int32 {
        carried.append(k)
        return -Int32(carried.count)
    }

    /// Appends the letters of `envelope` in `other`; returns how many.
    mutating func move(from other: LetterBatch, envelope: Int32) -> Int {
        var n = 0
        other.bytes.withUnsafeBufferPointer { from in
            for s in other.slots where s.envelope == envelope {
                let key = s.key >= 0 ? s.key : carry(other.carried[Int(-s.key - 1)])
                add(key: key, envelope: 0) { row, middle in
                    middle = row.count + Int(s.middle - s.start)
                    row.append(contentsOf: UnsafeBufferPointer(rebasing: from[Int(s.start)..<Int(s.end)]))
                }
                n += 1
            }
        }
        return n
    }

    mutating func clear() {
        bytes.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        carried.removeAll()
    }

    /// The decimal digits of `n`, without a String.
    static func appendDigits(_ n: Int64, to out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        // The digits counted first, then written in place from the last: no slice reversed
        // (a run writes millions of numbers).
        var v = n.magnitude
        var count = 1
        while v >= 10 {
            v /= 10
            count += 1
        }
        let from = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        v = n.magnitude
        out.withUnsafeMutableBufferPointer { b in
            var i = from + count - 1
            repeat {
                b[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                i -= 1
            } while v > 0
        }
    }
}

/// The letters' thread: writes each letter's row of inserts.csv from its template (composed
/// once per key, as bytes), and each paragraph the first time a letter uses it into
/// letter_paragraphs.csv, hashing as it writes. Both files are created when the run begins,
/// with the others: a run that has lost its lock (its staging folder removed by the run that
/// took over) only writes to files it holds open, and stops at its next check with the lock's
/// error.
final class InsertWriter {
    private let contact: InsurerContact
    private let csv: HashedFile, paragraphs: HashedFile
    /// The run's keys by number (`LetterBatch.keys`), and the template of each used so far.
    private var keys: [LetterKey] = []
    private var templates: [LetterTemplate?] = []
    /// Per paragraph id written, the SHA-256 of the paragraph it stands for (two paragraphs
    /// sharing an id would stop the run; bounded like the templates, by the calendar).
    private var written: [String: [UInt8]] = [:]
    /// The id of each paragraph written, by its sentences (as many as `written`).
    private var paragraphIDs: [LetterParagraphKey: String] = [:]
    /// The batch's rows, built in place and written at once.
    private var rows: [UInt8] = []

    init(dir: URL, contact: InsurerContact) throws {
        self.contact = contact
        csv = try HashedFile(dir, InsertFiles.csvName, head: CSVField.line(InsertFiles.header))
        paragraphs = try HashedFile(dir, InsertFiles.paragraphsName, head: CSVField.line(InsertFiles.paragraphsHeader))
        rows.reserveCapacity(InsertFiles.batchSize * 256)
    }

    /// One letter given whole (the letters' fonts test).
    func write(_ l: PendingLetter) throws {
        var b = LetterBatch()
        let key = b.carry(l.key)
        b.add(key: key, envelope: 0) { row, middle in
            l.envelope.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
            row.append(UInt8(ascii: ","))
            l.member.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
            middle = row.count
            l.name.withUnsafeBufferPointer { CSVBytes.appendQuoted($0, to: &row) }
            row.append(UInt8(ascii: ","))
            if let n = l.number { LetterBatch.appendDigits(n, to: &row) }
        }
        try write(b)
    }

    /// A batch's rows: each letter's own bytes around its template's.
    func write(_ b: LetterBatch) throws {
        keys.append(contentsOf: b.keys)
        templates.append(contentsOf: repeatElement(nil, count: b.keys.count))
        rows.removeAll(keepingCapacity: true)
        try b.bytes.withUnsafeBufferPointer { bytes in
            for s in b.slots {
                let t = try template(s.key, b)
                rows.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[Int(s.start)..<Int(s.middle)]))
                rows.append(contentsOf: t.documentAndLanguage)
                rows.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[Int(s.middle)..<Int(s.end)]))
                rows.append(contentsOf: t.paragraphIDs)
            }
        }
        try csv.add(rows, records: b.slots.count)
    }

    /// The key's template, composed the first time a letter uses it (so letter_paragraphs.csv
    /// keeps the order of first use); a carried key's is composed each time.
    private func template(_ key: Int32, _ b: LetterBatch) throws -> LetterTemplate {
        guard key >= 0 else { return try compose(b.carried[Int(-key - 1)]) }
        if let t = templates[Int(key)] { return t }
        let t = try compose(keys[Int(key)])
        templates[Int(key)] = t
        return t
    }

    private func compose(_ key: LetterKey) throws -> LetterTemplate {
        let facts = LetterFacts(
            kind: key.kind, reasons: key.reasons.split(separator: UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) },
            name: InsertFiles.namePlaceholder, validFrom: key.validFrom, validTo: key.validTo,
            preferredLanguage: key.language.isEmpty ? nil : String(decoding: key.language, as: UTF8.self), insurer: contact)
        let letter = MemberLetter(facts)
        let texts = letter.paragraphs
        var ids: [String] = []
        for i in letter.sections.indices {
            // The sentences decide the paragraph (its text and its page part): a paragraph met
            // before is neither rebuilt as HTML nor hashed again.
            let k = LetterParagraphKey(language: letter.language, section: i, sentences: letter.sections[i].texts)
            if let id = paragraphIDs[k] {
                ids.append(id)
                continue
            }
            let id = try paragraph(letter.language, text: texts[i], html: LetterHTML.section(letter, i))
            paragraphIDs[k] = id
            ids.append(id)
        }
        return LetterTemplate(
            documentAndLanguage: Array(",\(CSVField.quote(facts.document.rawValue)),\(CSVField.quote(letter.language)),".utf8),
            paragraphIDs: Array(("," + ids.joined(separator: ",") + "\n").utf8))
    }

    /// The id of a paragraph (`LetterParagraphID`), its row written the first time.
    private func paragraph(_ language: String, text: String, html: String) throws -> String {
        let (id, digest) = LetterParagraphID.make(language: language, text: text, html: html)
        if let known = written[id] {
            guard known == digest else {
                throw OperatorError(
                    .internalError, "two paragraphs of the run's letters share the id \(id)", fix: "report this to the developers")
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
        file.writebackEvery = MailFiles.writebackBytes
        try write(Array(head.utf8))
    }

    /// One record (a row, a page), or `records` of them at once.
    func add(_ record: [UInt8], records n: Int = 1) throws {
        try write(record)
        records += n
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
