import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
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
        /// The file's encoding (exceptions.csv is for staff: always UTF-8 with BOM, `StaffCSV`).
        var encoding: String? = nil
    }

    struct PostageLine: Codable, Equatable {
        let mail_class: String
        let envelopes: Int
        let yen_per_envelope: Int
        let yen: Int
    }

    /// Fields added since the first version are optional, so that older manifests still read.
    struct Manifest: Codable {
        let insurer_number: String
        let as_of: String
        let as_of_era: String
        let run_id: Int
        /// The encoding of the vendor files, as actually written.
        let encoding: String
        var mail_class: String? = nil
        var mail_classes: [String: String]? = nil
        var envelopes: Int? = nil
        var postage: [PostageLine]? = nil
        var postage_total_yen: Int? = nil
        /// The member letters (SPEC.md 5.2): one per mailed document, always UTF-8.
        var inserts: Int? = nil
        var inserts_encoding: String? = nil
        /// "off" when the insurer's `member_letters = off` (no letters written); absent otherwise.
        var member_letters: String? = nil
        /// [2026-12] The sheet certificates are printed on (`certificate_format`) and its size.
        var certificate_format: String? = nil
        var certificate_size: String? = nil
        let files: [FileEntry]
    }

    static let names = (
        certificates: "certificates.csv", eligibility: "eligibility_notices.csv",
        apply: "apply_notices.csv", envelopes: "envelopes.csv", exceptions: "exceptions.csv", manifest: "manifest.json"
    )

    /// The manifest of files already published for this run, or nil when there are none.
    /// Files of another run in the folder are an operator error: they are never overwritten.
    static func published(in dir: URL, runID: Int) throws -> (manifestSHA256: String, manifest: Manifest)? {
        let url = dir.appendingPathComponent(names.manifest)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data = try Data(contentsOf: url)
        guard let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else {
            throw OperatorError(
                .internalError, "\(url.path) is not a kakunin manifest",
                fix: "move the folder \(dir.path) away and run again")
        }
        guard manifest.run_id == runID else {
            throw OperatorError(
                .badConfiguration, "\(dir.path) already holds the mailing files of run \(manifest.run_id), not run \(runID)",
                fix: "move that folder away (or pass another --out) and run again; kakunin never overwrites published files")
        }
        return (hex(SHA256.hash(data: data)), manifest)
    }

    /// Rebuilds the files of a run whose decisions were committed by an earlier attempt, from
    /// the stored certificates, notices and held decisions, in the stream's order (envelope,
    /// member) and through the same record writers, so the bytes are the same. The members are
    /// taken as the run saw them: changes an import committed after the run's snapshot (the
    /// run row keeps it) are undone from `member_history`, and members created since are left out.
    static func rebuild(db: Connection, insurer: String, runID: Int, asOf: LocalDate, into staging: MailStaging) throws {
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? db.execute("ROLLBACK") }
        try db.execute("SET LOCAL work_mem = '256MB'")
        // A run decided before the snapshot was kept (sql/012) is rebuilt from the members as
        // they are now, as before.
        let snapshot = try db.query("SELECT facts_snapshot::text FROM run WHERE run_id = $1", [String(runID)]).scalar
        let lit = snapshot.map { "'\($0)'::pg_snapshot" } ?? "pg_current_snapshot()"  // digits and colons, from the database
        let seen = """
            seen AS (
                SELECT (jsonb_populate_record(m0, coalesce(l.old, '{}'::jsonb))).*
                FROM member m0
                LEFT JOIN (SELECT h.member_id, jsonb_object_agg(e.key, e.value ORDER BY h.history_id DESC) AS old
                           FROM member_history h CROSS JOIN LATERAL jsonb_each(h.old_values) e
                           WHERE h.insurer_number = '\(insurer)' AND h.xact IS NOT NULL AND NOT pg_visible_in_snapshot(h.xact, \(lit))
                           GROUP BY h.member_id) l USING (member_id)
                WHERE m0.insurer_number = '\(insurer)' AND (m0.created_xact IS NULL OR pg_visible_in_snapshot(m0.created_xact, \(lit)))
            )
            """
        let person = "m.member_id, m.scheme, m.birth_date, \(MemberFactsQuery.mailColumns(staging.delivery))"
        let columns = PersonColumns(memberID: 0, scheme: 1, birthDate: 2, mail: 3)
        let first = 3 + MemberFactsQuery.mailColumnCount
        var row = CopyRow()
        func date(_ r: CopyRow, _ i: Int) throws -> LocalDate {
            guard let d = try r.date(i) else { throw OperatorError(.internalError, "a stored mailing date is missing") }
            return d
        }
        // One stream of every document and held member, like the run's (a member has one).
        try db.copyOut(
            """
            COPY (WITH \(seen), \(MemberFactsQuery.households(insurer: "'\(insurer)'", source: "seen", delivery: staging.delivery))
            SELECT \(person), x.* FROM (
                SELECT c.member_id, 'c' AS doc, c.certificate_number, c.kind, c.valid_from, c.valid_to, c.issued_on,
                       array_to_string(c.reasons, ';') AS reasons, c.replaces_certificate_number
                FROM certificate c WHERE c.insurer_number = '\(insurer)' AND c.run_id = \(runID) AND \(RunRegistry.inBlock("c", run: String(runID)))
                UNION ALL
                SELECT n.member_id, 'n', NULL, n.kind, n.valid_from, n.valid_to, n.sent_on, array_to_string(n.reasons, ';'), NULL
                FROM notice n WHERE n.insurer_number = '\(insurer)' AND n.run_id = \(runID)
                UNION ALL
                SELECT d.member_id, 'h', NULL, d.outcome, NULL, NULL, NULL, array_to_string(d.reasons, ';'), NULL
                FROM decision d WHERE d.run_id = \(runID) AND d.as_of = '\(asOf)' AND d.outcome = 'held'
            ) x JOIN hh m USING (member_id)
            ORDER BY 4, 1) TO STDOUT
            """
        ) { chunk in
            row.load(chunk)
            let r = row
            let doc = first + 1
            let reasons = r.withField(doc + 6) { Array($0) }
            switch r.string(doc) {
            case "c":
                _ = try staging.certificate(
                    r, columns, number: r.int64(doc + 1)!, kind: r.string(doc + 2)!, validFrom: date(r, doc + 3),
                    validTo: date(r, doc + 4), issuedOn: date(r, doc + 5), reasons: reasons, replaces: r.int64(doc + 7))
            case "n":
                let kind: Outcome = r.string(doc + 2) == Outcome.eligibilityNotice.rawValue ? .eligibilityNotice : .applyNotice
                _ = try staging.notice(
                    kind, r, columns, sentOn: date(r, doc + 5), reasons: reasons,
                    validFrom: try r.date(doc + 3), validTo: try r.date(doc + 4))
            default:
                try staging.exception(r, columns, outcome: r.string(doc + 2)!, reasons: reasons)
            }
        }
    }
}

