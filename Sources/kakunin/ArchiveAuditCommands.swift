import ArgumentParser
import Foundation
import KakuninAudit
import KakuninRuntime

extension Audit {
    struct ProveArchive: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prove-archive",
            abstract: "Print an inclusion proof of an archive file's decisions_archived entry (kakunin archive) against a checkpoint.")
        @Argument(help: "The archive file (decisions-YYYY-MM.csv).") var file: String
        @OptionGroup var target: ProofTarget

        func run() throws {
            try target.emitProof { db, cp in try AuditLog.proveArchive(db, file: file, checkpoint: cp) }
        }
    }

    struct VerifyArchive: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-archive",
            abstract:
                "Check an archive file offline (no database): its sha256 and rows against the log entry its proof carries, and the proof against the signed checkpoint; exit 13 naming what differs."
        )
        @Argument(help: "The archive file (decisions-YYYY-MM.csv).") var file: String
        @Option(help: "The file's inclusion proof (from audit prove-archive).") var proof: String
        @Option(help: "The auditors' copy of the public key (PEM): checks the checkpoint's signature.") var publicKey: String

        func run() throws {
            try runReporting {
                let key = try AuditKeys.publicKey(pem: try AuditKeys.load(publicKey), file: publicKey)
                guard FileManager.default.isReadableFile(atPath: file) else {
                    throw OperatorError(.usage, "cannot read \(file)", fix: "check the path")
                }
                let c = try AuditLog.verifyArchive(file: file, proof: try readText(proof), publicKey: key)
                guard c.problems.isEmpty else {
                    print("archive NOT verified: \(file)")
                    for p in c.problems { print("  \(p)") }
                    return .checkFailed
                }
                print(
                    "archive verified: \(file) holds \(c.rows) rows with sha256 \(c.sha256), as the log's entry \(c.proof.sizes.0) records (\(c.partition), runs \(c.runs.map(String.init).joined(separator: " ")))"
                )
                print("the entry is in the log of \(c.proof.sizes.1) entries covered by the checkpoint, signed by this key")
                return .success
            }
        }
    }
}
