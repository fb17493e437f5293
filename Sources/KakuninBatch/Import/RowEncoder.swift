import Crypto
import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// Validates a feed's records and writes the good ones in COPY's binary format (SPEC.md
/// section 4): the per-record work of an import, done on worker threads (`ParallelEncoder`).
/// The server then parses no text: dates, flags and numbers arrive as the values they are.
/// Everything here is fixed once the header has been read; a worker's scratch space is its
/// own `Scratch`. Rejects (`import_reject`) and the text a member's row digest is taken over
/// are COPY text.
struct RowEncoder: Sendable {
    typealias Problem = (column: String?, value: String?, reason: String)

    let format: FeedFormat
    /// Format column → file column; -1 for an optional column the file leaves out (read as a
    /// blank field on every row: `field`).
    let map: [Int]
    /// The file's column of each of the format's column names.
    let fileColumn: [String: Int]
    /// The file's number of columns: the format's, less the optional ones it leaves out (the
    /// header was checked).
    let headerCount: Int
    /// What a good row becomes in the COPY stream.
    enum Target: Sendable {
        /// Line number, the format's columns (and the row digest of a member).
        case stage
        /// Line number, insurer, member id and row digest only: a re-import of members compares
        /// these first and reads the full rows of the new and changed members only.
        case keys
        /// Straight into `member`: the columns, the row digest and the import's id twice.
        case direct
        /// As `stage`, but only the members that are new or changed against `stored` (their
        /// digests); each row of a stored member is also told back (`RecordBatch.seen`), so that
        /// a key twice in the file is found without staging every row.
        case changed
    }
    let target: Target
    /// The stored members a `.changed` stream compares with.
    let stored: StoredDigests?
    /// Each format column's type in the feed's table, and a blank field's binary value.
    private let types: [CopyBinary.ColumnType], blankBinary: [[UInt8]], blankBinaryCounts: [Int]
    /// The format's number of columns.
    private let columnCount: Int
    // Each column's rule and blank value, read per field without copying the column.
    private let kinds: [FieldKind], required: [Bool], blanks: [[UInt8]], blankCounts: [Int]
    private let insurerField: Int, memberIDField: Int
    private let insurerColumn: Int, memberIDColumn: Int
    /// A members file's qualified_on and disqualified_on fields (-1 in other feeds).
    private let qualifiedOnField: Int, disqualifiedOnField: Int
    private let importID: Int64, importIDText: String
    /// [2026-12] The format's optional columns (last), and whether the file has any of them.
    private let optionalColumns: [Int], hasOptionalColumns: Bool

    /// `columnTypes`: the type of each of the format's columns in the feed's table.
    init(
        format: FeedFormat, map: [Int], target: Target, importID: Int, columnTypes: [CopyBinary.ColumnType],
        stored: StoredDigests? = nil
    ) throws {
        precondition((target == .changed) == (stored != nil), "a .changed stream compares with the stored digests")
        self.stored = stored
        self.format = format
        self.map = map
        headerCount = map.filter { $0 >= 0 }.count
        self.target = target
        let columns = format.columns
        precondition(columnTypes.count == columns.count, "every column's type is needed")
        types = columnTypes
        blankBinary = try zip(columns, columnTypes).map { column, type in
            var b: [UInt8] = []
            guard var blank = column.blankDefault else {
                CopyBinary.Writer.append(to: &b, size: 4) { $0.null() }
                return b
            }
            try blank.withUTF8 { v in
                try CopyBinary.Writer.append(to: &b, size: CopyBinary.Writer.size(of: type, textCount: v.count)) {
                    guard Self.appendBinary(v, type, to: &$0) else { throw Self.unstorable(column.name, type) }
                }
            }
            return b
        }
        blankBinaryCounts = blankBinary.map(\.count)
        columnCount = columns.count
        fileColumn = Dictionary(uniqueKeysWithValues: columns.indices.map { (columns[$0].name, map[$0]) })
        kinds = columns.map(\.kind)
        required = columns.map(\.required)
        blanks = columns.map { column in
            var b: [UInt8] = []
            CopyText.appendField(column.blankDefault, to: &b)
            return b
        }
        blankCounts = blanks.map(\.count)
        insurerColumn = format.index(of: "insurer_number")!
        memberIDColumn = format.index(of: format.rowIdentifier)!
        insurerField = map[insurerColumn]
        memberIDField = map[memberIDColumn]
        qualifiedOnField = fileColumn["qualified_on"] ?? -1
        disqualifiedOnField = fileColumn["disqualified_on"] ?? -1
        self.importID = Int64(importID)
        importIDText = String(importID)
        optionalColumns = columns.indices.filter { columns[$0].optional }
        hasOptionalColumns = optionalColumns.contains { map[$0] >= 0 }
        precondition(optionalColumns.allSatisfy { $0 >= columns.count - optionalColumns.count }, "optional columns come last")
    }

