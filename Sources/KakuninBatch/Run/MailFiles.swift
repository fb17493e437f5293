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
/// Written from the committed database state in a fixed order, so a rerun writes the same
/// bytes; published atomically: every file fsync'd in a staging folder that is then renamed.
struct MailFiles {
    struct FileEntry: Codable {
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

    let db: Connection
    let insurer: String
    let runID: Int
    let asOf: LocalDate
    let parameters: InsurerParameters

    static let names = (certificates: "certificates.csv", eligibility: "eligibility_notices.csv",
                        apply: "apply_notices.csv", exceptions: "exceptions.csv", manifest: "manifest.json")

    /// The envelope key and addressee: nhi members share their household head's envelope.
    private var addressing: String {
        """
        heads AS (
            SELECT household_id, max(member_id) FILTER (WHERE household_head) AS head_id, count(*) FILTER (WHERE household_head) AS n
            FROM member WHERE insurer_number = '\(insurer)' AND scheme = 'nhi' AND household_id IS NOT NULL GROUP BY household_id)
        """
    }

    private let addressee = """
        CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL THEN 'H-' || m.household_id ELSE 'M-' || m.member_id END,
        """
    private let addresseeColumns = "a.family_name || coalesce(' ' || a.given_name, ''), a.postal_code, a.address, a.address_extra"
    private var addresseeJoin: String {
        """
        LEFT JOIN heads h ON m.scheme = 'nhi' AND h.household_id = m.household_id AND h.n = 1
        JOIN member a ON a.insurer_number = m.insurer_number AND a.member_id = coalesce(h.head_id, m.member_id)
        """
    }

