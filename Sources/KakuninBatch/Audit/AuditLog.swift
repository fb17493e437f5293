import Crypto
import Foundation
import KakuninStore

/// Ed25519 keys as PEM files, the way `openssl genpkey -algorithm ed25519` (PKCS#8 private key)
/// and `openssl pkey -pubout` (SubjectPublicKeyInfo) write them.
public enum AuditKeys {
    // DER prefixes of the two structures for Ed25519 (OID 1.3.101.112); the key's 32 bytes follow.
    static let privatePrefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
    static let publicPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    public static func generate() -> (privatePEM: String, publicPEM: String) {
        let key = Curve25519.Signing.PrivateKey()
        return (pem("PRIVATE KEY", privatePrefix + Array(key.rawRepresentation)),
                pem("PUBLIC KEY", publicPrefix + Array(key.publicKey.rawRepresentation)))
    }

    public static func privateKey(pem text: String, file: String) throws -> Curve25519.Signing.PrivateKey {
        let der = try decode(text, label: "PRIVATE KEY", file: file)
        guard der.count == privatePrefix.count + 32, Array(der.prefix(privatePrefix.count)) == privatePrefix else {
            throw OperatorError(.badConfiguration, "\(file) is not an Ed25519 private key (PKCS#8)",
                                fix: "make one with kakunin audit keygen, or openssl genpkey -algorithm ed25519 -out \(file)")
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
    }

    public static func publicKey(pem text: String, file: String) throws -> Curve25519.Signing.PublicKey {
        let der = try decode(text, label: "PUBLIC KEY", file: file)
        guard der.count == publicPrefix.count + 32, Array(der.prefix(publicPrefix.count)) == publicPrefix else {
            throw OperatorError(.badConfiguration, "\(file) is not an Ed25519 public key (SubjectPublicKeyInfo)",
                                fix: "derive it with openssl pkey -in PRIVATE.pem -pubout -out \(file)")
        }
        return try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
    }

    static func pem(_ label: String, _ der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(b64)\n-----END \(label)-----\n"
    }

    static func decode(_ text: String, label: String, file: String) throws -> [UInt8] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let start = lines.firstIndex(of: "-----BEGIN \(label)-----"), let end = lines.firstIndex(of: "-----END \(label)-----"), start < end,
              let der = Data(base64Encoded: lines[(start + 1)..<end].joined()) else {
            throw OperatorError(.badConfiguration, "\(file) is not a PEM file with a \(label) block",
                                fix: "give the file kakunin audit keygen (or openssl) wrote")
        }
        return Array(der)
    }

    public static func load(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw OperatorError(.badConfiguration, "cannot read the key file \(path)", fix: "check the path and that it is readable")
        }
        return text
    }
}

/// A signed statement of the log's size and root (a checkpoint). The signed message is the
/// five lines of the body, each ending in a line feed; the signature (Ed25519, base64) follows
/// after a blank line:
///
///     kakunin-audit-log/v1
///     origin: kakunin:kakunin_demo
///     size: 1234
///     root: 3f0a…(64 hex digits)
///     time: 2026-12-01T03:12:09Z
///
///     signature: …
public struct Checkpoint: Sendable, Equatable {
    public static let header = "kakunin-audit-log/v1"
    public var origin: String
    public var size: Int
    public var root: [UInt8]
    public var time: String
    public var signature: [UInt8] = []

    public var body: String {
        "\(Self.header)\norigin: \(origin)\nsize: \(size)\nroot: \(root.hexString)\ntime: \(time)\n"
    }

    public var text: String { body + "\nsignature: \(Data(signature).base64EncodedString())\n" }

    public mutating func sign(_ key: Curve25519.Signing.PrivateKey) throws {
        signature = Array(try key.signature(for: Data(body.utf8)))
    }

    public func signatureValid(_ key: Curve25519.Signing.PublicKey) -> Bool {
        key.isValidSignature(Data(signature), for: Data(body.utf8))
    }