/// Where a mailing record's member columns are in a row: the member id, scheme and birth date,
/// then `MemberFactsQuery.mailColumns` from `mail` on.
struct PersonColumns {
    let memberID: Int, scheme: Int, birthDate: Int, mail: Int
    var envelope: Int { mail }
    var copayRatio: Int { mail + 10 }
    var language: Int { mail + 11 }
    var addressee: Int { mail + 12 }
    /// [2026-12] copay_effective_on, special_care, limit_category, limit_effective_on,
    /// long_stay_on, specific_disease.
    var entries: Int { mail + 16 }

    /// What the member's record holds for the printed fields (`PrintedDetails`), as the run saw it.
    func printedMember(_ r: some FactsRow) throws -> PrintedMember? {
        guard let scheme = r.value(self.scheme, Scheme.self), let birth = try r.date(birthDate) else { return nil }
        let e = entries
        return PrintedMember(
            scheme: scheme, birthDate: birth, copayRatio: r.int64(copayRatio).map(Int.init),
            copayEffectiveOn: try r.date(e), specialCare: r.isTrue(e + 1),
            limitCategory: r.string(e + 2), limitEffectiveOn: try r.date(e + 3),
            longStayOn: try r.date(e + 4), specificDisease: r.string(e + 5))
    }

    /// [2026-12] The printed snapshot of a certificate for the member of `r` (SPEC.md 2.5).
    func snapshot(_ r: some FactsRow, validFrom: LocalDate, issuedOn: LocalDate, insurerName: String?) throws -> PrintedSnapshot? {
        guard let m = try printedMember(r) else { return nil }
        return snapshot(r, PrintedDetails(m, .certificate, validFrom: validFrom, issuedOn: issuedOn), insurerName: insurerName)
    }

    func snapshot(_ r: some FactsRow, _ d: PrintedDetails, insurerName: String?) -> PrintedSnapshot {
        var s = PrintedSnapshot()
        // Hashed in place, each column a part (NULL and empty alike); a column range, not a
        // variadic list: no array per field.
        func field(_ f: PrintedSnapshot.Field, _ columns: ClosedRange<Int>) {
            var h = PrintedSnapshot.Part()
            for c in columns {
                r.withBytes(c) { h.add($0) }
                h.end()
            }
            s.set(f, h)
        }
        field(.name, mail + 5...mail + 6)
        field(.kana, mail + 7...mail + 8)
        field(.birthDate, birthDate...birthDate)
        field(.sex, mail + 9...mail + 9)
        field(.symbolNumberBranch, mail + 2...mail + 4)
        field(.insurerNumber, mail + 1...mail + 1)
        var name = PrintedSnapshot.Part()
        name.add(insurerName)
        name.end()
        s.set(.insurerName, name)
        s.set(d)
        return s
    }
}