    /// One thread's working space.
    struct Scratch {
        let scans: UnsafeMutableBufferPointer<FieldBytes>
        var errors: [Problem] = []
        var lastInsurer: [UInt8] = []
        // A batch's results while it is being encoded: local, so that appending to them needs
        // no run-time exclusivity check (a class's stored property does, 15% of the import's CPU).
        var out: [UInt8] = [], rejects: [UInt8] = [], insurers: Set<String> = []
        var seen: [RecordBatch.Seen] = []
        /// A `.changed` batch's new members: their records' places in the batch.
        var absent: [Int32] = []
        /// The stored member a `.changed` row is looked for first: the one after the last found
        /// (an extract in the order of the previous one finds its members without hashing).
        var nextStored = 0
        /// A member's columns, for its digest, when only its keys are sent.
        var row: [UInt8] = []

        init(fields: Int) { scans = .allocate(capacity: fields) }
        func release() { scans.deallocate() }
    }

    /// Validates and encodes every record of `batch` into its `out` (good rows), `rejects`
    /// (COPY rows for import_reject) and `insurers`. A reason to refuse the whole file stops the
    /// batch and is kept in its `refusal`.
    func encode(_ batch: RecordBatch, _ s: inout Scratch) {
        s.lastInsurer.removeAll(keepingCapacity: true)
        swap(&s.out, &batch.out)
        swap(&s.rejects, &batch.rejects)
        swap(&s.insurers, &batch.insurers)
        swap(&s.seen, &batch.seen)
        swap(&s.absent, &batch.absent)
        do {
            var index = 0
            try batch.forEachRecord {
                try encode($0, at: index, &s)
                index += 1
            }
        } catch {
            batch.refusal = error
        }
        swap(&s.out, &batch.out)
        swap(&s.rejects, &batch.rejects)
        swap(&s.insurers, &batch.insurers)
        swap(&s.seen, &batch.seen)
        swap(&s.absent, &batch.absent)
    }

    private func encode(_ record: CSVRecord, at index: Int, _ s: inout Scratch) throws {
        var compared: (SHA256.Digest, StoredDigests.Match)?
        if target == .changed && record.malformed == nil && record.count == headerCount {
            compared = compare(record, &s)
            if case .unchanged(let member) = compared!.1 {
                // Its stored member's digest: the same values, checked when they were stored.
                noteInsurer(record, &s)
                s.seen.append(RecordBatch.Seen(member: Int32(member), line: record.line))
                return
            }
        }
        s.errors.removeAll(keepingCapacity: true)
        try check(record, &s)
        guard s.errors.isEmpty else {
            appendRejects(record, &s)
            return
        }
        noteInsurer(record, &s)
        switch target {
        case .keys: appendKeys(record, &s)
        case .direct, .stage: try appendRow(record, &s, digest: format.name == .members ? rowDigest(record, &s) : nil)
        case .changed: try appendChanged(record, at: index, compared!, &s)
        }
    }

    /// The insurers of the good rows, told once per run of rows of the same insurer.
    @inline(__always)
    private func noteInsurer(_ record: CSVRecord, _ s: inout Scratch) {
        let insurer = record.field(insurerField)
        if !insurer.elementsEqual(s.lastInsurer) {
            s.lastInsurer.removeAll(keepingCapacity: true)
            s.lastInsurer.append(contentsOf: insurer)
            s.insurers.insert(String(decoding: insurer, as: UTF8.self))
        }
    }

