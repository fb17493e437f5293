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

    /// The mailing files go to the disk as they grow, this many bytes at a time
    /// (BufferedFileWriter.writebackEvery): the fsync before they are published then waits for
    /// the last part only. KAKUNIN_WRITEBACK_BYTES: for measurements (0: at the fsync only).
    static let writebackBytes = Int(ProcessInfo.processInfo.environment["KAKUNIN_WRITEBACK_BYTES"] ?? "") ?? 8 << 20

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
}
