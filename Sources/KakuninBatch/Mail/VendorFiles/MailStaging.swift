import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

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
    let runID: Int
    let settings: MailSettings
    let encoder: VendorEncoder
    let certificates: MailFileWriter
    let eligibility: MailFileWriter
    let apply: MailFileWriter
    let envelopes: MailFileWriter
    let exceptions: MailFileWriter
    /// [2026-12] With employee_delivery = employer only.
    let establishmentList: MailFileWriter?
    let inserts: InsertFiles
    var manifestData = Data()
    var manifest: MailFiles.Manifest?
    /// The stream key whose envelopes are open (when `hasOpenKey`), and those envelopes (one
    /// but for a divided household): `open[..<openCount]`; after them, closed envelopes whose
    /// storage the next ones reuse.
    var openKey: [UInt8] = []
    var hasOpenKey = false
    var open: [Envelope] = []
    var openCount = 0
    let policy: EnvelopePolicy
    var postage: [InsurerParameters.MailClass: (envelopes: Int, yen: Int)] = [:]
    var envelopeCount = 0
    var insurerName: [UInt8]
    let certificateFormat: String

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
