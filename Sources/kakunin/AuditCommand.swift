import ArgumentParser
import Foundation
import KakuninAudit
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The audit log: signed checkpoints, verification, inclusion proofs.",
        discussion: """
            Every import, run, certificate issued, certificate change and staff action is an entry of an
            append-only log hashed as a Merkle tree (RFC 6962/9162). A checkpoint signs the log's size and
            root with an Ed25519 key kept outside the database; keep the checkpoints you receive. Verify
            recomputes every entry's hash and compares the root with a checkpoint, so a change made even
            by a database superuser who recomputes every stored hash is caught.
            """,
        subcommands: [
            Keygen.self, Checkpoint.self, Verify.self, Prove.self, Consistency.self, VerifyProof.self, ShowEntry.self, ProveArchive.self,
            VerifyArchive.self,
        ])

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 key pair as PEM files (PKCS#8 private key 0600, SubjectPublicKeyInfo public key), as openssl does.")
        @Option(help: "Where to write the private key (kept outside the database).") var privateKey: String
        @Option(help: "Where to write the public key (given to auditors).") var publicKey: String

        func run() throws {
            try runReporting {
                guard !FileManager.default.fileExists(atPath: privateKey) else {
                    throw OperatorError(
                        .cannotCreate, "\(privateKey) exists; kakunin never overwrites a key",
                        fix: "choose another path or move the old key away")
                }
                for path in [privateKey, publicKey] {
                    try OwnerOnlyFile.makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent())
                }
                let pair = AuditKeys.generate()
                try OwnerOnlyFile.publish(URL(fileURLWithPath: privateKey)) { try $0.write(pair.privatePEM) }
                try OwnerOnlyFile.publish(URL(fileURLWithPath: publicKey)) { try $0.write(pair.publicPEM) }
                print("private key: \(privateKey) (keep it outside the database; mode 0600)\npublic key:  \(publicKey)")
                return .success
            }
        }
    }

    struct Checkpoint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Seal the log and write a signed checkpoint (size and root).")
        @Option(help: "The Ed25519 private key (PEM).") var key: String
        @Option(help: "Write the checkpoint here (default: standard output).") var output: String?
        @Option(help: "Also write the checkpoint's leaf hashes here (32 bytes per entry), so a later verify can name a changed entry.")
        var leaves: String?
        @Option(help: "Origin line of the checkpoint (default kakunin:<database>).") var origin: String?
        @Flag(help: "Hash every entry again instead of going on from the latest stored checkpoint (the first checkpoint of a new key).")
        var recompute = false
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let key = try AuditKeys.privateKey(pem: try AuditKeys.load(self.key), file: self.key)
                let db = try database.connect()
                let cp = try AuditLog.checkpoint(db, key: key, origin: origin, recompute: recompute)
                try emit(cp.text, to: output)
                if let leaves { try AuditLog.writeLeaves(db, size: cp.size, to: URL(fileURLWithPath: leaves)) }
                if output != nil { print("checkpoint: \(cp.size) entries, root \(cp.root.map { String(format: "%02x", $0) }.joined())") }
                return .success
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove the log still holds exactly what a checkpoint covered (and extends an older one); exit 1 naming what changed.")
        @Option(help: "The checkpoint to verify against.") var checkpoint: String
        @Option(help: "An older checkpoint: the log at --checkpoint must extend it.") var older: String?
        @Option(help: "The auditors' copy of the public key (PEM).") var publicKey: String
        @Option(help: "The checkpoint's leaves file (from audit checkpoint --leaves), to name the first changed entry.") var leaves: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let key = try AuditKeys.publicKey(pem: try AuditKeys.load(publicKey), file: publicKey)
                let newer = try KakuninAudit.Checkpoint.parse(try readText(checkpoint), file: checkpoint)
                let old = try older.map { try KakuninAudit.Checkpoint.parse(try readText($0), file: $0) }
                let db = try database.connect()
                let v = try AuditLog.verify(db, newer: newer, older: old, publicKey: key, leaves: leaves.map { URL(fileURLWithPath: $0) })
                // Every certificate in the table is an entry of the log (or waits for the next seal).
                let c = try AuditLog.certificateCoverage(db)
                let coverage = "certificates: \(c.certificates) = \(c.logged) in the log + \(c.pending) waiting for the next seal"
                if v.ok && c.outside == 0 {
                    print(
                        "audit log verified: the first \(newer.size) entries hash to the signed root\(old.map { "; it extends the checkpoint of \($0.size) entries" } ?? "") (\(v.entries) entries recomputed)"
                    )
                    print(coverage)
                    return .success
                }
                print("audit log BROKEN:")
                for p in v.problems { print("  \(p)") }
                if c.outside > 0 { print("  \(coverage), \(c.outside) outside the log (a trigger of sql/020 was disabled)") }
                return .checkFailed
            }
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an inclusion proof of a certificate's issue entry against the latest checkpoint.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Certificate number.") var certificate: Int64
        @OptionGroup var target: ProofTarget

        func run() throws {
            try target.emitProof { db, cp in try AuditLog.prove(db, insurer: insurer.text, certificate: certificate, checkpoint: cp) }
        }
    }

    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write a consistency proof (RFC 9162) that the log at a newer checkpoint extends the log at an older one, to check offline."
        )
        @Option(help: "The older checkpoint file.") var older: String
        @Option(help: "The newer checkpoint file.") var newer: String
        @Option(help: "Write the proof here (default: standard output).") var output: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let old = try KakuninAudit.Checkpoint.parse(try readText(older), file: older)
                let new = try KakuninAudit.Checkpoint.parse(try readText(newer), file: newer)
                let db = try database.connect()
                try emit(try AuditLog.consistencyProof(db, older: old, newer: new), to: output)
                return .success
            }
        }
    }

    struct VerifyProof: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-proof",
            abstract: "Check an inclusion or consistency proof offline (no database); without --public-key it is not verified (exit 31).")
        @Argument(help: "The proof file (from audit prove or audit consistency).") var file: String
        @Option(help: "The public key: check the checkpoints' signatures (what makes a proof verified).") var publicKey: String?
        @Flag(help: "Without a key: check the hashes only and exit 0 when they hold (the checkpoint stays unverified).")
        var pathOnly = false

        func run() throws {
            try runReporting {
                let key = try publicKey.map { try AuditKeys.publicKey(pem: try AuditKeys.load($0), file: $0) }
                let r = try AuditLog.verifyProof(try readText(file), publicKey: key)
                guard r.problems.isEmpty else {
                    print("proof INVALID:")
                    for p in r.problems { print("  \(p)") }
                    return .checkFailed
                }
                let what =
                    r.kind == .inclusion
                    ? "the entry at index \(r.sizes.0) is in the log of \(r.sizes.1) entries covered by the checkpoint"
                    : "the log of \(r.sizes.1) entries extends the log of \(r.sizes.0) entries"
                let status: ExitStatus
                if r.signatureChecked {
                    print("proof valid: \(what), signed by this key")
                    status = .success
                } else if pathOnly {
                    print("proof path valid: \(what) (--path-only: the signature was not checked)")
                    status = .success
                } else {
                    print("proof unsigned, not verified: the hashes hold (\(what)), but no --public-key was given to check the signature")
                    printError(
                        "kakunin: proof unsigned, not verified\n  fix: give --public-key with the auditors' copy of the key (or --path-only to check the hashes alone)"
                    )
                    status = .proofUnsigned
                }
                if let entry = r.entry { print("entry: \(entry)") }
                return status
            }
        }
    }

    struct ShowEntry: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show-entry", abstract: "Print one log entry as it is now.")
        @Argument(help: "Log index.") var index: Int
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                guard let entry = try AuditEntries.entry(db, index: index) else {
                    throw OperatorError(.notFound, "no log entry \(index)")
                }
                print(String(decoding: entry.bytes, as: UTF8.self))
                return .success
            }
        }
    }
}

