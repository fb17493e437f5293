import Crypto
import Foundation
import KakuninCore
import KakuninStore
#if canImport(Glibc)
import Glibc
#endif

/// The print/mail vendor's files for one run (SPEC.md 5): certificates, eligibility notices,
/// application guidance notices (nhi grouped into one envelope per household, addressed to the
/// head), the held members as exceptions, and a manifest with record counts and SHA-256.
///
/// The run writes them while it decides, from the facts stream (ordered by envelope and member),
/// into a staging folder that it publishes after the decisions commit. A run that crashed after
/// the commit rebuilds them from the stored certificates, notices and decisions in the same
/// order and through the same record writers, so the bytes are the same.
enum MailFiles {
    struct FileEntry: Codable, Equatable {
        let name: String
        let records: Int
        let bytes: Int
        let sha256: String
    }

    struct Manifest: Codable {
        let insurer_number: String
        let as_of: String
        let as_of_era: String
        let run_id: Int
        let mail_class: String
        let encoding: String
        let files: [FileEntry]
    }

    static let names = (certificates: "certificates.csv", eligibility: "eligibility_notices.csv",
                        apply: "apply_notices.csv", exceptions: "exceptions.csv", manifest: "manifest.json")

    /// The manifest of files already published for this run, or nil when there are none.
    /// Files of another run in the folder are an operator error: they are never overwritten.
    static func published(in dir: URL, runID: Int) throws -> (manifestSHA256: String, manifest: Manifest)? {
        let url = dir.appendingPathComponent(names.manifest)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data = try Data(contentsOf: url)
        guard let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else {
            throw OperatorError(.internalError, "\(url.path) is not a kakunin manifest",
                                fix: "move the folder \(dir.path) away and run again")
        }
        guard manifest.run_id == runID else {
            throw OperatorError(.badConfiguration, "\(dir.path) already holds the mailing files of run \(manifest.run_id), not run \(runID)",
                                fix: "move that folder away (or pass another --out) and run again; kakunin never overwrites published files")
        }
        return (hex(SHA256.hash(data: data)), manifest)
    }

    /// Rebuilds the files of a run whose decisions were committed by an earlier attempt.
    static func rebuild(db: Connection, insurer: String, runID: Int, asOf: LocalDate, into staging: MailStaging) throws {
        // One snapshot for the three queries; the sorts fit in memory.
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? db.execute("ROLLBACK") }
        try db.execute("SET LOCAL work_mem = '256MB'")
        let person = "m.member_id, m.scheme, m.birth_date, \(MemberFactsQuery.mailColumns)"
        let columns = PersonColumns(memberID: 0, scheme: 1, birthDate: 2, mail: 3)
        let first = 3 + MemberFactsQuery.mailColumnCount
        let order = "ORDER BY 4, 1"
        var row = CopyRow()
        func each(_ sql: String, _ body: (CopyRow) throws -> Void) throws {
            try db.copyOut("COPY (WITH \(MemberFactsQuery.households(insurer: "'\(insurer)'")) \(sql)) TO STDOUT") { chunk in
                row.load(chunk)
                try body(row)
            }
        }
        func date(_ r: CopyRow, _ i: Int) throws -> LocalDate {
            guard let d = try r.date(i) else { throw OperatorError(.internalError, "a stored mailing date is missing") }
            return d
        }
        try each("""
            SELECT \(person), c.certificate_number, c.kind, c.valid_from, c.valid_to, c.issued_on,
                   array_to_string(c.reasons, ';'), c.replaces_certificate_number
            FROM certificate c JOIN hh m USING (member_id)
            WHERE c.insurer_number = '\(insurer)' AND c.run_id = \(runID) \(order)
            """) { r in
            try staging.certificate(r, columns, number: r.int64(first)!, kind: r.string(first + 1)!,
                                    validFrom: date(r, first + 2), validTo: date(r, first + 3), issuedOn: date(r, first + 4),
                                    reasons: r.withField(first + 5) { Array($0) }, replaces: r.int64(first + 6))
        }
        try each("""
            SELECT \(person), n.kind, n.sent_on, array_to_string(n.reasons, ';')
            FROM notice n JOIN hh m USING (member_id)
            WHERE n.insurer_number = '\(insurer)' AND n.run_id = \(runID) \(order)
            """) { r in
            let kind: Outcome = r.string(first) == Outcome.eligibilityNotice.rawValue ? .eligibilityNotice : .applyNotice
            try staging.notice(kind, r, columns, sentOn: date(r, first + 1), reasons: r.withField(first + 2) { Array($0) })
        }
        try each("""
            SELECT \(person), d.outcome, array_to_string(d.reasons, ';')
            FROM decision d JOIN hh m USING (member_id)
            WHERE d.run_id = \(runID) AND d.as_of = '\(asOf)' AND d.outcome = 'held' \(order)
            """) { r in
            try staging.exception(r, columns, outcome: r.string(first)!, reasons: r.withField(first + 1) { Array($0) })
        }
    }
}

