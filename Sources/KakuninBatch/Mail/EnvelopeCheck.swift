import Foundation
import KakuninCore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// The enclosing line's check, run on the published files (not on what the writer believes):
/// every document record is in exactly one envelope of envelopes.csv, and every envelope's
/// counts and member ids are the documents that name it. All files are in envelope order (the
/// order of the run's stream), so one pass merges them with one envelope in memory.
struct EnvelopeCheck: Sendable {
    var problems: [String] = []
    /// Letters whose paragraphs letter_paragraphs.csv does not define.
    var letterProblems: [String] = []
    var envelopes = 0
    var documents = 0
    /// Member letters (inserts.csv), nil for a run published before there were any.
    var inserts: Int?
    /// [2026-12] Documents listed in establishment_list.csv, nil when the run wrote none.
    var listed: Int?
    /// Envelopes and yen per mail class, summed from envelopes.csv.
    var postage: [String: (envelopes: Int, yen: Int)] = [:]

    static func run(_ dir: URL) -> EnvelopeCheck { run(open(dir)) }

    /// The files the check reads, open: their folder may be renamed (published) meanwhile.
    struct Files: @unchecked Sendable {  // safe: opened on one thread and handed whole to the one thread that reads them
        let envelopes: LineRecords
        let documents: [LineRecords]
        /// inserts.csv, when the run wrote one.
        var inserts: LineRecords? = nil
        /// [2026-12] establishment_list.csv, when the run delivered through employers.
        var establishmentList: LineRecords? = nil
        /// The paragraph ids of letter_paragraphs.csv, when the run wrote one.
        var paragraphIDs: ParagraphIDs? = nil
    }

    /// The ids letter_paragraphs.csv defines (nil: no such file).
    static func paragraphIDs(_ url: URL) throws -> ParagraphIDs? {
        guard let reader = try? CSVReader(path: url.path) else { return nil }
        var ids = ParagraphIDs()
        var column: Int?
        try reader.forEachRecord { r in
            guard let c = column else {
                column = (0..<r.count).first { r.string($0) == "paragraph_id" }
                if column == nil { throw FileReadError(path: url.path, reason: "no column paragraph_id") }
                return true
            }
            if c < r.count { ids.insert(r.field(c)) }
            return true
        }
        return ids
    }

    static func open(_ dir: URL) -> Result<Files, Error> {
        let names = MailFiles.names
        return Result {
            Files(
                envelopes: try LineRecords(dir.appendingPathComponent(names.envelopes)),
                documents: try [names.certificates, names.eligibility, names.apply].map { try LineRecords(dir.appendingPathComponent($0)) },
                inserts: try? LineRecords(dir.appendingPathComponent(InsertFiles.csvName)),
                establishmentList: try? LineRecords(dir.appendingPathComponent(EstablishmentList.name)),
                paragraphIDs: try paragraphIDs(dir.appendingPathComponent(InsertFiles.paragraphsName)))
        }
    }

    static func run(_ files: Result<Files, Error>) -> EnvelopeCheck {
        var c = EnvelopeCheck()
        do { try c.walk(try files.get()) } catch { c.problems.append("cannot read the files: \(error)") }
        return c
    }

    private mutating func problem(_ s: String) { if problems.count < 10 { problems.append(s) } }

    /// The columns the walk keeps of each file (`keep`), by position.
    private enum Kept {
        static let envelope = (id: 0, counts: [1, 2, 3], members: 4, cls: 5, yen: 6, inserts: 7)
        static let document = (envelope: 0, member: 1)
    }