    /// A re-imported row's digest and what it is to the stored members, before any check: a
    /// row with its stored member's digest holds the very values stored (which passed these
    /// checks), so only new and changed rows are checked.
    private func compare(_ record: CSVRecord, _ s: inout Scratch) -> (SHA256.Digest, StoredDigests.Match) {
        let digest = rowDigest(record, &s, scanned: false)
        return (digest, stored!.match(record.field(insurerField), record.field(memberIDField), digest, near: &s.nextStored))
    }

    /// Checks a record: its quoting and field count, UTF-8 and no Individual Number (either
    /// refuses the file), each field's rule, then the checks across fields. Problems go to
    /// `s.errors`.
    private func check(_ record: CSVRecord, _ s: inout Scratch) throws {
        if let malformed = record.malformed {
            s.errors.append((nil, nil, "broken CSV quoting: \(malformed)"))
            return
        }
        guard record.count == headerCount else {
            s.errors.append((nil, nil, "row has \(record.count) fields; the header has \(headerCount)"))
            return
        }
        let scans = s.scans
        for i in 0..<record.count {
            let v = record.field(i)
            let bytes = FieldBytes(v)
            scans[i] = bytes
            if !FieldValidator.isValidUTF8(v, bytes) {
                throw FeedImporter.Refusal(
                    message:
                        "the file is not UTF-8 (first bad bytes at line \(record.line), field \(i + 1)); feeds must be UTF-8: convert with `iconv -f CP932 -t UTF-8 FILE > FILE.utf8`"
                )
            }
            if IndividualNumber.appears(in: v, bytes) {
                throw FeedImporter.Refusal(
                    message:
                        "column '\(headerName(index: i))' holds a value that looks like a 12-digit Individual Number (個人番号) at line \(record.line); kakunin never stores Individual Numbers: remove it from the extract and import again"
                )
            }
        }
        // Each column's rule read in place (copying a rule out of the array retained its values).
        kinds.withUnsafeBufferPointer { kinds in
            for c in 0..<columnCount {
                let f = map[c]
                guard f >= 0 else { continue }  // an optional column left out: blank, valid
                if let reason = FieldValidator.check(record.field(f), kind: kinds[c], required: required[c], scans[f]) {
                    s.errors.append((format.columns[c].name, Self.storedText(record, f), reason))
                }
            }
        }
        if s.errors.isEmpty { crossFieldChecks(record, &s.errors) }
    }

    /// The record's problems as COPY rows for import_reject, named by the member when the
    /// record could be read into its columns.
    private func appendRejects(_ record: CSVRecord, _ s: inout Scratch) {
        let memberID = record.malformed == nil && record.count == headerCount ? Self.storedText(record, memberIDField) : nil
        for e in s.errors {
            CopyText.appendRow([importIDText, String(record.line), e.column, e.value, e.reason, memberID], to: &s.rejects)
        }
    }

    /// Binary: line (bigint), insurer, member id, row digest (bytea).
    private func appendKeys(_ record: CSVRecord, _ s: inout Scratch) {
        let insurer = UnsafeRawBufferPointer(record.field(insurerField))
        let memberID = UnsafeRawBufferPointer(record.field(memberIDField))
        let digest = rowDigest(record, &s)
        CopyBinary.Writer.append(to: &s.out, size: 2 + 12 + 4 + insurer.count + 4 + memberID.count + 20) { w in
            w.int16(4)
            w.integer(Int64(record.line), as: .int8)
            w.bytes(insurer)
            w.bytes(memberID)
            Self.write(digest, to: &w)
        }
    }

