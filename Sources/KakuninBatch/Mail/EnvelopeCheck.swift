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
        var paragraphIDs: Set<[UInt8]>? = nil
    }

    /// The ids letter_paragraphs.csv defines (nil: no such file).
    static func paragraphIDs(_ url: URL) throws -> Set<[UInt8]>? {
        guard let reader = try? CSVReader(path: url.path) else { return nil }
        var ids = Set<[UInt8]>()
        var column: Int?
        try reader.forEachRecord { r in
            guard let c = column else {
                column = (0..<r.count).first { r.string($0) == "paragraph_id" }
                if column == nil { throw FileReadError(path: url.path, reason: "no column paragraph_id") }
                return true
            }
            if c < r.count { ids.insert(Array(r.field(c))) }
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

    private mutating func walk(_ files: Files) throws {
        let env = files.envelopes
        let docs = files.documents
        func column(_ r: LineRecords, _ name: String) throws -> Int {
            guard let i = r.header.firstIndex(of: name) else { throw FileReadError(path: r.path, reason: "no column \(name)") }
            return i
        }
        let names0 = ["envelope_id", "certificates", "eligibility_notices", "apply_notices", "member_ids", "mail_class", "postage_yen"]
        // The envelope's count of letters, when the run wrote them (kept last: index 7).
        let insertsColumn = files.inserts == nil ? nil : env.header.firstIndex(of: "inserts")
        env.keep(try names0.map { try column(env, $0) } + (insertsColumn.map { [$0] } ?? []))
        let e = (id: 0, counts: [1, 2, 3], members: 4, cls: 5, yen: 6)
        for r in docs { r.keep([try column(r, "envelope_id"), try column(r, "member_id")]) }
        let d = docs.map { _ in (envelope: 0, member: 1) }
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
        var previous: [UInt8]? = nil
        var byClass: [[UInt8]: (envelopes: Int, yen: Int)] = [:]
        while let row = try env.next() {
            envelopes += 1
            let id = row[e.id]
            if let p = previous, !p.lexicographicallyPrecedes(id) {
                problem("envelope \(text(id)) is out of order or listed twice")
            }
            previous = id
            var members: [[UInt8]] = []
            for (k, reader) in docs.enumerated() {
                var n = 0
                while let next = try reader.peek(), next[d[k].envelope] == id {
                    members.append(next[d[k].member])
                    n += 1
                    _ = try reader.next()
                }
                documents += n
                if Self.integer(row[e.counts[k]]) != n {
                    problem("envelope \(text(id)): \(reader.name) count \(text(row[e.counts[k]])), documents \(n)")
                }
            }
            if let ins = files.inserts {
                try checkInserts(
                    ins, envelope: id, members: members, listed: insertsColumn == nil ? nil : row[7], paragraphs: files.paragraphIDs)
            }
            if let list = files.establishmentList { try checkEstablishmentList(list, envelope: id, members: members) }
            let listed = row[e.members].split(separator: UInt8(ascii: ";")).map { Array($0) }
            if listed.sorted(by: { $0.lexicographicallyPrecedes($1) }) != members.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                problem(
                    "envelope \(text(id)): lists members \(text(row[e.members])), its documents are for \(members.map(text).joined(separator: ";"))"
                )
            }
            byClass[row[e.cls], default: (0, 0)].envelopes += 1
            byClass[row[e.cls], default: (0, 0)].yen += Self.integer(row[e.yen]) ?? 0
        }
        for (cls, sum) in byClass { postage[text(cls)] = sum }
        try checkLeftovers(files)
    }

    /// Records that no envelope of envelopes.csv took (the walk has read up to them), and
    /// letters naming a paragraph letter_paragraphs.csv lacks.
    private mutating func checkLeftovers(_ files: Files) throws {
        for reader in files.documents {
            var left = 0
            var first: String?
            while let r = try reader.next() {
                left += 1
                if first == nil { first = "member \(text(r[1])) in envelope \(text(r[0]))" }
            }
            if left > 0 { problem("\(left) records of \(reader.name) are in no envelope of envelopes.csv (first: \(first!))") }
        }
        for (file, name) in [(files.inserts, "letters of inserts.csv"), (files.establishmentList, "rows of establishment_list.csv")] {
            guard let file else { continue }
            var left = 0
            while try file.next() != nil { left += 1 }
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
    private mutating func checkEstablishmentList(_ list: LineRecords, envelope id: [UInt8], members: [[UInt8]]) throws {
        var rows: [[UInt8]] = []
        while let next = try list.peek(), next[0] == id {
            rows.append(next[1])
            _ = try list.next()
        }
        listed = (listed ?? 0) + rows.count
        let expected = EnvelopePolicy.isEstablishment(id) ? members : []
        func sorted(_ m: [[UInt8]]) -> [[UInt8]] { m.sorted { $0.lexicographicallyPrecedes($1) } }
        if sorted(rows) != sorted(expected) {
            problem(
                "envelope \(text(id)): establishment_list.csv lists \(rows.map(text).joined(separator: ";")), the envelope holds \(expected.map(text).joined(separator: ";"))"
            )
        }
    }

    /// Letters naming a paragraph id letter_paragraphs.csv does not define, and the first such id.
    private var unknownParagraphs = 0
    private var firstUnknown: String?

    /// The envelope's letters (inserts.csv, in the same order): one per document, for the
    /// documents' members, as many as envelopes.csv says.
    private mutating func checkInserts(
        _ ins: LineRecords, envelope id: [UInt8], members: [[UInt8]], listed: [UInt8]?,
        paragraphs: Set<[UInt8]>?
    ) throws {
        var letters: [[UInt8]] = []
        while let next = try ins.peek(), next[0] == id {
            letters.append(next[1])
            if let paragraphs, let missing = unknownParagraph(next, paragraphs) {
                unknownParagraphs += 1
                if firstUnknown == nil { firstUnknown = "member \(text(next[1])): \(text(missing))" }
            }
            _ = try ins.next()
        }
        inserts = (inserts ?? 0) + letters.count
        func sorted(_ m: [[UInt8]]) -> [[UInt8]] { m.sorted { $0.lexicographicallyPrecedes($1) } }
        if sorted(letters) != sorted(members) {
            problem(
                "envelope \(text(id)): \(letters.count) letters in inserts.csv for \(members.count) documents (letters for \(letters.map(text).joined(separator: ";")))"
            )
        }
        if let listed, Self.integer(listed) != letters.count {
            problem("envelope \(text(id)): envelopes.csv counts \(text(listed)) inserts, inserts.csv has \(letters.count)")
        }
    }

    /// The paragraph ids of the letter found defined last (by column): most letters repeat
    /// their neighbours' paragraphs, and comparing bytes costs less than hashing them.
    private var definedLast: [[UInt8]?] = []

    /// The first paragraph id of a letter (its fields after envelope and member) that
    /// letter_paragraphs.csv does not define, nil when it defines them all.
    private mutating func unknownParagraph(_ letter: [[UInt8]], _ paragraphs: Set<[UInt8]>) -> [UInt8]? {
        if definedLast.count != letter.count - 2 { definedLast = Array(repeating: nil, count: max(letter.count - 2, 0)) }
        for (k, id) in letter.dropFirst(2).enumerated() where id != definedLast[k] {
            guard paragraphs.contains(id) else { return id }
            definedLast[k] = id
        }
        return nil
    }

    private func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    /// A field of ASCII digits as a number (what `Int(String)` gives for it), without making
    /// a string of it; nil for anything else.
    static func integer(_ b: [UInt8]) -> Int? {
        guard !b.isEmpty, b.count <= 18 else { return b.isEmpty ? nil : Int(String(decoding: b, as: UTF8.self)) }
        var n = 0
        for c in b {
            guard c >= 48 && c <= 57 else { return Int(String(decoding: b, as: UTF8.self)) }
            n = n * 10 + Int(c - 48)
        }
        return n
    }
}

/// A vendor file read one record per line (its fields hold no line ends: control characters
/// never reach a vendor file), fields split on commas outside quotes. Fields are bytes in the
/// file's encoding; the ids and numbers compared are ASCII in both.
final class LineRecords {
    let path: String
    let name: String
    private let fd: Int32
    // 256 KiB: the check reads four files at once, beside the record counts (grows for a longer line).
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)
    private var start = 0, end = 0, eof = false
    private var peeked: [[UInt8]]?
    private(set) var header: [String] = []

    /// Only these columns are kept of each record (all of the header's).
    private var wanted: [Int] = []

    init(_ url: URL) throws {
        path = url.path
        name = url.lastPathComponent
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
        header = try readRecord().map { $0.map { String(decoding: $0, as: UTF8.self) } } ?? []
    }

    /// Keeps only `columns` of the records read from now on; a record is then indexed by the
    /// position of the column in `columns`.
    func keep(_ columns: [Int]) {
        wanted = columns
        slots = Array(repeating: -1, count: (columns.max() ?? -1) + 1)
        for (k, c) in columns.enumerated() { slots[c] = k }
    }

    /// Column → its position in a kept record (-1: not kept); empty when every column is kept.
    private var slots: [Int] = []

    deinit { close(fd) }

    func peek() throws -> [[UInt8]]? {
        if peeked == nil { peeked = try readRecord() }
        return peeked
    }

    func next() throws -> [[UInt8]]? {
        if let p = peeked {
            peeked = nil
            return p
        }
        return try readRecord()
    }

    private func readRecord() throws -> [[UInt8]]? {
        while true {
            if let nl = newline() {
                let line = buffer[start..<nl]
                start = nl + 1
                return Self.fastSplit(line, slots) ?? Self.split(line, wanted)
            }
            if eof {
                guard start < end else { return nil }
                let line = buffer[start..<end]
                start = end
                return Self.fastSplit(line, slots) ?? Self.split(line, wanted)
            }
            if start > 0 {
                buffer.replaceSubrange(0..<(end - start), with: buffer[start..<end])
                end -= start
                start = 0
            }
            if end == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBufferPointer { read(fd, $0.baseAddress! + end, $0.count - end) }
            if n < 0 { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { eof = true } else { end += n }
        }
    }

    /// The index of the next line end in the buffer, nil when the buffer holds none (memchr:
    /// the check reads hundreds of megabytes).
    private func newline() -> Int? {
        guard start < end else { return nil }
        return buffer.withUnsafeBytes { b -> Int? in
            guard let p = memchr(b.baseAddress! + start, 10, end - start) else { return nil }
            return UnsafeRawPointer(p) - b.baseAddress!
        }
    }

    /// The common case, without copying byte by byte: a line with no quote and no CR but at
    /// its end, fields between commas, only the kept ones copied. Nil: take the general path.
    static func fastSplit(_ line: ArraySlice<UInt8>, _ slots: [Int]) -> [[UInt8]]? {
        line.withUnsafeBufferPointer { b -> [[UInt8]]? in
            var n = b.count
            if n > 0 && b[n - 1] == 13 { n -= 1 }
            let all = slots.isEmpty
            var fields: [[UInt8]] = []
            if !all { fields = Array(repeating: [], count: slots.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }) }
            var index = 0
            var start = 0
            var i = 0
            while i <= n {
                let c: UInt8 = i < n ? b[i] : 44
                if c == 34 || c == 13 { return nil }
                if c == 44 {
                    if all {
                        fields.append(Array(b[start..<i]))
                    } else if index < slots.count, slots[index] >= 0 {
                        fields[slots[index]] = Array(b[start..<i])
                    }
                    index += 1
                    start = i + 1
                    // Past the last kept column: the rest of the line (a letter's quoted
                    // paragraphs) cannot change the fields before it.
                    if !all && index >= slots.count { return fields }
                }
                i += 1
            }
            return fields
        }
    }

    /// The fields of a line (only those in `wanted`, in its order, when it is not empty).
    static func split(_ line: ArraySlice<UInt8>, _ wanted: [Int] = []) -> [[UInt8]] {
        var fields: [[UInt8]] = []
        if !wanted.isEmpty { fields = Array(repeating: [], count: wanted.count) }
        var field: [UInt8] = []
        var index = 0
        var keep = wanted.isEmpty || wanted.contains(0)
        var quoted = false
        var i = line.startIndex
        func close() {
            if wanted.isEmpty { fields.append(field) } else if keep { fields[wanted.firstIndex(of: index)!] = field }
            field.removeAll(keepingCapacity: true)
        }
        while i < line.endIndex {
            let b = line[i]
            if quoted {
                if b == 34 {
                    if i + 1 < line.endIndex && line[i + 1] == 34 {
                        if keep { field.append(34) }
                        i += 1
                    } else {
                        quoted = false
                    }
                } else if keep {
                    field.append(b)
                }
            } else if b == 34 {
                quoted = true
            } else if b == 44 {
                close()
                index += 1
                keep = wanted.isEmpty || wanted.contains(index)
            } else if b != 13 && keep {
                field.append(b)
            }
            i += 1
        }
        close()
        return fields
    }
}