    public static func parse(_ text: String, file: String) throws -> Checkpoint {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func value(_ prefix: String) -> String? {
            lines.first { $0.hasPrefix(prefix + ": ") }.map { String($0.dropFirst(prefix.count + 2)) }
        }
        guard lines.first == header, let origin = value("origin"), let size = value("size").flatMap({ Int($0) }),
              let root = value("root").flatMap({ [UInt8](hex: $0) }), root.count == 32, let time = value("time"),
              let sig = value("signature").flatMap({ Data(base64Encoded: $0) }) else {
            throw OperatorError(.usage, "\(file) is not a kakunin checkpoint (\(header))",
                                fix: "give the file kakunin audit checkpoint (or the nightly run) wrote")
        }
        return Checkpoint(origin: origin, size: size, root: root, time: time, signature: Array(sig))
    }
}

/// The audit log in the database: appending, sealing, checkpoints, verification and proofs.
public enum AuditLog {
    /// Appends an event through `audit_append` (the database sets actor, time and client).
    public static func append(_ db: Connection, _ action: String, insurer: String? = nil, member: String? = nil, run: Int? = nil,
                       importID: Int? = nil, details: [String: Any]) throws {
        try db.execute("SELECT audit_append($1, $2, $3, $4, $5, $6::jsonb)",
                       [action, insurer, member, run.map(String.init), importID.map(String.init), json(details)])
    }

    /// Event details as the log stores them (sorted keys).
    public static func jsonText(_ details: [String: Any]) -> String { json(details) }

    /// Gives committed events (and the certificates of sealed runs) their log positions.
    @discardableResult
    public static func seal(_ db: Connection) throws -> Int {
        Int(try db.query("SELECT audit_seal()").scalar ?? "0") ?? 0
    }

    /// Streams the log's entries in order from `start`: index and entry bytes.
    static func entries(_ db: Connection, from start: Int = 0, upTo end: Int? = nil,
                        _ body: (Int, [UInt8]) throws -> Void) throws {
        var parser = CopyTextParser()
        let limit = end.map { "AND log_index < \($0)" } ?? ""
        try db.copyOut("""
            COPY (SELECT log_index, entry FROM audit_entries WHERE log_index >= \(start) \(limit) ORDER BY log_index) TO STDOUT
            """) { chunk in
            let row = parser.parseRow(chunk)
            try body(Int(row[0]!)!, Array((row[1] ?? "").utf8))
        }
    }

    /// Seals, then signs a checkpoint of the whole log, going on from the latest stored one
    /// (its frontier of subtree hashes): each new entry is hashed from its content. Stores it
    /// and returns it.
    public static func checkpoint(_ db: Connection, key: Curve25519.Signing.PrivateKey, origin: String? = nil) throws -> Checkpoint {
        try seal(db)
        var acc = Merkle.Accumulator()
        if let last = try db.query("SELECT frontier::text FROM audit_checkpoint ORDER BY log_size DESC, checkpoint_id DESC LIMIT 1").scalar,
           let items = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [[Any]] {
            acc = Merkle.Accumulator(frontier: items.compactMap { item in
                guard let size = item.first as? Int, let hex = item.last as? String, let h = [UInt8](hex: hex) else { return nil }
                return (size, h)
            })
        }
        try entries(db, from: acc.count) { index, entry in
            guard index == acc.count else {
                throw OperatorError(.internalError, "the audit log has no entry \(acc.count) (next is \(index)): it was altered",
                                    fix: "run kakunin audit verify with the last checkpoint you kept")
            }
            acc.add(leaf: Merkle.leaf(entry))
        }
        let database = try db.query("SELECT current_database()").scalar ?? ""
        let name = origin ?? "kakunin:" + database
        let now = ISO8601DateFormatter().string(from: Date())
        var cp = Checkpoint(origin: name, size: acc.count, root: acc.root, time: now)
        try cp.sign(key)
        let frontier = "[" + acc.frontier.map { "[\($0.size),\"\($0.hash.hexString)\"]" }.joined(separator: ",") + "]"
        try db.execute("""
            INSERT INTO audit_checkpoint (log_size, root_hash, frontier, signed_text) VALUES ($1, decode($2, 'hex'), $3::jsonb, $4)
            """, [String(cp.size), cp.root.hexString, frontier, cp.text])
        return cp
    }