    /// Staged: line (bigint) first. Then the columns; a member's row digest; an application's
    /// reject reason; straight into member: the import's id twice.
    private func appendRow(_ record: CSVRecord, _ s: inout Scratch, digest: SHA256.Digest?, told: StoredKind? = nil) throws {
        let rejectReason = format.name == .applications ? applicationRejectReason(record) : nil
        var fields = columnCount
        var size = 2
        if target != .direct {
            fields += 1
            size += 12
        }
        for c in 0..<columnCount {
            let n = Self.field(record, map[c]).count
            size += n == 0 ? blankBinaryCounts[c] : CopyBinary.Writer.size(of: types[c], textCount: n)
        }
        if digest != nil {
            fields += 1
            size += 20
        }
        if format.name == .applications {
            fields += 1
            size += 4 + (rejectReason?.utf8.count ?? 0)
        }
        if told != nil {
            fields += 1
            size += 6
        }
        if target == .direct {
            fields += 2
            size += 24
        }
        try CopyBinary.Writer.append(to: &s.out, size: size) { w in
            w.int16(Int16(fields))
            if target != .direct { w.integer(Int64(record.line), as: .int8) }
            for c in 0..<columnCount {
                let v = Self.field(record, map[c])
                if v.isEmpty {
                    blankBinary[c].withUnsafeBytes { w.raw($0) }
                } else {
                    guard Self.appendBinary(v, types[c], to: &w) else { throw Self.unstorable(format.columns[c].name, types[c]) }
                }
            }
            if let digest { Self.write(digest, to: &w) }
            if format.name == .applications {
                if var reason = rejectReason { reason.withUTF8 { w.bytes(UnsafeRawBufferPointer($0)) } } else { w.null() }
            }
            if let told { w.integer(Int64(told.rawValue), as: .int2) }
            if target == .direct {
                w.integer(importID, as: .int8)
                w.integer(importID, as: .int8)
            }
        }
    }

    /// A good member's row that is not its stored member's (`compare`): sent whole (as `stage`),
    /// told back when it is a stored member's, and its place in the batch kept when it is new
    /// (the reader's thread looks for new keys twice).
    private func appendChanged(
        _ record: CSVRecord, at index: Int, _ compared: (SHA256.Digest, StoredDigests.Match), _ s: inout Scratch
    ) throws {
        let kind: StoredKind
        switch compared.1 {
        case .unchanged(let member), .changed(let member):
            s.seen.append(RecordBatch.Seen(member: Int32(member), line: record.line))
            kind = stored!.hasDigest(member) ? .changed : .legacy
        case .absent:
            s.absent.append(Int32(index))
            kind = .new
        }
        try appendRow(record, &s, digest: compared.0, told: kind)
    }

    /// What a `.changed` stream's staged member is to the stored ones (the stage's `stored`).
    enum StoredKind: Int16 {
        case new = 0
        /// Stored with another digest.
        case changed = 1
        /// Stored without a digest (before sql/016): the merge compares its columns.
        case legacy = 2
    }

    /// The record's field `f`, or an empty field for an optional column the file leaves out (-1).
    @inline(__always)
    static func field(_ record: CSVRecord, _ f: Int) -> UnsafeBufferPointer<UInt8> {
        f >= 0 ? record.field(f) : UnsafeBufferPointer(start: nil, count: 0)
    }

    /// A field as a reject row or a duplicate-key candidate carries it: text PostgreSQL can
    /// store (NUL shown as U+FFFD, at most 200 characters). Every value of a file that is kept
    /// as text outside its validated column passes here, the key columns' too (a NUL in a
    /// rejected row's `member_id` once failed the whole import with SQLSTATE 22021).
    static func storedText(_ record: CSVRecord, _ field: Int) -> String {
        FieldValidator.storable(record.string(field), limit: 200)
    }

    /// A member's `row_digest`, the same whatever the target: the first 16 bytes of SHA-256
    /// over the row's columns in COPY text, tab-separated (sql/016).
    /// `scanned`: `check` has gathered the fields' facts in `s.scans` (otherwise each field is
    /// looked at for what COPY text escapes).
    private func rowDigest(_ record: CSVRecord, _ s: inout Scratch, scanned: Bool = true) -> SHA256.Digest {
        s.row.removeAll(keepingCapacity: true)
        appendColumns(record, scanned ? s.scans : nil, to: &s.row)
        return s.row.withUnsafeBytes { SHA256.hash(data: $0) }
    }

    /// The row digest as a bytea field: its first 16 bytes.
    private static func write(_ digest: SHA256.Digest, to w: inout CopyBinary.Writer) {
        digest.withUnsafeBytes { w.bytes(UnsafeRawBufferPointer(rebasing: $0.prefix(16))) }
    }