func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), let s = String(data: data, encoding: .utf8) else {
        throw OperatorError(.usage, "cannot read \(path)", fix: "check the path")
    }
    return s
}

extension Audit {
    /// Where a proof is made against and written to: `audit prove` and `audit prove-archive`.
    struct ProofTarget: ParsableArguments {
        @Option(help: "Prove against this checkpoint file instead of the latest stored one.") var checkpoint: String?
        @Option(help: "Write the proof here (default: standard output).") var output: String?
        @OptionGroup var database: DatabaseOptions

        /// Connects, picks the checkpoint (the file given, or the latest stored one), writes the proof.
        func emitProof(_ make: (Connection, KakuninAudit.Checkpoint) throws -> String) throws {
            try runReporting {
                let db = try database.connect()
                try emit(try make(db, try checkpointFor(db)), to: output)
                return .success
            }
        }

        private func checkpointFor(_ db: Connection) throws -> KakuninAudit.Checkpoint {
            if let checkpoint { return try KakuninAudit.Checkpoint.parse(try readText(checkpoint), file: checkpoint) }
            guard let latest = try AuditLogStatus.latestCheckpoint(db) else {
                throw OperatorError(.notFound, "no checkpoint yet", fix: "make one: kakunin audit checkpoint --key FILE")
            }
            return latest.checkpoint
        }
    }
}