/// What the mailing files of an insurer look like (SPEC.md 2.6, 5.1), from its parameters.
struct MailSettings: Sendable {
    let parameters: InsurerParameters

    init(_ p: InsurerParameters) { parameters = p }

    var encoding: InsurerParameters.VendorEncoding { parameters.vendorEncoding }
    var certificateClass: InsurerParameters.MailClass { parameters.mailClassCertificate }
    var noticeClass: InsurerParameters.MailClass { parameters.mailClassNotice }
    var noForwardingCertificate: Bool { parameters.noForwardingCertificate }
    var noForwardingNotice: Bool { parameters.noForwardingNotice }
}

/// The mailing files of a run being written into a staging folder beside the final one, then
/// published: every file fsync'd, the folder renamed into place, the parent fsync'd.
///
/// Documents arrive in envelope order (envelope, member). Each vendor record is checked and
/// written in the vendor's encoding; a record that cannot be (a character the encoding lacks,
/// a control character, a field over its `max_chars`) goes to exceptions.csv instead, one row per
/// problem, and the document waits for staff. The envelope list is built as the documents of
/// one envelope go by and written when the next envelope begins: memory holds one envelope.
final class MailStaging {
    let dir: URL
    let staging: URL
    private let runID: Int
    private let settings: MailSettings
    private let encoder: VendorEncoder
    private let certificates: MailFileWriter
    private let eligibility: MailFileWriter
    private let apply: MailFileWriter
    private let envelopes: MailFileWriter
    private let exceptions: MailFileWriter
    /// [2026-12] With employee_delivery = employer only.
    private let establishmentList: MailFileWriter?
    private let inserts: InsertFiles
    private var manifestData = Data()
    private var manifest: MailFiles.Manifest?
    /// The stream key whose envelopes are open, and those envelopes (one but for a divided household).
    private var openKey: [UInt8]?
    private var open: [Envelope] = []
    private let policy: EnvelopePolicy
    private var postage: [InsurerParameters.MailClass: (envelopes: Int, yen: Int)] = [:]
    private var envelopeCount = 0
    private var insurerName: [UInt8]
    private let certificateFormat: String

    private static let person = [
        "member_id", "scheme", "insurer_number", "insurer_name", "symbol", "number", "branch", "family_name",
        "given_name", "family_name_kana", "given_name_kana", "birth_date", "birth_date_era", "sex", "copay_ratio",
    ]
    private static let tail = ["preferred_language", "addressee", "postal_code", "address", "address_extra", "mail_class", "no_forwarding"]
    /// [2026-12] Appended after the older columns, which keep their places (SPEC.md 5.1): the
    /// variant (standard or special_care), the document's title and the copay line as printed.
    private static let printedTail = ["variant", "title", "copay_text"]
    /// [2026-12] Certificates: the optional entries as printed (「＊」 for none; a date's ISO
    /// column is blank then and its era column 「＊」).
    private static let entriesTail = [
        "limit_category", "limit_effective_on", "limit_effective_on_era", "long_stay_on", "long_stay_on_era",
        "specific_disease",
    ]
    static let envelopeHeader = [
        "envelope_id", "addressee", "postal_code", "address", "address_extra", "mail_class", "no_forwarding",
        "certificates", "eligibility_notices", "apply_notices", "documents", "member_ids", "postage_yen", "inserts", "honorific",
    ]
    static let exceptionHeader = [
        "member_id", "scheme", "outcome", "reasons", "document", "certificate_number", "field", "problem",
        "character", "code_point", "length", "limit",
    ]