    /// One validated field in the binary form of its column's type (`Writer.size` bytes); false
    /// when the type cannot hold it (the caller names the column: no name is passed per field).
    private static func appendBinary(
        _ v: UnsafeBufferPointer<UInt8>, _ type: CopyBinary.ColumnType, to w: inout CopyBinary.Writer
    ) -> Bool {
        switch type {
        case .text, .bytea:
            w.bytes(UnsafeRawBufferPointer(v))
        case .date:
            guard let d = DateField.parse(v) else { return false }
            w.date(daysSince1970: d.dayNumber)
        case .boolean:
            let isTrue = equals(v, "true")
            guard isTrue || equals(v, "false") else { return false }
            w.boolean(isTrue)
        case .int2, .int4, .int8:
            var n: Int64 = 0
            guard !v.isEmpty, v.count <= 18 else { return false }
            for b in v {
                guard b &- 48 < 10 else { return false }
                n = n * 10 + Int64(b - 48)
            }
            guard type.holds(n) else { return false }
            w.integer(n, as: type)
        }
        return true
    }

    /// The bytes are `s` (a byte comparison: `elementsEqual` on a String's UTF-8 view took 2% of
    /// a first load).
    @inline(__always)
    private static func equals(_ v: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        v.count == s.utf8CodeUnitCount && memcmp(v.baseAddress!, s.utf8Start, v.count) == 0
    }

    /// A validated value the column's type cannot hold: the feed's rules and the table disagree.
    private static func unstorable(_ column: String, _ type: CopyBinary.ColumnType) -> FeedImporter.Refusal {
        FeedImporter.Refusal(
            message:
                "column '\(column)' passed the feed's rules but its table's column (\(type)) cannot store it; the feed format and the database schema disagree: run `kakunin db migrate` with this version"
        )
    }

    /// The format's columns of a good member's record in COPY text, tab-separated: what its
    /// row digest is taken over.
    private func appendColumns(_ record: CSVRecord, _ scans: UnsafeMutableBufferPointer<FieldBytes>?, to out: inout [UInt8]) {
        let end = digestedColumns(record)
        if appendPlainColumns(record, end, scans, to: &out) { return }
        for c in 0..<end {
            if c > 0 { out.append(9) }
            let f = map[c]
            let v = Self.field(record, f)
            if v.isEmpty {
                out.append(contentsOf: blanks[c])
            } else if scans.map({ $0[f].needsCopyEscape }) ?? true {
                CopyText.appendField(v, to: &out)  // escapes what needs it
            } else {
                out.append(contentsOf: v)
            }
        }
    }

    /// How many of the format's columns a member's digest covers: [2026-12] the optional
    /// columns (last in the format) count only when one is filled, so that a member's digest is
    /// the one it had before they existed (an extract without them re-imports unchanged).
    @inline(__always)
    private func digestedColumns(_ record: CSVRecord) -> Int {
        guard let firstOptional = optionalColumns.first else { return columnCount }
        guard hasOptionalColumns else { return firstOptional }
        for c in optionalColumns where !Self.field(record, map[c]).isEmpty { return columnCount }
        return firstOptional
    }