    func publish(to dir: URL, log: RunLog) throws -> (manifestSHA256: String, manifest: Manifest) {
        let fm = FileManager.default
        let manifestURL = dir.appendingPathComponent(Self.names.manifest)
        if fm.fileExists(atPath: manifestURL.path) {
            // Renamed into place only when complete: an earlier attempt published it.
            let data = try Data(contentsOf: manifestURL)
            log.event("files", "already published by an earlier attempt: \(dir.path)")
            return (hex(SHA256.hash(data: data)), try JSONDecoder().decode(Manifest.self, from: data))
        }
        let parent = dir.deletingLastPathComponent()
        try OwnerOnlyFile.makeDirectory(parent)
        let staging = parent.appendingPathComponent(".staging-\(dir.lastPathComponent)-\(runID)")
        try? fm.removeItem(at: staging)
        try OwnerOnlyFile.makeDirectory(staging)

        let person = "m.member_id, m.scheme, m.insurer_number, m.symbol, m.number, m.branch, m.family_name, m.given_name, m.family_name_kana, m.given_name_kana, m.birth_date, m.sex, m.copay_ratio"
        let personHeader = ["member_id", "scheme", "insurer_number", "symbol", "number", "branch", "family_name", "given_name",
                            "family_name_kana", "given_name_kana", "birth_date", "sex", "copay_ratio"]
        let tail = ["preferred_language", "addressee", "postal_code", "address", "address_extra"]
        var files: [FileEntry] = []

        files.append(try write(staging, Self.names.certificates,
            header: ["envelope_id", "certificate_number", "kind"] + personHeader + ["valid_from", "valid_to", "issued_on", "reasons", "replaces_certificate_number"] + tail,
            dates: [13, 16, 17, 18], sql: """
            WITH \(addressing)
            SELECT \(addressee) c.certificate_number, c.kind, \(person), c.valid_from, c.valid_to, c.issued_on,
                   array_to_string(c.reasons, ';'), c.replaces_certificate_number, m.preferred_language, \(addresseeColumns)
            FROM certificate c JOIN member m ON m.insurer_number = c.insurer_number AND m.member_id = c.member_id
            \(addresseeJoin)
            WHERE c.insurer_number = '\(insurer)' AND c.run_id = \(runID)
            ORDER BY 1, m.member_id
            """))
        for (name, kind) in [(Self.names.eligibility, "eligibility_notice"), (Self.names.apply, "apply_notice")] {
            files.append(try write(staging, name,
                header: ["envelope_id"] + personHeader + ["sent_on", "reasons"] + tail,
                dates: [11, 14], sql: """
                WITH \(addressing)
                SELECT \(addressee) \(person), n.sent_on, array_to_string(n.reasons, ';'), m.preferred_language, \(addresseeColumns)
                FROM notice n JOIN member m ON m.insurer_number = n.insurer_number AND m.member_id = n.member_id
                \(addresseeJoin)
                WHERE n.insurer_number = '\(insurer)' AND n.run_id = \(runID) AND n.kind = '\(kind)'
                ORDER BY 1, m.member_id
                """))
        }
        files.append(try write(staging, Self.names.exceptions, header: ["member_id", "scheme", "outcome", "reasons"], dates: [], sql: """
            SELECT member_id, scheme, outcome, array_to_string(reasons, ';') FROM decision
            WHERE run_id = \(runID) AND as_of = '\(asOf)' AND outcome = 'held' ORDER BY member_id
            """))

        let manifest = Manifest(insurer_number: insurer, as_of: asOf.description, as_of_era: JapaneseEra.format(asOf) ?? "",
                                run_id: runID, mail_class: parameters.mailClass.rawValue, encoding: "UTF-8", files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(manifest) + Data("\n".utf8)
        try OwnerOnlyFile.publish(staging.appendingPathComponent(Self.names.manifest)) { w in
            try data.withUnsafeBytes { try w.write($0) }
        }
        CrashPoint.hit("before-publish")
        guard rename(staging.path, dir.path) == 0 else {
            throw OperatorError(.internalError, "cannot publish \(dir.path): \(String(cString: strerror(errno)))",
                                fix: "check the output folder's permissions and free space, then run again")
        }
        OwnerOnlyFile.syncDirectory(parent)
        log.event("files", "published \(dir.path)", ["files": files.map(\.name)])
        CrashPoint.hit("after-publish")
        return (hex(SHA256.hash(data: data)), manifest)
    }

    /// Streams a query's rows into a CSV file, adding the era form after each date column.
    /// Works on bytes: COPY text fields are unescaped and CSV-quoted without making Strings,
    /// except for the era dates.
    private func write(_ dir: URL, _ name: String, header: [String], dates: Set<Int>, sql: String) throws -> FileEntry {
        var fullHeader: [String] = []
        for (i, h) in header.enumerated() {
            fullHeader.append(h)
            if dates.contains(i) { fullHeader.append(h + "_era") }
        }
        let withMailClass = name != Self.names.exceptions
        if withMailClass { fullHeader.append("mail_class") }
        let isDate = (0..<header.count).map { dates.contains($0) }
        var records = 0
        var hasher = SHA256()
        var bytes = 0
        let mailClass = Array(parameters.mailClass.rawValue.utf8)
        var line: [UInt8] = []
        line.reserveCapacity(1024)
        var parser = CopyTextParser()
        try OwnerOnlyFile.publish(dir.appendingPathComponent(name)) { w in
            func emit() throws {
                line.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                bytes += line.count
                try w.write(bytes: line)
                line.removeAll(keepingCapacity: true)
            }
            line.append(contentsOf: CSVField.line(fullHeader).utf8)
            try emit()
            try db.copyOut("COPY (\(sql)) TO STDOUT") { chunk in
                var column = 0
                parser.forEachField(chunk) { value in
                    if column > 0 { line.append(UInt8(ascii: ",")) }
                    if let value { CSVBytes.appendQuoted(value, to: &line) }
                    if column < isDate.count && isDate[column] {
                        line.append(UInt8(ascii: ","))
                        if let value, let date = DateField.parse(value), let era = JapaneseEra.format(date) {
                            line.append(contentsOf: era.utf8)
                        }
                    }
                    column += 1
                }
                if withMailClass { line.append(UInt8(ascii: ",")); line.append(contentsOf: mailClass) }
                line.append(10)
                try emit()
                records += 1
            }
        }
        CrashPoint.hit("file:\(name)")
        return FileEntry(name: name, records: records, bytes: bytes, sha256: hex(hasher.finalize()))
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