    /// The staging folder is the attempt's own (`.staging-<job>-<run>-<attempt>`): a process
    /// that lost the run's lock can never touch the folder of the process that took it over.
    /// Folders of earlier attempts of the run are removed (the caller holds the run's lock).
    init(dir: URL, runID: Int, attempt: Int, settings: MailSettings) throws {
        self.dir = dir
        self.runID = runID
        self.settings = settings
        encoder = VendorEncoder(settings.encoding)
        policy = EnvelopePolicy(settings.parameters)
        certificateFormat = settings.parameters.certificateFormat.rawValue
        insurerName = Array((settings.parameters.insurerName ?? "").utf8)
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
        let limits = [
            "name": settings.parameters.maxCharsName, "addressee": settings.parameters.maxCharsName,
            "address": settings.parameters.maxCharsAddress, "address_extra": settings.parameters.maxCharsAddressExtra,
        ]
        certificates = try MailFileWriter(
            staging, names.certificates, encoder: encoder, limits: limits,
            header: ["envelope_id", "certificate_number", "kind"] + Self.person + ["copay_effective_on", "copay_effective_on_era"]
                + [
                    "valid_from", "valid_from_era", "valid_to", "valid_to_era", "issued_on", "issued_on_era", "reasons",
                    "replaces_certificate_number",
                ]
                + Self.tail + Self.printedTail + Self.entriesTail + ["honorific", "certificate_format"])
        let notice = ["envelope_id"] + Self.person + ["sent_on", "sent_on_era", "reasons"] + Self.tail
        // An nhi member aged 70–74 gets 有効期限 and the copay's 発効期日 on the notice (SPEC.md 3
        // [2026-12]); blank for everyone else.
        eligibility = try MailFileWriter(
            staging, names.eligibility, encoder: encoder, limits: limits,
            header: ["envelope_id"] + Self.person + ["copay_effective_on", "copay_effective_on_era", "valid_to", "valid_to_era"]
                + ["sent_on", "sent_on_era", "reasons"] + Self.tail + Self.printedTail + ["honorific"])
        apply = try MailFileWriter(staging, names.apply, encoder: encoder, limits: limits, header: notice + ["honorific"])
        envelopes = try MailFileWriter(staging, names.envelopes, encoder: encoder, limits: [:], header: Self.envelopeHeader)
        // For staff, not the vendor: always UTF-8, so that it can show what the vendor's cannot,
        // with a byte-order mark, so that a spreadsheet opens it right.
        exceptions = try MailFileWriter(
            staging, names.exceptions, encoder: VendorEncoder(.utf8), limits: [:], header: Self.exceptionHeader,
            checked: false, forStaff: true)
        establishmentList =
            settings.parameters.employeeDelivery == .employer
            ? try MailFileWriter(staging, EstablishmentList.name, encoder: encoder, limits: [:], header: EstablishmentList.header) : nil
        inserts = try InsertFiles(dir: staging, runID: runID, parameters: settings.parameters)
    }

    /// [2026-12] How the insurer's employee members get their documents (the envelope keys).
    var delivery: InsurerParameters.EmployeeDelivery { settings.parameters.employeeDelivery }

    /// Writes a certificate's record; returns the problems' summary when it went to the
    /// exceptions instead (the certificate waits for staff), nil when it is in the vendor file.
    /// With [2026-12] the certificate's printed snapshot (SPEC.md 2.5, sql/031).
    func certificate(
        _ r: CopyRow, _ p: PersonColumns, number: Int64, kind: String, validFrom: LocalDate, validTo: LocalDate,
        issuedOn: LocalDate, reasons: [UInt8], replaces: Int64?
    ) throws -> (held: String?, printed: PrintedSnapshot) {
        let d = try printed(r, p, .certificate, validFrom: validFrom, issuedOn: issuedOn)
        let cls = settings.certificateClass
        let nf = settings.noForwardingCertificate
        let id = envelopeID(r, p, .certificate)
        let problems = try certificates.record { w in
            w.field(id)
            w.int(number)
            w.field(kind)
            person(&w, r, p, copay: d.copayRatio != nil)
            w.date(d.copayEffectiveOn)
            w.date(validFrom)
            w.date(validTo)
            w.date(issuedOn)
            w.field(reasons)
            w.int(replaces)
            tail(&w, r, p, cls, nf)
            printedTail(&w, d)
            if let e = d.entries {
                w.field(e.limitCategory)
                entryDate(&w, e.limitEffectiveOn)
                entryDate(&w, e.longStayOn)
                w.field(e.specificDisease)
            }
            w.field(EnvelopePolicy.honorific(key: id))
            w.field(certificateFormat)
        }
        let held = try placed(
            problems, r, p, envelope: id, document: "certificate", outcome: kind, number: number, reasons: reasons, cls: cls, nf: nf,
            validity: (validFrom, validTo))
        return (held, p.snapshot(r, d, insurerName: settings.parameters.insurerName))
    }

    /// `validFrom`/`validTo`: the period of a notice that carries 有効期限 (nhi, attained 70), whose
    /// first day is the copay's 発効期日.
    func notice(
        _ kind: Outcome, _ r: CopyRow, _ p: PersonColumns, sentOn: LocalDate, reasons: [UInt8],
        validFrom: LocalDate? = nil, validTo: LocalDate? = nil
    ) throws -> String? {
        let cls = settings.noticeClass
        let nf = settings.noForwardingNotice
        let d = try printed(r, p, .eligibilityNotice, validFrom: validFrom, issuedOn: sentOn)
        let id = envelopeID(r, p, .notice)
        let problems = try (kind == .eligibilityNotice ? eligibility : apply).record { w in
            w.field(id)
            person(&w, r, p, copay: d.copayRatio != nil)
            if kind == .eligibilityNotice {
                w.date(d.copayEffectiveOn)
                w.date(validTo)
            }
            w.date(sentOn)
            w.field(reasons)
            tail(&w, r, p, cls, nf)
            if kind == .eligibilityNotice { printedTail(&w, d) }
            w.field(EnvelopePolicy.honorific(key: id))
        }
        return try placed(
            problems, r, p, envelope: id, document: kind.rawValue, outcome: kind.rawValue, number: nil, reasons: reasons, cls: cls, nf: nf,
            validity: (validFrom, validTo))
    }