    private mutating func walk(_ files: Files) throws {
        let env = files.envelopes
        func column(_ r: LineRecords, _ name: String) throws -> Int {
            guard let i = r.header.firstIndex(of: name) else { throw FileReadError(path: r.path, reason: "no column \(name)") }
            return i
        }
        let names0 = ["envelope_id", "certificates", "eligibility_notices", "apply_notices", "member_ids", "mail_class", "postage_yen"]
        // The envelope's count of letters, when the run wrote them (kept last: index 7).
        let insertsColumn = files.inserts == nil ? nil : env.header.firstIndex(of: "inserts")
        env.keep(try names0.map { try column(env, $0) } + (insertsColumn.map { [$0] } ?? []))
        for r in files.documents { r.keep([try column(r, "envelope_id"), try column(r, "member_id")]) }
        if let ins = files.inserts {
            // With letter_paragraphs.csv, the paragraph columns too: each id must be defined there.
            let paragraphs = files.paragraphIDs == nil ? [] : try MemberLetter.Section.allCases.map { try column(ins, $0.rawValue) }
            ins.keep([try column(ins, "envelope_id"), try column(ins, "member_id")] + paragraphs)
            inserts = 0
        }
        if let list = files.establishmentList {
            list.keep([try column(list, "envelope_id"), try column(list, "member_id")])
            listed = 0
        }
        var w = Walk()
        while try env.peek() {
            try checkEnvelope(files, &w, countsInserts: insertsColumn != nil)
            env.consume()
        }
        for c in w.byClass { postage[text(c.cls)] = (c.envelopes, c.yen) }
        try checkLeftovers(files)
    }

    /// What the walk reuses from one envelope to the next (no allocation per envelope once warm).
    private struct Walk {
        var id: [UInt8] = [], previous: [UInt8] = []
        var first = true
        var members = ByteList(), listed = ByteList(), letters = ByteList(), rows = ByteList()
        /// Envelopes and yen per mail class (a handful of classes: searched, not hashed).
        var byClass: [(cls: [UInt8], envelopes: Int, yen: Int)] = []
    }

    /// The envelope read last from envelopes.csv against the documents, letters and list rows
    /// that name it (each file read up to the first record of a later envelope).
    private mutating func checkEnvelope(_ files: Files, _ w: inout Walk, countsInserts: Bool) throws {
        let env = files.envelopes
        let e = Kept.envelope
        let d = Kept.document
        envelopes += 1
        env.copyField(e.id, to: &w.id)
        if !w.first && !ByteList.precedes(w.previous, w.id) {
            problem("envelope \(text(w.id)) is out of order or listed twice")
        }
        w.first = false
        w.members.removeAll()
        for (k, reader) in files.documents.enumerated() {
            var n = 0
            while try reader.peek(), reader.field(d.envelope, equals: w.id) {
                reader.withField(d.member) { w.members.append($0) }
                n += 1
                reader.consume()
            }
            documents += n
            if env.integer(e.counts[k]) != n {
                problem("envelope \(text(w.id)): \(reader.name) count \(env.text(e.counts[k])), documents \(n)")
            }
        }
        if let ins = files.inserts {
            let listed: Int?? = countsInserts ? .some(env.integer(e.inserts)) : .none
            try checkInserts(ins, &w, listed: listed, listedText: { env.text(e.inserts) }, paragraphs: files.paragraphIDs)
        }
        if let list = files.establishmentList { try checkEstablishmentList(list, &w) }
        w.listed.removeAll()
        env.withField(e.members) { w.listed.append(splitting: $0, on: UInt8(ascii: ";")) }
        if !w.listed.sameItems(as: &w.members) {
            problem("envelope \(text(w.id)): lists members \(env.text(e.members)), its documents are for \(w.members.joined())")
        }
        let yen = env.integer(e.yen) ?? 0
        if let k = w.byClass.firstIndex(where: { env.field(e.cls, equals: $0.cls) }) {
            w.byClass[k].envelopes += 1
            w.byClass[k].yen += yen
        } else {
            w.byClass.append((env.field(e.cls), 1, yen))
        }
        swap(&w.id, &w.previous)
    }

    /// Records that no envelope of envelopes.csv took (the walk has read up to them), and
    /// letters naming a paragraph letter_paragraphs.csv lacks.
    private mutating func checkLeftovers(_ files: Files) throws {
        for reader in files.documents {
            var left = 0
            var first: String?
            while try reader.peek() {
                left += 1
                if first == nil { first = "member \(reader.text(1)) in envelope \(reader.text(0))" }
                reader.consume()
            }
            if left > 0 { problem("\(left) records of \(reader.name) are in no envelope of envelopes.csv (first: \(first!))") }
        }
        for (file, name) in [(files.inserts, "letters of inserts.csv"), (files.establishmentList, "rows of establishment_list.csv")] {
            guard let file else { continue }
            var left = 0
            while try file.peek() {
                left += 1
                file.consume()
            }
            if left > 0 { problem("\(left) \(name) are in no envelope of envelopes.csv") }
        }
        if unknownParagraphs > 0 {
            letterProblems.append(
                "\(unknownParagraphs) letters of inserts.csv refer to paragraph ids missing from letter_paragraphs.csv (first: \(firstUnknown ?? ""))"
            )
        }
    }