/// Where a mailing record's member columns are in a row: the member id, scheme and birth date,
/// then `MemberFactsQuery.mailColumns` from `mail` on.
struct PersonColumns {
    let memberID: Int, scheme: Int, birthDate: Int, mail: Int
    var envelope: Int { mail }
    var language: Int { mail + 11 }
    var addressee: Int { mail + 12 }
}

/// The four mailing files of a run being written into a staging folder beside the final one,
/// then published: every file fsync'd, the folder renamed into place, the parent fsync'd.
final class MailStaging {
    let dir: URL
    let staging: URL
    private let runID: Int
    private let certificates: MailFileWriter
    private let eligibility: MailFileWriter
    private let apply: MailFileWriter
    private let exceptions: MailFileWriter
    private var manifestData = Data()
    private var manifest: MailFiles.Manifest?

    private static let person = ["member_id", "scheme", "insurer_number", "symbol", "number", "branch", "family_name", "given_name",
                                 "family_name_kana", "given_name_kana", "birth_date", "birth_date_era", "sex", "copay_ratio"]
    private static let tail = ["preferred_language", "addressee", "postal_code", "address", "address_extra", "mail_class"]

    /// The staging folder is the attempt's own (`.staging-<job>-<run>-<attempt>`): a process
    /// that lost the run's lock can never touch the folder of the process that took it over.
    /// Folders of earlier attempts of the run are removed (the caller holds the run's lock).
    init(dir: URL, runID: Int, attempt: Int, mailClass: String) throws {
        self.dir = dir
        self.runID = runID
        let parent = dir.deletingLastPathComponent()
        try OwnerOnlyFile.makeDirectory(parent.deletingLastPathComponent().deletingLastPathComponent())
        try OwnerOnlyFile.makeDirectory(parent.deletingLastPathComponent())
        try OwnerOnlyFile.makeDirectory(parent)
        let prefix = ".staging-\(dir.lastPathComponent)-\(runID)-"
        staging = parent.appendingPathComponent("\(prefix)\(attempt)")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        where name.hasPrefix(prefix) || name == ".staging-\(dir.lastPathComponent)-\(runID)" {
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
        }
        try OwnerOnlyFile.makeDirectory(staging)
        let names = MailFiles.names
        certificates = try MailFileWriter(staging, names.certificates, mailClass: mailClass, header:
            ["envelope_id", "certificate_number", "kind"] + Self.person
            + ["valid_from", "valid_from_era", "valid_to", "valid_to_era", "issued_on", "issued_on_era", "reasons", "replaces_certificate_number"]
            + Self.tail)
        let notice = ["envelope_id"] + Self.person + ["sent_on", "sent_on_era", "reasons"] + Self.tail
        eligibility = try MailFileWriter(staging, names.eligibility, mailClass: mailClass, header: notice)
        apply = try MailFileWriter(staging, names.apply, mailClass: mailClass, header: notice)
        exceptions = try MailFileWriter(staging, names.exceptions, mailClass: nil, header: ["member_id", "scheme", "outcome", "reasons"])
    }