    /// A held member (nothing to mail this run).
    func exception(_ r: CopyRow, _ p: PersonColumns, outcome: String, reasons: [UInt8]) throws {
        _ = try exceptions.record { w in
            w.field(r, p.memberID)
            w.field(r, p.scheme)
            w.field(outcome)
            w.field(reasons)
            for _ in 0..<8 { w.field("") }
        }
    }

    /// What is printed for the member on this document (SPEC.md 5.1), from the row as the run saw it.
    private func printed(
        _ r: CopyRow, _ p: PersonColumns, _ document: PrintedDetails.Document, validFrom: LocalDate?,
        issuedOn: LocalDate
    ) throws -> PrintedDetails {
        guard let m = try p.printedMember(r) else { throw OperatorError(.internalError, "a member row without scheme or birth date") }
        return PrintedDetails(m, document, validFrom: validFrom, issuedOn: issuedOn)
    }

    private func printedTail(_ w: inout RecordLine, _ d: PrintedDetails) {
        w.field(d.variant.rawValue)
        w.field(d.title)
        w.field(d.copayText ?? "")
    }

    /// An optional entry's date: ISO and era, or blank and 「＊」.
    private func entryDate(_ w: inout RecordLine, _ d: LocalDate?) {
        if let d {
            w.date(d)
        } else {
            w.field("")
            w.field(PrintedDetails.none)
        }
    }

    /// A document written: into its envelope, with its member letter. Refused: one exceptions
    /// row per problem (no letter: nothing is mailed).
    private func placed(
        _ problems: [RecordProblem], _ r: CopyRow, _ p: PersonColumns, envelope id: [UInt8], document: String, outcome: String,
        number: Int64?, reasons: [UInt8], cls: InsurerParameters.MailClass, nf: Bool,
        validity: (LocalDate?, LocalDate?)
    ) throws -> String? {
        guard !problems.isEmpty else {
            let i = try addToEnvelope(r, p, id: id, document: document, cls: cls, noForwarding: nf)
            if inserts.letter(
                r, p, envelope: i, id: id, kind: outcome, number: number, reasons: reasons,
                validFrom: validity.0, validTo: validity.1)
            {
                open[i].letters += 1
            }
            if establishmentList != nil && EnvelopePolicy.isEstablishment(id) {
                open[i].listed.append(EstablishmentList.Entry(r, p, document: document, number: number))
            }
            return nil
        }
        for problem in problems {
            _ = try exceptions.record { w in
                w.field(r, p.memberID)
                w.field(r, p.scheme)
                w.field(outcome)
                w.field(reasons)
                w.field(document)
                w.int(number)
                w.field(problem.field)
                w.field(problem.kind.rawValue)
                w.field(problem.character ?? "")
                w.field(problem.codePoint ?? "")
                w.int(problem.length.map(Int64.init))
                w.int(problem.limit.map(Int64.init))
            }
        }
        return problems.map(\.summary).joined(separator: "; ")
    }

    private func person(_ w: inout RecordLine, _ r: CopyRow, _ p: PersonColumns, copay: Bool) {
        w.field(r, p.memberID)
        w.field(r, p.scheme)
        w.field(r, p.mail + 1)  // insurer_number
        w.field(insurerName)
        for i in p.mail + 2...p.mail + 8 { w.field(r, i) }  // symbol … given_name_kana
        w.date(r, p.birthDate)
        w.field(r, p.mail + 9)  // sex
        if copay { w.field(r, p.copayRatio) } else { w.field("") }
    }

    private func tail(_ w: inout RecordLine, _ r: CopyRow, _ p: PersonColumns, _ cls: InsurerParameters.MailClass, _ nf: Bool) {
        w.field(r, p.language)
        for i in p.addressee...p.addressee + 3 { w.field(r, i) }
        w.field(cls.rawValue)
        w.field(nf ? "true" : "false")
    }

    // MARK: - Envelopes

    private struct Envelope {
        var id: [UInt8]
        var addressee: [UInt8], postal: [UInt8], address: [UInt8], extra: [UInt8]
        var counts = [0, 0, 0]
        var members: [UInt8] = []
        var cls: InsurerParameters.MailClass
        var noForwarding: Bool
        /// The member letters of its documents, written to inserts.csv when it is closed, so
        /// that inserts.csv keeps the envelopes' order whatever order the documents came in.
        var letters = 0
        /// Its place among the envelopes open for the key (`InsertFiles` keeps its letters by it).
        var index = 0
        /// 様, or 御中 for an establishment.
        var honorific = EnvelopePolicy.personHonorific
        /// [2026-12] An establishment's: its documents, for establishment_list.csv.
        var listed: [EstablishmentList.Entry] = []
    }