    /// The leaf hashes of the first `size` entries, recomputed from their content, as one file
    /// of 32-byte hashes (kept beside a checkpoint, it lets `verify` name the entry that changed).
    public static func writeLeaves(_ db: Connection, size: Int, to url: URL) throws {
        try OwnerOnlyFile.publish(url) { w in
            try entries(db, upTo: size) { _, entry in try w.write(bytes: Merkle.leaf(entry)) }
        }
    }

    public struct Verification: Sendable {
        public var entries = 0
        public var problems: [String] = []
        public var ok: Bool { problems.isEmpty }
    }

    /// Proves that the log still holds exactly what `newer` covered (and, given `older`, that the
    /// log at `newer` extends the log at `older`): every leaf is recomputed from its content and
    /// the root compared with the signed one. `leaves` (the file written with the checkpoint)
    /// names the first entry that differs.
    public static func verify(_ db: Connection, newer: Checkpoint, older: Checkpoint?, publicKey: Curve25519.Signing.PublicKey,
                              leaves: URL?) throws -> Verification {
        var v = Verification()
        for (name, cp) in [("checkpoint", Optional(newer)), ("older checkpoint", older)] {
            if let cp, !cp.signatureValid(publicKey) {
                v.problems.append("the \(name) of size \(cp.size) does not carry a valid signature of this public key")
            }
        }
        if let older, older.size > newer.size {
            v.problems.append("the older checkpoint (size \(older.size)) is larger than the newer one (size \(newer.size))")
        }
        guard v.ok else { return v }
        var acc = Merkle.Accumulator()
        var olderRoot: [UInt8]?
        var kept: FileHandle? = try leaves.map { try FileHandle(forReadingFrom: $0) }
        defer { try? kept?.close() }
        var firstDifferent: Int?
        let proofRanges = older.map { Merkle.consistencyRanges($0.size, newer.size) } ?? []
        var consistency = Merkle.RangeRoots(proofRanges)
        var expected = 0
        try entries(db, upTo: newer.size) { index, entry in
            if index != expected {
                v.problems.append("entry \(expected) is missing from the log (the next one is \(index)): deleted after the checkpoint")
                expected = index
            }
            let leaf = Merkle.leaf(entry)
            if let k = kept, firstDifferent == nil {
                let want = k.readData(ofLength: 32)
                if want.count == 32, Array(want) != leaf { firstDifferent = index }
                if want.count < 32 { kept = nil }
            }
            acc.add(leaf: leaf)
            consistency.feed(index, leaf)
            if let older, acc.count == older.size { olderRoot = acc.root }
            expected += 1
        }
        v.entries = acc.count
        if acc.count < newer.size {
            v.problems.append("the log holds \(acc.count) entries, fewer than the \(newer.size) the checkpoint covered: entries \(acc.count) … \(newer.size - 1) were deleted")
        } else if acc.root != newer.root {
            var m = "the log's first \(newer.size) entries do not hash to the checkpoint's root: an entry was changed, removed or reordered"
            if let i = firstDifferent { m += "; the first entry that differs from the checkpoint's leaves is \(i) (kakunin audit show-entry \(i))" }
            else if leaves == nil { m += "; give the checkpoint's .leaves file (--leaves) to find which" }
            v.problems.append(m)
        }
        if let older {
            if olderRoot != older.root && older.size <= acc.count {
                v.problems.append("the log's first \(older.size) entries do not hash to the older checkpoint's root")
            }
            if v.ok, older.size > 0, older.size < newer.size,
               !Merkle.verifyConsistency(size1: older.size, size2: newer.size, root1: older.root, root2: newer.root, proof: consistency.roots) {
                v.problems.append("the newer checkpoint is not an extension of the older one (consistency proof fails)")
            }
        }
        return v
    }