    /// `appendColumns` when no field needs COPY escaping (the usual row, first load or re-import): the row's length
    /// first, then every field copied into room made once. False (nothing appended) when a
    /// field needs escaping.
    private func appendPlainColumns(
        _ record: CSVRecord, _ end: Int, _ scans: UnsafeMutableBufferPointer<FieldBytes>?, to out: inout [UInt8]
    ) -> Bool {
        guard end > 0 else { return true }
        var total = end - 1
        for c in 0..<end {
            let f = map[c]
            let n = Self.field(record, f).count
            if n == 0 {
                total += blankCounts[c]
            } else {
                // A re-import's rows are digested before any check: no facts gathered, look.
                if scans.map({ $0[f].needsCopyEscape }) ?? CopyText.needsEscape(Self.field(record, f)) { return false }
                total += n
            }
        }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: total))
        out.withUnsafeMutableBufferPointer { b in
            var p = b.baseAddress! + start
            for c in 0..<end {
                if c > 0 {
                    p.pointee = 9
                    p += 1
                }
                let v = Self.field(record, map[c])
                if v.isEmpty {
                    p = blanks[c].withUnsafeBufferPointer { blank in
                        if let from = blank.baseAddress { p.update(from: from, count: blank.count) }
                        return p + blank.count
                    }
                } else {
                    p.update(from: v.baseAddress!, count: v.count)
                    p += v.count
                }
            }
            precondition(p == b.baseAddress! + start + total, "a digest row was sized wrongly")
        }
        return true
    }

    private func headerName(index: Int) -> String {
        if let c = map.firstIndex(of: index) { return format.columns[c].name }
        return "field \(index + 1)"
    }

    private func crossFieldChecks(_ r: CSVRecord, _ errors: inout [Problem]) {
        func f(_ name: String) -> UnsafeBufferPointer<UInt8> { Self.field(r, fileColumn[name]!) }
        func s(_ name: String) -> String { fileColumn[name]! >= 0 ? r.string(fileColumn[name]!) : "" }
        switch format.name {
        case .members:
            // The fields by their file columns found once (no name looked up per row).
            let q = Self.field(r, qualifiedOnField)
            let d = Self.field(r, disqualifiedOnField)
            if !d.isEmpty && d.lexicographicallyPrecedes(q) {
                errors.append(("disqualified_on", s("disqualified_on"), "qualified_on (\(s("qualified_on"))) is after disqualified_on"))
            }
            if hasOptionalColumns { optionalMemberChecks(f, s, &errors) }
        case .mynaStatus:
            let hasCard = s("has_card") == "true"
            let state = s("card_state")
            if !hasCard && state != "none" && state != "returned" {
                errors.append(("card_state", state, "card_state must be none or returned when has_card is false"))
            }
            if hasCard && state == "none" {
                errors.append(("card_state", state, "card_state cannot be none when has_card is true"))
            }
            if hasCard && f("registration").isEmpty {
                errors.append(("registration", "", "registration is required when has_card is true"))
            }
            // [2026-12] A last use after the status's date cannot be (both are valid dates here).
            let last = f("last_used_on")
            if !last.isEmpty && f("status_as_of").lexicographicallyPrecedes(last) {
                errors.append(("last_used_on", s("last_used_on"), "last_used_on is after status_as_of (\(s("status_as_of")))"))
            }
        case .establishments:
            break
        case .applications:
            if s("kind") != "special_consideration" && !f("basis").isEmpty {
                errors.append(("basis", s("basis"), "basis applies only to special_consideration applications"))
            }
        }
    }

    /// [2026-12] The optional columns of members.csv (SPEC.md 4) that only make sense together
    /// or for one scheme.
    private func optionalMemberChecks(_ f: (String) -> UnsafeBufferPointer<UInt8>, _ s: (String) -> String, _ errors: inout [Problem]) {
        let scheme = s("scheme")
        if !f("limit_effective_on").isEmpty && f("limit_category").isEmpty {
            errors.append(
                ("limit_effective_on", s("limit_effective_on"), "limit_effective_on is the 発効期日 of limit_category, which is blank"))
        }
        if scheme != "nhi" && s("special_care") == "true" {
            errors.append(("special_care", "true", "special_care (特別療養) applies only to nhi members, not \(scheme)"))
        }
        if scheme != "employee" && !f("establishment_id").isEmpty {
            errors.append(("establishment_id", s("establishment_id"), "establishment_id applies only to employee members, not \(scheme)"))
        }
        if scheme != "employee" && s("voluntary_continuation") == "true" {
            errors.append(
                ("voluntary_continuation", "true", "voluntary_continuation (任意継続) applies only to employee members, not \(scheme)"))
        }
    }

    /// SPEC.md 4: a special-consideration application without a basis is recorded as rejected
    /// with NO_BASIS; one the insurer rejected in its own system is recorded as such.
    /// The file's status is stored as it is: a row the insurer rejected already says so, and
    /// NO_BASIS becomes rejected in the merge, once the member's scheme is known.
    private func applicationRejectReason(_ r: CSVRecord) -> String? {
        let kind = r.string(fileColumn["kind"]!)
        if kind == "special_consideration" && r.field(fileColumn["basis"]!).isEmpty { return "NO_BASIS" }
        if r.string(fileColumn["status"]!) == "rejected" { return "REJECTED_BY_INSURER" }
        return nil
    }
}

/// Records copied out of the reader (their fields as the reader unescaped them), and what a
/// worker made of them.
final class RecordBatch: ReusableBatch, @unchecked Sendable {  // safe: one thread's at a time (OrderedParallelMap)
    private var bytes: [UInt8] = [], ends: [Int] = []
    private var lines: [Int] = [], malformed: [String?] = [], byteStarts: [Int] = [], endStarts: [Int] = []
    var count: Int { lines.count }