    func certificate(_ r: CopyRow, _ p: PersonColumns, number: Int64, kind: String, validFrom: LocalDate, validTo: LocalDate,
                     issuedOn: LocalDate, reasons: [UInt8], replaces: Int64?) throws {
        try certificates.record { w in
            w.field(r, p.envelope)
            w.int(number)
            w.field(kind)
            person(&w, r, p)
            w.date(validFrom)
            w.date(validTo)
            w.date(issuedOn)
            w.field(reasons)
            w.int(replaces)
            tail(&w, r, p)
        }
    }

    func notice(_ kind: Outcome, _ r: CopyRow, _ p: PersonColumns, sentOn: LocalDate, reasons: [UInt8]) throws {
        try (kind == .eligibilityNotice ? eligibility : apply).record { w in
            w.field(r, p.envelope)
            person(&w, r, p)
            w.date(sentOn)
            w.field(reasons)
            tail(&w, r, p)
        }
    }

    func exception(_ r: CopyRow, _ p: PersonColumns, outcome: String, reasons: [UInt8]) throws {
        try exceptions.record { w in
            w.field(r, p.memberID)
            w.field(r, p.scheme)
            w.field(outcome)
            w.field(reasons)
        }
    }

    private func person(_ w: inout RecordLine, _ r: CopyRow, _ p: PersonColumns) {
        w.field(r, p.memberID)
        w.field(r, p.scheme)
        for i in p.mail + 1...p.mail + 8 { w.field(r, i) }  // insurer … given_name_kana
        w.date(r, p.birthDate)
        w.field(r, p.mail + 9)   // sex
        w.field(r, p.mail + 10)  // copay_ratio
    }

    private func tail(_ w: inout RecordLine, _ r: CopyRow, _ p: PersonColumns) {
        w.field(r, p.language)
        for i in p.addressee...p.addressee + 3 { w.field(r, i) }
    }

    /// Closes every file (fsync) and writes the manifest; nothing is visible yet.
    func finish(insurer: String, asOf: LocalDate, mailClass: String) throws {
        var files: [MailFiles.FileEntry] = []
        for w in [certificates, eligibility, apply, exceptions] {
            files.append(try w.finish())
            CrashPoint.hit("file:\(w.name)")
        }
        let m = MailFiles.Manifest(insurer_number: insurer, as_of: asOf.description, as_of_era: JapaneseEra.format(asOf) ?? "",
                                   run_id: runID, mail_class: mailClass, encoding: "UTF-8", files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(m) + Data("\n".utf8)
        try OwnerOnlyFile.publish(staging.appendingPathComponent(MailFiles.names.manifest)) { w in
            try data.withUnsafeBytes { try w.write($0) }
        }
        manifestData = data
        manifest = m
    }

    /// Renames the staging folder into place.
    func publish(log: RunLog) throws -> (manifestSHA256: String, manifest: MailFiles.Manifest) {
        guard let manifest else { throw OperatorError(.internalError, "mailing files published before they were finished") }
        CrashPoint.hit("before-publish")
        guard rename(staging.path, dir.path) == 0 else {
            throw FileWriteError(path: dir.path, "cannot publish the mailing files (rename of \(staging.lastPathComponent))")
        }
        OwnerOnlyFile.syncDirectory(dir.deletingLastPathComponent())
        log.event("files", "published \(dir.path)", ["files": manifest.files.map(\.name)])
        CrashPoint.hit("after-publish")
        return (hex(SHA256.hash(data: manifestData)), manifest)
    }

    /// Removes the staging folder after a failure (a rerun would replace it anyway).
    func discard() {
        for w in [certificates, eligibility, apply, exceptions] { try? w.abandon() }
        try? FileManager.default.removeItem(at: staging)
    }
}

/// One CSV file built record by record on bytes: each date is followed by its era form, mail
/// files end each record with the mail class.
final class MailFileWriter {
    let name: String
    private let file: BufferedFileWriter
    private let mailClass: [UInt8]?
    private var hasher = SHA256()
    private var records = 0
    private var bytes = 0
    private var line = RecordLine()