    /// [2026-12] The envelope a document of `group` goes in (`EnvelopePolicy`).
    private func envelopeID(_ r: CopyRow, _ p: PersonColumns, _ group: EnvelopePolicy.Group) -> [UInt8] {
        r.withField(p.envelope) { key in r.withField(p.memberID) { policy.envelopeID(key: key, member: $0, group: group) } }
    }

    /// Adds a document to its envelope among those open for the stream's current key (one,
    /// or a household's envelopes under `split` / `per_person_to_head`); returns its index.
    private func addToEnvelope(
        _ r: CopyRow, _ p: PersonColumns, id: [UInt8], document: String, cls: InsurerParameters.MailClass,
        noForwarding: Bool
    ) throws -> Int {
        // Compared in place: a new key is copied only when the stream reaches it.
        if !(openKey.map { k in r.withField(p.envelope) { k.elementsEqual($0) } } ?? false) {
            try flushEnvelope()
            openKey = r.withField(p.envelope) { Array($0) }
        }
        let i =
            open.lastIndex { $0.id == id }
            ?? {
                open.append(
                    Envelope(
                        id: id, addressee: r.withField(p.addressee) { Array($0) }, postal: r.withField(p.addressee + 1) { Array($0) },
                        address: r.withField(p.addressee + 2) { Array($0) }, extra: r.withField(p.addressee + 3) { Array($0) },
                        cls: cls, noForwarding: noForwarding, index: open.count, honorific: EnvelopePolicy.honorific(key: id)))
                return open.count - 1
            }()
        open[i].counts[document == "certificate" ? 0 : document == Outcome.eligibilityNotice.rawValue ? 1 : 2] += 1
        if !open[i].members.isEmpty { open[i].members.append(UInt8(ascii: ";")) }
        r.withField(p.memberID) { open[i].members.append(contentsOf: $0) }
        open[i].cls = max(open[i].cls, cls)
        open[i].noForwarding = open[i].noForwarding || noForwarding
        return i
    }

    /// Writes the open envelopes in id order (the stream's order), each with its letters.
    private func flushEnvelope() throws {
        var closing: [Envelope] = []
        swap(&closing, &open)
        openKey = nil
        closing.sort { $0.id.lexicographicallyPrecedes($1.id) }
        for e in closing {
            try writeEnvelope(e)
            try inserts.write(envelope: e.index)
            if let list = establishmentList, !e.listed.isEmpty {
                try EstablishmentList.write(list, envelope: e.id, addressee: e.addressee, entries: e.listed)
            }
        }
        inserts.endGroup()
    }

    private func writeEnvelope(_ e: Envelope) throws {
        let yen = settings.parameters.postage(e.cls)
        let problems = try envelopes.record { w in
            w.field(e.id)
            w.field(e.addressee)
            w.field(e.postal)
            w.field(e.address)
            w.field(e.extra)
            w.field(e.cls.rawValue)
            w.field(e.noForwarding ? "true" : "false")
            for c in e.counts { w.int(Int64(c)) }
            w.int(Int64(e.counts.reduce(0, +)))
            w.field(e.members)
            w.int(Int64(yen))
            w.int(Int64(e.letters))
            w.field(e.honorific)
        }
        // Its fields were checked in the documents it holds.
        guard problems.isEmpty else {
            throw OperatorError(
                .internalError, "envelope \(String(decoding: e.id, as: UTF8.self)) cannot be encoded: \(problems.map(\.summary))")
        }
        envelopeCount += 1
        postage[e.cls, default: (0, 0)].envelopes += 1
        postage[e.cls, default: (0, 0)].yen += yen
    }
    /// Closes every file (fsync) and writes the manifest; nothing is visible yet.
    func finish(insurer: String, asOf: LocalDate) throws {
        try flushEnvelope()
        var files: [MailFiles.FileEntry] = []
        for w in [certificates, eligibility, apply, envelopes, exceptions] + (establishmentList.map { [$0] } ?? []) {
            files.append(try w.finish())
            CrashPoint.hit("file:\(w.name)")
        }
        files += try inserts.finish()
        CrashPoint.hit("file:\(InsertFiles.csvName)")
        let lines = InsurerParameters.MailClass.allCases.compactMap { c -> MailFiles.PostageLine? in
            guard let t = postage[c] else { return nil }
            return MailFiles.PostageLine(
                mail_class: c.rawValue, envelopes: t.envelopes, yen_per_envelope: settings.parameters.postage(c), yen: t.yen)
        }
        let m = MailFiles.Manifest(
            insurer_number: insurer, as_of: asOf.description, as_of_era: JapaneseEra.format(asOf) ?? "",
            run_id: runID, encoding: encoder.manifestName,
            mail_classes: ["certificate": settings.certificateClass.rawValue, "notice": settings.noticeClass.rawValue],
            envelopes: envelopeCount, postage: lines, postage_total_yen: lines.reduce(0) { $0 + $1.yen },
            inserts: inserts.count, inserts_encoding: inserts.enabled ? "UTF-8" : nil,
            member_letters: inserts.enabled ? nil : "off",
            certificate_format: settings.parameters.certificateFormat.rawValue,
            certificate_size: settings.parameters.certificateFormat.sizeText, files: files)
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
        for w in [certificates, eligibility, apply, envelopes, exceptions] + (establishmentList.map { [$0] } ?? []) { try? w.abandon() }
        inserts.abandon()
        try? FileManager.default.removeItem(at: staging)
    }
}