    /// [2026-12] An establishment's envelope (`E-…`) is listed in establishment_list.csv, one
    /// row per document it holds; no other envelope is.
    private mutating func checkEstablishmentList(_ list: LineRecords, _ w: inout Walk) throws {
        w.rows.removeAll()
        while try list.peek(), list.field(0, equals: w.id) {
            list.withField(1) { w.rows.append($0) }
            list.consume()
        }
        listed = (listed ?? 0) + w.rows.count
        if EnvelopePolicy.isEstablishment(w.id) {
            if !w.rows.sameItems(as: &w.members) {
                problem("envelope \(text(w.id)): establishment_list.csv lists \(w.rows.joined()), the envelope holds \(w.members.joined())")
            }
        } else if w.rows.count > 0 {
            problem("envelope \(text(w.id)): establishment_list.csv lists \(w.rows.joined()), the envelope holds ")
        }
    }

    /// Letters naming a paragraph id letter_paragraphs.csv does not define, and the first such id.
    private var unknownParagraphs = 0
    private var firstUnknown: String?

    /// The envelope's letters (inserts.csv, in the same order): one per document, for the
    /// documents' members, as many as envelopes.csv says (`listed`, nil when it does not say).
    private mutating func checkInserts(
        _ ins: LineRecords, _ w: inout Walk, listed: Int??, listedText: () -> String, paragraphs: ParagraphIDs?
    ) throws {
        w.letters.removeAll()
        while try ins.peek(), ins.field(0, equals: w.id) {
            ins.withField(1) { w.letters.append($0) }
            if let paragraphs, let missing = unknownParagraph(ins, paragraphs) {
                unknownParagraphs += 1
                if firstUnknown == nil { firstUnknown = "member \(ins.text(1)): \(text(missing))" }
            }
            ins.consume()
        }
        inserts = (inserts ?? 0) + w.letters.count
        if !w.letters.sameItems(as: &w.members) {
            problem(
                "envelope \(text(w.id)): \(w.letters.count) letters in inserts.csv for \(w.members.count) documents (letters for \(w.letters.joined()))"
            )
        }
        if let listed, listed != w.letters.count {
            problem("envelope \(text(w.id)): envelopes.csv counts \(listedText()) inserts, inserts.csv has \(w.letters.count)")
        }
    }

    /// The paragraph ids of the letter found defined last (by column): most letters repeat
    /// their neighbours' paragraphs, and comparing two words costs less than a look-up.
    private var definedLast: [ParagraphIDs.Key?] = []

    /// The first paragraph id of the current letter of `ins` (its fields after envelope and
    /// member) that letter_paragraphs.csv does not define, nil when it defines them all (or
    /// when there is no letter_paragraphs.csv).
    private mutating func unknownParagraph(_ ins: LineRecords, _ paragraphs: ParagraphIDs) -> [UInt8]? {
        let n = max(ins.count - 2, 0)
        if definedLast.count != n { definedLast = Array(repeating: nil, count: n) }
        for k in 0..<n {
            let missing = ins.withField(k + 2) { id -> Bool in
                let key = ParagraphIDs.Key(id)
                if let key, key == definedLast[k] { return false }
                guard paragraphs.contains(id, key) else { return true }
                definedLast[k] = key
                return false
            }
            if missing { return ins.field(k + 2) }
        }
        return nil
    }

    private func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    /// A field of ASCII digits as a number (what `Int(String)` gives for it), without making
    /// a string of it; nil for anything else.
    static func integer(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !b.isEmpty, b.count <= 18 else { return b.isEmpty ? nil : Int(String(decoding: b, as: UTF8.self)) }
        var n = 0
        for c in b {
            guard c >= 48 && c <= 57 else { return Int(String(decoding: b, as: UTF8.self)) }
            n = n * 10 + Int(c - 48)
        }
        return n
    }
}