    /// An inclusion proof for one certificate's issue entry against a checkpoint: the entry's
    /// bytes, its index, and the sibling hashes from the leaf up, each marked left or right so
    /// that `openssl dgst` alone can fold them (see the README).
    public static func prove(_ db: Connection, insurer: String, certificate: Int64, checkpoint: Checkpoint) throws -> String {
        guard let index = try db.query("SELECT log_index FROM audit_log WHERE insurer_number = $1 AND certificate_number = $2",
                                       [insurer, String(certificate)]).scalar.flatMap({ Int($0) }) else {
            throw OperatorError(.notFound, "certificate \(certificate) of insurer \(insurer) has no entry in the audit log yet",
                                fix: "check the number; a certificate enters the log when its run is sealed (kakunin audit checkpoint seals)")
        }
        guard index < checkpoint.size else {
            throw OperatorError(.usage, "certificate \(certificate) is entry \(index), after the checkpoint's \(checkpoint.size) entries",
                                fix: "make a newer checkpoint: kakunin audit checkpoint --key FILE")
        }
        var ranges = Merkle.RangeRoots(Merkle.inclusionRanges(index, checkpoint.size))
        var entryBytes: [UInt8] = []
        try entries(db, upTo: checkpoint.size) { i, entry in
            if i == index { entryBytes = entry }
            ranges.feed(i, Merkle.leaf(entry))
        }
        let path = ranges.roots
        let sides = Merkle.inclusionSides(index: index, size: checkpoint.size, count: path.count)
        var s = "kakunin-inclusion-proof/v1\nindex: \(index)\nsize: \(checkpoint.size)\n"
        s += "entry-base64: \(Data(entryBytes).base64EncodedString())\n"
        s += "leaf: \(Merkle.leaf(entryBytes).hexString)\n"
        for (h, left) in zip(path, sides) { s += "\(left ? "left" : "right") \(h.hexString)\n" }
        s += "checkpoint:\n" + checkpoint.text
        return s
    }

    public struct ProofCheck: Sendable {
        public var entry: String
        public var problems: [String]
        public var signatureChecked: Bool
    }

    /// Checks a proof file offline: the leaf from the entry, the path to the checkpoint's root
    /// (RFC 9162), the sides written for shell scripts, and the signature when a key is given.
    public static func verifyProof(_ text: String, publicKey: Curve25519.Signing.PublicKey?) throws -> ProofCheck {
        let parts = text.components(separatedBy: "checkpoint:\n")
        let lines = parts[0].split(separator: "\n").map(String.init)
        func value(_ p: String) -> String? { lines.first { $0.hasPrefix(p + ": ") }.map { String($0.dropFirst(p.count + 2)) } }
        guard parts.count == 2, lines.first == "kakunin-inclusion-proof/v1", let index = value("index").flatMap({ Int($0) }),
              let size = value("size").flatMap({ Int($0) }), let entry = value("entry-base64").flatMap({ Data(base64Encoded: $0) }) else {
            throw OperatorError(.usage, "not a kakunin inclusion proof", fix: "give the file kakunin audit prove wrote")
        }
        let cp = try Checkpoint.parse(parts[1], file: "the proof's checkpoint")
        var problems: [String] = []
        let steps = lines.filter { $0.hasPrefix("left ") || $0.hasPrefix("right ") }
        let path = steps.compactMap { [UInt8](hex: String($0.split(separator: " ")[1])) }
        let leaf = Merkle.leaf(entry)
        if value("leaf") != leaf.hexString { problems.append("the leaf line does not match the entry") }
        if size != cp.size { problems.append("the proof is for size \(size), the checkpoint is of size \(cp.size)") }
        if !Merkle.verifyInclusion(leaf: leaf, index: index, size: cp.size, path: path, root: cp.root) {
            problems.append("the path does not lead from the entry to the checkpoint's root")
        }
        if Merkle.inclusionSides(index: index, size: size, count: path.count) != steps.map({ $0.hasPrefix("left ") }) {
            problems.append("the left/right marks do not match the entry's index")
        }
        if let publicKey, !cp.signatureValid(publicKey) { problems.append("the checkpoint's signature is not valid for this public key") }
        return ProofCheck(entry: String(decoding: entry, as: UTF8.self), problems: problems, signatureChecked: publicKey != nil)
    }
}