    // Written by the worker, read by the reader's thread once the map has emitted the batch.
    var out: [UInt8] = []
    var rejects: [UInt8] = []
    var insurers: Set<String> = []
    /// A `.changed` stream's good rows of stored members: which member, on which line.
    var seen: [Seen] = []
    /// A `.changed` stream's good rows of new members: their records' places in the batch.
    var absent: [Int32] = []
    var refusal: Error?

    struct Seen {
        let member: Int32
        let line: Int
    }

    init() {}

    func append(_ r: CSVRecord) {
        lines.append(r.line)
        malformed.append(r.malformed)
        byteStarts.append(bytes.count)
        endStarts.append(ends.count)
        let length = r.count > 0 ? r.ends[r.count - 1] : 0
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: r.bytes[0..<length]))
        ends.append(contentsOf: r.ends)
    }

    func forEachRecord(_ body: (CSVRecord) throws -> Void) rethrows {
        try withRecords { record in
            for i in 0..<count { try body(record(i)) }
        }
    }

    /// The records at `indexes` (places in the batch), in the order given.
    func forEachRecord(at indexes: [Int32], _ body: (CSVRecord) throws -> Void) rethrows {
        guard !indexes.isEmpty else { return }
        try withRecords { record in
            for i in indexes { try body(record(Int(i))) }
        }
    }

    /// `body` gets the batch's records by their place, valid while it runs.
    private func withRecords(_ body: ((Int) -> CSVRecord) throws -> Void) rethrows {
        // Local copies (no bytes copied): reading a class's arrays in the loop would check
        // exclusive access at run time for every record.
        let lines = lines
        let malformed = malformed
        let byteStarts = byteStarts
        let endStarts = endStarts
        let count = lines.count
        try bytes.withUnsafeBufferPointer { b in
            try ends.withUnsafeBufferPointer { e in
                try body { i in
                    let bytesEnd = i + 1 < count ? byteStarts[i + 1] : b.count
                    let endsEnd = i + 1 < count ? endStarts[i + 1] : e.count
                    return CSVRecord(
                        line: lines[i], malformed: malformed[i],
                        bytes: UnsafeBufferPointer(rebasing: b[byteStarts[i]..<bytesEnd]),
                        ends: UnsafeBufferPointer(rebasing: e[endStarts[i]..<endsEnd]))
                }
            }
        }
    }

    func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        malformed.removeAll(keepingCapacity: true)
        byteStarts.removeAll(keepingCapacity: true)
        endStarts.removeAll(keepingCapacity: true)
        out.removeAll(keepingCapacity: true)
        rejects.removeAll(keepingCapacity: true)
        insurers.removeAll()
        seen.removeAll(keepingCapacity: true)
        absent.removeAll(keepingCapacity: true)
        refusal = nil
    }
}

/// Validates and encodes an import's records on worker threads (the runtime's ordered parallel
/// map), while the reader's thread parses the CSV and sends the results through COPY. Batches
/// go out in file order, so the COPY stream, the rejects and the first reason to refuse a file
/// are the same as when one thread did everything. Memory is bounded: at most `maxInFlight`
/// batches of `batchRecords` records exist, and they are reused.
typealias ParallelEncoder = OrderedParallelMap<RecordBatch>

extension OrderedParallelMap where Batch == RecordBatch {
    static var batchRecords: Int { 512 }
    static var maxInFlight: Int { 8 }

    /// Each worker encodes with a scratch of its own, released when the map stops.
    convenience init(_ encoder: RowEncoder) {
        self.init(batchSize: Self.batchRecords, maxInFlight: Self.maxInFlight) {
            var scratch = RowEncoder.Scratch(fields: encoder.headerCount)
            return ({ encoder.encode($0, &scratch) }, { scratch.release() })
        }
    }

    /// Adds one record; `emit` receives finished batches in file order (and may throw).
    @inline(__always)
    func add(_ record: CSVRecord, _ emit: (RecordBatch) throws -> Void) throws {
        try add({ $0.append(record) }, emit)
    }
}