/// The paragraph ids letter_paragraphs.csv defines. An id of up to 16 bytes (the run writes
/// 12 hex digits) is kept as two words and its length, hashed as such, not byte by byte; a
/// longer one as its bytes.
struct ParagraphIDs: Sendable {
    struct Key: Hashable, Sendable {
        let a: UInt64, b: UInt64, count: Int

        /// Nil for an id longer than 16 bytes.
        init?(_ id: UnsafeBufferPointer<UInt8>) {
            guard id.count <= 16 else { return nil }
            var words: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &words) { w in
                if let base = id.baseAddress { w.baseAddress!.copyMemory(from: base, byteCount: id.count) }
            }
            (a, b, count) = (words.0, words.1, id.count)
        }
    }
    private var short = Set<Key>()
    private var long = Set<[UInt8]>()

    mutating func insert(_ id: UnsafeBufferPointer<UInt8>) {
        if let k = Key(id) { short.insert(k) } else { long.insert(Array(id)) }
    }

    /// Whether `id` (its key `key`, nil when it is too long for one) is defined.
    func contains(_ id: UnsafeBufferPointer<UInt8>, _ key: Key?) -> Bool {
        if let key { return short.contains(key) }
        return long.contains(Array(id))
    }
}

/// Byte strings one after the other in one buffer (an envelope's members, its letters): no
/// allocation per item once the buffers have grown.
struct ByteList {
    private var bytes: [UInt8] = []
    private var bounds: [Range<Int>] = []
    /// The items' indexes in byte order (`sameItems`).
    private var order: [Int] = []

    var count: Int { bounds.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
    }

    mutating func append(_ item: UnsafeBufferPointer<UInt8>) {
        let from = bytes.count
        bytes.append(contentsOf: item)
        bounds.append(from..<bytes.count)
    }

    /// The non-empty parts of `list` between `separator`s (what `split(separator:)` gives).
    mutating func append(splitting list: UnsafeBufferPointer<UInt8>, on separator: UInt8) {
        var start = 0
        for i in 0...list.count where i == list.count || list[i] == separator {
            if i > start { append(UnsafeBufferPointer(rebasing: list[start..<i])) }
            start = i + 1
        }
    }

    /// Whether `a` sorts before `b` byte by byte (a prefix first).
    static func precedes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = min(a.count, b.count)
        let c = n == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, n)
        return c != 0 ? c < 0 : a.count < b.count
    }

    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in precedes(a, b) } }
    }

    /// The same items as `other`, in any order (as many times each).
    mutating func sameItems(as other: inout ByteList) -> Bool {
        guard count == other.count else { return false }
        // Most lists come in the same order: no sorting then.
        if Self.same(self, other, sorted: false) { return true }
        sortOrder()
        other.sortOrder()
        return Self.same(self, other, sorted: true)
    }

    /// Item by item, in the lists' order or in byte order (`sortOrder` done).
    private static func same(_ x: ByteList, _ y: ByteList, sorted: Bool) -> Bool {
        x.bytes.withUnsafeBufferPointer { xb in
            y.bytes.withUnsafeBufferPointer { yb in
                for k in 0..<x.count {
                    let a = UnsafeBufferPointer(rebasing: xb[x.bounds[sorted ? x.order[k] : k]])
                    let b = UnsafeBufferPointer(rebasing: yb[y.bounds[sorted ? y.order[k] : k]])
                    guard a.count == b.count, a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 else { return false }
                }
                return true
            }
        }
    }

    private func item<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[bounds[i]])) }
    }

    private mutating func sortOrder() {
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: bounds.indices)
        let bounds = self.bounds
        bytes.withUnsafeBufferPointer { b in
            order.sort { Self.precedes(UnsafeBufferPointer(rebasing: b[bounds[$0]]), UnsafeBufferPointer(rebasing: b[bounds[$1]])) }
        }
    }

    /// The items as text, `;` between them (for a problem's message).
    func joined() -> String {
        bounds.indices.map { item($0) { String(decoding: $0, as: UTF8.self) } }.joined(separator: ";")
    }
}