/// One CSV file built record by record on bytes, in the vendor's encoding: each date is
/// followed by its era form. A record that cannot be carried is not written; `record` returns
/// its problems.
final class MailFileWriter {
    let name: String
    private let file: BufferedFileWriter
    private let encoder: VendorEncoder
    private let header: [String]
    /// Field index → length limit (the name is checked as family + given name).
    private let limits: [Int: (String, Int)]
    private let nameFields: (family: Int, given: Int)?
    private let nameLimit: Int
    private let checked: Bool
    /// Starts with a UTF-8 byte-order mark (`StaffCSV`).
    private let forStaff: Bool
    private var hasher = SHA256()
    private var records = 0
    private var bytes = 0
    private var line = RecordLine()
    /// Where a record is encoded (CP932): grown to twice the longest record seen.
    private var scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096)
    private var scratchCapacity = 4096

    init(
        _ dir: URL, _ name: String, encoder: VendorEncoder, limits: [String: Int], header: [String], checked: Bool = true,
        forStaff: Bool = false
    ) throws {
        precondition(!forStaff || encoder.encoding == .utf8, "a file for staff is UTF-8")
        self.name = name
        self.encoder = encoder
        self.header = header
        self.checked = checked
        self.forStaff = forStaff
        var l: [Int: (String, Int)] = [:]
        for (field, limit) in limits where field != "name" {
            if let i = header.firstIndex(of: field) { l[i] = (field, limit) }
        }
        self.limits = l
        if let limit = limits["name"], let f = header.firstIndex(of: "family_name"), let g = header.firstIndex(of: "given_name") {
            nameFields = (f, g)
            nameLimit = limit
        } else {
            nameFields = nil
            nameLimit = 0
        }
        file = try OwnerOnlyFile.create(dir.appendingPathComponent(name))
        if forStaff { try StaffCSV.byteOrderMark.withUnsafeBytes { try emit($0) } }
        line.bytes.append(contentsOf: CSVField.join(header).utf8)
        guard try write(line.bytes) else { throw OperatorError(.internalError, "header of \(name) cannot be encoded") }
        line.bytes.removeAll(keepingCapacity: true)
    }
    deinit { scratch.deallocate() }

    /// Writes one line (UTF-8 fields, no line end) in the file's encoding with its line end;
    /// false when it cannot be encoded (nothing written).
    private func write(_ line: [UInt8]) throws -> Bool {
        if scratchCapacity < 2 * line.count + 1 {
            scratch.deallocate()
            scratchCapacity = 2 * line.count + 1024
            scratch = .allocate(capacity: scratchCapacity)
        }
        let utf8 = encoder.encoding == .utf8
        guard let n = line.withUnsafeBufferPointer({ encoder.encode($0, into: utf8 ? nil : scratch) }) else { return false }
        if utf8 {
            try line.withUnsafeBytes { try emit($0) }
            try withUnsafeBytes(of: UInt8(10)) { try emit($0) }
        } else {
            scratch[n] = 10
            try emit(UnsafeRawBufferPointer(start: scratch, count: n + 1))
        }
        return true
    }

    /// Appends one record whose fields `build` adds, or returns why it cannot be written.
    func record(_ build: (inout RecordLine) -> Void) throws -> [RecordProblem] {
        var l = line
        line = RecordLine.empty
        defer {
            l.reset()
            line = l
        }
        build(&l)
        if !checked {
            l.bytes.append(10)
            records += 1
            try l.bytes.withUnsafeBytes { try emit($0) }
            return []
        }
        if withinLimits(l), try write(l.bytes) {
            records += 1
            return []
        }
        // The slow path, for the rare record: only the fields that fail are decoded; a base
        // character and a following combining mark are composed where CP932 has the result.
        var problems: [RecordProblem] = []
        var replaced: [Int: String] = [:]
        for i in l.starts.indices {
            let ok = l.bytes[l.range(i)].withUnsafeBufferPointer { encoder.encode($0, into: nil) != nil }
            if ok { continue }
            let composed = VendorEncoder.composePairs(l.value(i))
            let found = encoder.problems(field: header[i], value: composed)
            if found.isEmpty { replaced[i] = composed } else { problems += found }
        }
        func value(_ i: Int) -> String { replaced[i] ?? l.value(i) }
        for (i, (field, limit)) in limits.sorted(by: { $0.key < $1.key }) where l.length(i) > limit {
            let n = VendorEncoder.printedLength(value(i))
            if n > limit { problems.append(RecordProblem(field: field, kind: .length, length: n, limit: limit)) }
        }
        if let (f, g) = nameFields {
            let n = Self.nameLength(value(f), value(g))
            if n > nameLimit { problems.append(RecordProblem(field: "name", kind: .length, length: n, limit: nameLimit)) }
        }
        guard problems.isEmpty else { return problems }
        guard try write(Array(CSVField.join(l.starts.indices.map(value)).utf8)) else {
            throw OperatorError(.internalError, "a record of \(name) cannot be encoded after composing")
        }
        records += 1
        return []
    }

    /// The limited fields by bytes first (a field of no more bytes than its limit has no more
    /// characters), by characters only when that does not settle it.
    private func withinLimits(_ l: RecordLine) -> Bool {
        for (i, (_, limit)) in limits where l.length(i) > limit && l.scalars(i) > limit {
            if VendorEncoder.printedLength(l.value(i)) > limit { return false }
        }
        if let (f, g) = nameFields, l.scalars(f) + l.scalars(g) + 1 > nameLimit, Self.nameLength(l.value(f), l.value(g)) > nameLimit {
            return false
        }
        return true
    }

    /// The name as printed: family and given name with a space between.
    private static func nameLength(_ family: String, _ given: String) -> Int {
        VendorEncoder.printedLength(family) + (given.isEmpty ? 0 : 1 + VendorEncoder.printedLength(given))
    }

    private func emit(_ b: UnsafeRawBufferPointer) throws {
        guard b.count > 0 else { return }
        hasher.update(bufferPointer: b)
        bytes += b.count
        try file.write(b)
    }

    func finish() throws -> MailFiles.FileEntry {
        try file.close(sync: true)
        return MailFiles.FileEntry(
            name: name, records: records, bytes: bytes, sha256: hex(hasher.finalize()),
            encoding: forStaff ? StaffCSV.encodingName : encoder.manifestName)
    }

    func abandon() throws { try file.close(sync: false) }
}