    init(_ dir: URL, _ name: String, mailClass: String?, header: [String]) throws {
        self.name = name
        self.mailClass = mailClass.map { Array($0.utf8) }
        file = try OwnerOnlyFile.create(dir.appendingPathComponent(name))
        line.bytes.append(contentsOf: CSVField.line(header).utf8)
        try emit(&line.bytes)
    }

    /// Appends one record whose fields `build` adds.
    func record(_ build: (inout RecordLine) -> Void) throws {
        var l = line
        line = RecordLine.empty
        defer { l.bytes.removeAll(keepingCapacity: true); l.first = true; line = l }
        build(&l)
        if let mailClass { l.bytes.append(UInt8(ascii: ",")); l.bytes.append(contentsOf: mailClass) }
        l.bytes.append(10)
        records += 1
        try emit(&l.bytes)
    }

    private func emit(_ b: inout [UInt8]) throws {
        b.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        bytes += b.count
        try file.write(bytes: b)
        b.removeAll(keepingCapacity: true)
    }

    func finish() throws -> MailFiles.FileEntry {
        try file.close(sync: true)
        return MailFiles.FileEntry(name: name, records: records, bytes: bytes, sha256: hex(hasher.finalize()))
    }

    func abandon() throws { try file.close(sync: false) }
}

/// The fields of one CSV record, quoted (RFC 4180) as they are appended.
struct RecordLine {
    var bytes: [UInt8] = []
    var first = true

    init() { bytes.reserveCapacity(1024) }
    private init(empty: Void) {}
    /// A placeholder that allocates nothing.
    static let empty = RecordLine(empty: ())

    @inline(__always) private mutating func separator() {
        if first { first = false } else { bytes.append(UInt8(ascii: ",")) }
    }

    mutating func field(_ v: UnsafeBufferPointer<UInt8>) {
        separator()
        CSVBytes.appendQuoted(v, to: &bytes)
    }

    mutating func field(_ v: [UInt8]) { v.withUnsafeBufferPointer { field($0) } }

    mutating func field(_ s: String) {
        var s = s
        s.withUTF8 { field($0) }
    }

    /// A column of a decoded row; NULL is an empty field.
    mutating func field(_ r: CopyRow, _ i: Int) {
        r.withField(i) { field($0) }
    }

    mutating func int(_ n: Int64?) {
        separator()
        if let n { bytes.append(contentsOf: String(n).utf8) }
    }

    /// The date and, in the next column, its era form.
    mutating func date(_ d: LocalDate?) {
        separator()
        guard let d else { bytes.append(UInt8(ascii: ",")); return }
        bytes.append(contentsOf: EraCache.shared.bytes(d))
    }

    mutating func date(_ r: CopyRow, _ i: Int) { date(try? r.date(i)) }
}

/// `2026-12-01,令和8年12月1日` for each date seen, so a run formats each distinct date once.
/// Bounded by the calendar, not by the number of members.
final class EraCache: @unchecked Sendable {
    static let shared = EraCache()
    private var cache: [Int32: [UInt8]] = [:]
    private let lock = NSLock()

    func bytes(_ d: LocalDate) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        if let b = cache[d.dayNumber] { return b }
        let b = Array("\(d.description),\(JapaneseEra.format(d) ?? "")".utf8)
        cache[d.dayNumber] = b
        return b
    }
}

/// CSV quoting on bytes (RFC 4180): a field with a comma, quote, CR or LF is quoted, quotes doubled.
enum CSVBytes {
    static func appendQuoted(_ v: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var needs = false
        for b in v where b == 44 || b == 34 || b == 10 || b == 13 { needs = true; break }
        guard needs else { out.append(contentsOf: v); return }
        out.append(34)
        for b in v {
            if b == 34 { out.append(34) }
            out.append(b)
        }
        out.append(34)
    }
}