/// The fields of one CSV record, quoted (RFC 4180) as they are appended.
struct RecordLine {
    var bytes: [UInt8] = []
    /// Where each field begins in `bytes`.
    var starts: [Int] = []

    init() {
        bytes.reserveCapacity(1024)
        starts.reserveCapacity(48)
    }
    private init(empty: Void) {}
    /// A placeholder that allocates nothing.
    static let empty = RecordLine(empty: ())

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
    }

    @inline(__always) private mutating func separator() {
        if !starts.isEmpty { bytes.append(UInt8(ascii: ",")) }
        starts.append(bytes.count)
    }

    /// Bytes of field `i` as written (quoted if it needed quotes).
    func length(_ i: Int) -> Int { (i + 1 < starts.count ? starts[i + 1] - 1 : bytes.count) - starts[i] }

    func range(_ i: Int) -> Range<Int> { starts[i]..<(i + 1 < starts.count ? starts[i + 1] - 1 : bytes.count) }

    /// Scalars of field `i` as written, counted on the bytes (no more than the characters a
    /// limit counts, plus any quotes): a field within its limit by this count needs no String.
    func scalars(_ i: Int) -> Int {
        var n = 0
        for b in bytes[range(i)] where b & 0xC0 != 0x80 { n += 1 }
        return n
    }

    /// Field `i`'s value, unquoted.
    func value(_ i: Int) -> String {
        let end = i + 1 < starts.count ? starts[i + 1] - 1 : bytes.count
        let raw = bytes[starts[i]..<end]
        guard raw.first == 34 else { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: raw.dropFirst().dropLast(), as: UTF8.self).replacingOccurrences(of: "\"\"", with: "\"")
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
        guard let d else {
            bytes.append(UInt8(ascii: ","))
            starts.append(bytes.count)
            return
        }
        let b = EraCache.shared.bytes(d)
        bytes.append(contentsOf: b)
        starts.append(bytes.count - (b.count - b.firstIndex(of: UInt8(ascii: ","))!) + 1)
    }

    mutating func date(_ r: CopyRow, _ i: Int) { date(try? r.date(i)) }
}

/// `2026-12-01,令和8年12月1日` for each date seen, so a run formats each distinct date once.
/// Bounded by the calendar, not by the number of members.
final class EraCache: @unchecked Sendable {  // safe: `cache` is read and written only while `lock` is held
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
        for b in v where b == 44 || b == 34 || b == 10 || b == 13 {
            needs = true
            break
        }
        guard needs else {
            out.append(contentsOf: v)
            return
        }
        out.append(34)
        for b in v {
            if b == 34 { out.append(34) }
            out.append(b)
        }
        out.append(34)
    }
}
