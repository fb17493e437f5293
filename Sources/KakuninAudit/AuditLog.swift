import Crypto
import Foundation
import KakuninRuntime
import KakuninStore

/// Ed25519 keys as PEM files, the way `openssl genpkey -algorithm ed25519` (PKCS#8 private key)
/// and `openssl pkey -pubout` (SubjectPublicKeyInfo) write them.
public enum AuditKeys {
    // DER prefixes of the two structures for Ed25519 (OID 1.3.101.112); the key's 32 bytes follow.
    package static let privatePrefix: [UInt8] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
    package static let publicPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    public static func generate() -> (privatePEM: String, publicPEM: String) {
        let key = Curve25519.Signing.PrivateKey()
        return (
            pem("PRIVATE KEY", privatePrefix + Array(key.rawRepresentation)),
            pem("PUBLIC KEY", publicPrefix + Array(key.publicKey.rawRepresentation))
        )
    }

    public static func privateKey(pem text: String, file: String) throws -> Curve25519.Signing.PrivateKey {
        let der = try decode(text, label: "PRIVATE KEY", file: file)
        guard der.count == privatePrefix.count + 32, Array(der.prefix(privatePrefix.count)) == privatePrefix else {
            throw OperatorError(
                .badConfiguration, "\(file) is not an Ed25519 private key (PKCS#8)",
                fix: "make one with kakunin audit keygen, or openssl genpkey -algorithm ed25519 -out \(file)")
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
    }

    public static func publicKey(pem text: String, file: String) throws -> Curve25519.Signing.PublicKey {
        let der = try decode(text, label: "PUBLIC KEY", file: file)
        guard der.count == publicPrefix.count + 32, Array(der.prefix(publicPrefix.count)) == publicPrefix else {
            throw OperatorError(
                .badConfiguration, "\(file) is not an Ed25519 public key (SubjectPublicKeyInfo)",
                fix: "derive it with openssl pkey -in PRIVATE.pem -pubout -out \(file)")
        }
        return try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
    }

    package static func pem(_ label: String, _ der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(b64)\n-----END \(label)-----\n"
    }

    package static func decode(_ text: String, label: String, file: String) throws -> [UInt8] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let start = lines.firstIndex(of: "-----BEGIN \(label)-----"), let end = lines.firstIndex(of: "-----END \(label)-----"),
            start < end,
            let der = Data(base64Encoded: lines[(start + 1)..<end].joined())
        else {
            throw OperatorError(
                .badConfiguration, "\(file) is not a PEM file with a \(label) block",
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

    /// Reads a checkpoint as kakunin writes it: the five body lines in order, a blank line, the
    /// signature line, and nothing else but blank lines.
    public static func parse(_ text: String, file: String) throws -> Checkpoint {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func value(_ at: Int, _ prefix: String) -> String? {
            guard at < lines.count, lines[at].hasPrefix(prefix + ": ") else { return nil }
            return String(lines[at].dropFirst(prefix.count + 2))
        }
        guard lines.first == header, let origin = value(1, "origin"), let size = value(2, "size").flatMap({ Int($0) }), size >= 0,
            let root = value(3, "root").flatMap({ [UInt8](hex: $0) }), root.count == 32, let time = value(4, "time"),
            lines.count > 6, lines[5].isEmpty, let sig = value(6, "signature").flatMap({ Data(base64Encoded: $0) }),
            lines.dropFirst(7).allSatisfy(\.isEmpty)
        else {
            throw OperatorError(
                .usage, "\(file) is not a kakunin checkpoint (\(header))",
                fix: "give the file kakunin audit checkpoint (or the nightly run) wrote")
        }
        return Checkpoint(origin: origin, size: size, root: root, time: time, signature: Array(sig))
    }
}

/// The audit log in the database: appending, sealing, checkpoints, verification and proofs.
public enum AuditLog {
    /// Appends an event through `audit_append` (the database sets actor, time and client).
    public static func append(
        _ db: Connection, _ action: String, insurer: String? = nil, member: String? = nil, run: Int? = nil,
        importID: Int? = nil, details: [String: Any]
    ) throws {
        try db.execute(
            "SELECT audit_append($1, $2, $3, $4, $5, $6::jsonb)",
            [action, insurer, member, run.map(String.init), importID.map(String.init), json(details)])
    }

    /// Event details as the log stores them (sorted keys).
    public static func jsonText(_ details: [String: Any]) -> String { json(details) }

    /// Gives committed events (and the certificates of sealed runs) their log positions.
    @discardableResult
    public static func seal(_ db: Connection) throws -> Int {
        Int(try db.query("SELECT audit_seal()").scalar ?? "0") ?? 0
    }

    /// Streams the log's entries in order from `start`: index and entry bytes (AuditEntries).
    package static func entries(
        _ db: Connection, from start: Int = 0, upTo end: Int? = nil,
        _ body: (Int, [UInt8]) throws -> Void
    ) throws {
        try AuditEntries.stream(db, from: start, upTo: end, body)
    }

    /// Seals, then signs a checkpoint of the whole log, going on from the latest stored one once
    /// it is verified (`verifiedFrontier`), or from the first entry with `recompute`: each new
    /// entry is hashed from its content. Stores it through `audit_checkpoint_store` and returns it.
    public static func checkpoint(
        _ db: Connection, key: Curve25519.Signing.PrivateKey, origin: String? = nil,
        recompute: Bool = false
    ) throws -> Checkpoint {
        try seal(db)
        var acc = recompute ? Merkle.Accumulator() : try verifiedFrontier(db, publicKey: key.publicKey)
        try entries(db, from: acc.count) { index, entry in
            guard index == acc.count else {
                throw OperatorError(
                    .checkFailed, "the audit log has no entry \(acc.count) (next is \(index)): it was altered",
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
        try db.execute("SELECT audit_checkpoint_store($1, $2::jsonb)", [cp.text, frontier])
        return cp
    }

    /// The latest stored checkpoint's frontier, once kakunin has checked that its signed text
    /// carries a valid signature of `publicKey`, that its columns say what the text says, and
    /// that its frontier hashes to the signed root. A row that fails is refused (exit 30): a
    /// checkpoint is never built on state kakunin has not verified.
    package static func verifiedFrontier(_ db: Connection, publicKey: Curve25519.Signing.PublicKey) throws -> Merkle.Accumulator {
        guard
            let row = try db.query(
                """
                SELECT checkpoint_id::text, log_size::text, encode(root_hash, 'hex'), frontier::text, signed_text, actor
                FROM audit_checkpoint ORDER BY log_size DESC, checkpoint_id DESC LIMIT 1
                """
            ).rows.first
        else { return Merkle.Accumulator() }
        let id = row[0] ?? "?"
        func refuse(_ why: String) -> OperatorError {
            OperatorError(
                .checkpointUnverified,
                "stored checkpoint \(id) (of \(row[1] ?? "?") entries, stored by \(row[5] ?? "?")) \(why); kakunin does not build a checkpoint on it",
                fix:
                    "if nobody signed it, it was forged: keep it as evidence, then have the database owner remove it (as the owner: ALTER TABLE kakunin.audit_checkpoint DISABLE TRIGGER audit_checkpoint_immutable; DELETE …; ENABLE TRIGGER …); if the signing key was replaced, make the first checkpoint of the new key with kakunin audit checkpoint --recompute"
            )
        }
        guard let text = row[4], let cp = try? Checkpoint.parse(text, file: "checkpoint \(id)") else {
            throw refuse("is not a signed kakunin checkpoint")
        }
        guard cp.signatureValid(publicKey) else { throw refuse("does not carry a valid signature of this key") }
        guard String(cp.size) == row[1], cp.root.hexString == row[2] else {
            throw refuse("has a size or root other than the ones it signed")
        }
        let items = (row[3].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [[Any]]) ?? []
        let frontier = items.compactMap { item -> (size: Int, hash: Merkle.Hash)? in
            guard item.count == 2, let size = item[0] as? Int, let hex = item[1] as? String, let h = [UInt8](hex: hex), h.count == 32 else {
                return nil
            }
            return (size, h)
        }
        let acc = Merkle.Accumulator(frontier: frontier)
        // The subtrees of a log of n entries are n's binary decomposition, largest first.
        let sizes = frontier.map(\.size)
        let decomposition = (0..<Int.bitWidth).reversed().map { 1 << $0 }.filter { cp.size & $0 != 0 }
        guard frontier.count == items.count, sizes == decomposition, acc.root == cp.root else {
            throw refuse("has a frontier that does not hash to its signed root")
        }
        return acc
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
    public static func verify(
        _ db: Connection, newer: Checkpoint, older: Checkpoint?, publicKey: Curve25519.Signing.PublicKey,
        leaves: URL?
    ) throws -> Verification {
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
        var signed = Bracket(prefixes: try signedPrefixes(db, publicKey: publicKey, below: newer.size))
        if let older { signed.prefixes[older.size] = older.root }
        var expected = 0
        try entries(db, upTo: newer.size) { index, entry in
            if index != expected {
                v.problems.append("entry \(expected) is missing from the log (the next one is \(index)): deleted after the checkpoint")
                if firstDifferent == nil { firstDifferent = expected }
                expected = index
            }
            let leaf = Merkle.leaf(entry)
            if let k = kept, firstDifferent == nil {
                let want = k.readData(ofLength: 32)
                if want.count == 32, Array(want) != leaf { firstDifferent = index }
                if want.count < 32 { kept = nil }
            }
            acc.add(leaf: leaf)
            signed.check(acc)
            consistency.feed(index, leaf)
            if let older, acc.count == older.size { olderRoot = acc.root }
            expected += 1
        }
        v.entries = acc.count
        /// Where the first changed entry is: exact from the leaves file, else enclosed by the
        /// signed checkpoints stored in the database (verified with the key).
        func whichEntry() -> String {
            if let i = firstDifferent {
                return "the first entry that differs from the checkpoint's leaves is \(i) (kakunin audit show-entry \(i))"
            }
            let (lo, hi) = signed.range(end: newer.size)
            if hi - lo == 1 {
                return
                    "the first entry that differs is \(lo) (the signed checkpoints of \(lo) and \(hi) entries enclose it; kakunin audit show-entry \(lo))"
            }
            let within =
                lo > 0 || hi < newer.size
                ? "the first entry that differs is one of \(lo) … \(hi - 1) (signed checkpoints enclose it); " : ""
            return within + "give the checkpoint's .leaves file (--leaves) to name it"
        }
        if acc.count < newer.size {
            if leaves != nil && firstDifferent == nil {
                v.problems.append(
                    "the log holds \(acc.count) entries, fewer than the \(newer.size) the checkpoint covered: entries \(acc.count) … \(newer.size - 1) were deleted"
                )
            } else {
                v.problems.append(
                    "the log holds \(acc.count) entries, fewer than the \(newer.size) the checkpoint covered: entries were deleted (and the rest renumbered, or the end cut off); "
                        + whichEntry())
            }
        } else if acc.root != newer.root {
            v.problems.append(
                "the log's first \(newer.size) entries do not hash to the checkpoint's root: an entry was changed, removed or reordered; "
                    + whichEntry())
        }
        if let older {
            if olderRoot != older.root && older.size <= acc.count {
                v.problems.append("the log's first \(older.size) entries do not hash to the older checkpoint's root")
            }
            if v.ok, older.size > 0, older.size < newer.size,
                !Merkle.verifyConsistency(
                    size1: older.size, size2: newer.size, root1: older.root, root2: newer.root, proof: consistency.roots)
            {
                v.problems.append("the newer checkpoint is not an extension of the older one (consistency proof fails)")
            }
        }
        return v
    }

    /// The (size, root) of every checkpoint stored in the database below `size` whose signed text
    /// carries a valid signature of `publicKey` (the rows themselves are not trusted).
    static func signedPrefixes(_ db: Connection, publicKey: Curve25519.Signing.PublicKey, below size: Int) throws -> [Int: Merkle.Hash] {
        var out: [Int: Merkle.Hash] = [:]
        for row in try db.query("SELECT signed_text FROM audit_checkpoint WHERE log_size > 0 AND log_size < $1", [String(size)]).rows {
            if let text = row[0], let cp = try? Checkpoint.parse(text, file: "a stored checkpoint"), cp.signatureValid(publicKey) {
                out[cp.size] = cp.root
            }
        }
        return out
    }

    /// The last signed prefix the log still hashes to and the first it no longer does.
    struct Bracket {
        var prefixes: [Int: Merkle.Hash]
        var lastGood = 0
        var firstBad: Int?

        mutating func check(_ acc: Merkle.Accumulator) {
            guard firstBad == nil, let want = prefixes[acc.count] else { return }
            if acc.root == want { lastGood = acc.count } else { firstBad = acc.count }
        }

        /// The entries [lo, hi) among which the first change lies.
        func range(end: Int) -> (Int, Int) { (lastGood, firstBad ?? end) }
    }

    /// An inclusion proof for one certificate's issue entry against a checkpoint: the entry's
    /// bytes, its index, and the sibling hashes from the leaf up, each marked left or right so
    /// that `openssl dgst` alone can fold them (see the README).
    public static func prove(_ db: Connection, insurer: String, certificate: Int64, checkpoint: Checkpoint) throws -> String {
        guard
            let index = try db.query(
                "SELECT log_index FROM audit_log WHERE insurer_number = $1 AND certificate_number = $2",
                [insurer, String(certificate)]
            ).scalar.flatMap({ Int($0) })
        else {
            throw OperatorError(
                .notFound, "certificate \(certificate) of insurer \(insurer) has no entry in the audit log yet",
                fix: "check the number; a certificate enters the log when its run is sealed (kakunin audit checkpoint seals)")
        }
        guard index < checkpoint.size else {
            throw OperatorError(
                .usage, "certificate \(certificate) is entry \(index), after the checkpoint's \(checkpoint.size) entries",
                fix: "make a newer checkpoint: kakunin audit checkpoint --key FILE")
        }
        return try prove(db, index: index, checkpoint: checkpoint)
    }

    /// The inclusion proof of the entry at `index` (below the checkpoint's size).
    package static func prove(_ db: Connection, index: Int, checkpoint: Checkpoint) throws -> String {
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
        public enum Kind: Sendable { case inclusion, consistency }
        public var kind: Kind
        /// The entry an inclusion proof carries (UTF-8 text).
        public var entry: String?
        /// The tree sizes: the entry's index and the checkpoint's size, or the two checkpoints' sizes.
        public var sizes: (Int, Int)
        public var problems: [String]
        public var signatureChecked: Bool
    }

    static func notAProof(_ what: String) -> OperatorError {
        OperatorError(
            .usage, "not a kakunin proof file: \(what)",
            fix: "give the file kakunin audit prove or kakunin audit consistency wrote, unchanged")
    }

    /// The lines of a proof file: it must end with a line feed; each line is read exactly once.
    static func proofLines(_ text: String) throws -> [String] {
        guard text.hasSuffix("\n") else { throw notAProof("it does not end with a line feed") }
        return text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// `line` must be `name: value` with the value matching `pattern` (a whole-line match).
    static func field(_ line: String?, _ name: String, _ pattern: String) throws -> String {
        let prefix = name + ": "
        guard let line, line.hasPrefix(prefix),
            line.range(
                of: "^\(pattern)$", options: .regularExpression, range: line.index(line.startIndex, offsetBy: prefix.count)..<line.endIndex)
                != nil
        else {
            throw notAProof("expected a line \(name): \(pattern)")
        }
        return String(line.dropFirst(prefix.count))
    }

    static let decimal = "(0|[1-9][0-9]{0,17})"
    static let base64 = "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
    static let hex64 = "[0-9a-f]{64}"

    /// A checkpoint inside a proof: exactly its seven lines (five body lines, a blank line, the signature).
    static func embeddedCheckpoint(_ lines: ArraySlice<String>) throws -> Checkpoint {
        guard lines.count == 7 else { throw notAProof("a checkpoint is seven lines") }
        return try Checkpoint.parse(lines.joined(separator: "\n") + "\n", file: "the proof's checkpoint")
    }

    /// Checks a proof file offline, with the grammar jobs/verify-proof-openssl checks too.
    /// An inclusion proof (from `prove`): the leaf from the entry, the path from the index and
    /// size (RFC 9162 2.1.3.2), the sides written for shell scripts. A consistency proof (from
    /// `consistencyProof`): RFC 9162 2.1.4.2 between the two checkpoints it carries. The
    /// signatures when a key is given.
    public static func verifyProof(_ text: String, publicKey: Curve25519.Signing.PublicKey?) throws -> ProofCheck {
        let lines = try proofLines(text)
        switch lines.first {
        case "kakunin-inclusion-proof/v1": return try verifyInclusionProof(lines, publicKey: publicKey)
        case "kakunin-consistency-proof/v1": return try verifyConsistencyProof(lines, publicKey: publicKey)
        default: throw notAProof("the first line names no proof kakunin writes")
        }
    }

    static func verifyInclusionProof(_ lines: [String], publicKey: Curve25519.Signing.PublicKey?) throws -> ProofCheck {
        guard let mark = lines.firstIndex(of: "checkpoint:"), lines.filter({ $0 == "checkpoint:" }).count == 1, mark >= 5 else {
            throw notAProof("expected one line checkpoint: after the entry")
        }
        let index = Int(try field(lines[1], "index", decimal))!
        let size = Int(try field(lines[2], "size", decimal))!
        let entry = Data(base64Encoded: try field(lines[3], "entry-base64", base64))!
        let leafLine = try field(lines[4], "leaf", hex64)
        var steps: [(left: Bool, hash: Merkle.Hash)] = []
        for line in lines[5..<mark] {
            guard line.range(of: "^(left|right) \(hex64)$", options: .regularExpression) != nil else {
                throw notAProof("expected lines left HASH or right HASH, found \(line.prefix(20))…")
            }
            steps.append((line.hasPrefix("left "), [UInt8](hex: String(line.split(separator: " ")[1]))!))
        }
        let cp = try embeddedCheckpoint(lines[(mark + 1)...])
        var problems: [String] = []
        let leaf = Merkle.leaf(entry)
        if leafLine != leaf.hexString { problems.append("the leaf line does not match the entry") }
        if size != cp.size { problems.append("the proof is for size \(size), the checkpoint is of size \(cp.size)") }
        if !Merkle.verifyInclusion(leaf: leaf, index: index, size: cp.size, path: steps.map(\.hash), root: cp.root) {
            problems.append("the path does not lead from the entry at index \(index) to the checkpoint's root")
        }
        if Merkle.inclusionSides(index: index, size: size, count: steps.count) != steps.map(\.left) {
            problems.append("the left/right marks do not match the entry's index")
        }
        if let publicKey, !cp.signatureValid(publicKey) { problems.append("the checkpoint's signature is not valid for this public key") }
        return ProofCheck(
            kind: .inclusion, entry: String(decoding: entry, as: UTF8.self), sizes: (index, cp.size),
            problems: problems, signatureChecked: publicKey != nil)
    }

    static func verifyConsistencyProof(_ lines: [String], publicKey: Curve25519.Signing.PublicKey?) throws -> ProofCheck {
        guard let olderMark = lines.firstIndex(of: "older checkpoint:"), olderMark >= 3, lines.count == olderMark + 16,
            lines[olderMark + 8] == "newer checkpoint:"
        else {
            throw notAProof("expected the hashes, then older checkpoint: and newer checkpoint: of seven lines each")
        }
        let size1 = Int(try field(lines[1], "older-size", decimal))!
        let size2 = Int(try field(lines[2], "newer-size", decimal))!
        let proof = try lines[3..<olderMark].map { [UInt8](hex: try field($0, "hash", hex64))! }
        let older = try embeddedCheckpoint(lines[(olderMark + 1)...(olderMark + 7)])
        let newer = try embeddedCheckpoint(lines[(olderMark + 9)...])
        var problems: [String] = []
        if older.origin != newer.origin {
            problems.append("the two checkpoints are of different logs (origins \(older.origin), \(newer.origin))")
        }
        if size1 != older.size || size2 != newer.size { problems.append("the sizes stated are not the checkpoints' sizes") }
        if !Merkle.verifyConsistency(size1: older.size, size2: newer.size, root1: older.root, root2: newer.root, proof: proof) {
            problems.append(
                "the log of \(newer.size) entries is not shown to extend the log of \(older.size) entries (the hashes do not lead to both roots)"
            )
        }
        if let publicKey {
            for (name, cp) in [("older", older), ("newer", newer)] where !cp.signatureValid(publicKey) {
                problems.append("the \(name) checkpoint's signature is not valid for this public key")
            }
        }
        return ProofCheck(
            kind: .consistency, entry: nil, sizes: (older.size, newer.size), problems: problems, signatureChecked: publicKey != nil)
    }

    /// A consistency proof (RFC 9162 2.1.4.1) that the log at `newer` extends the log at `older`,
    /// as a file an auditor checks offline: the sizes, the hashes, both checkpoints. The log must
    /// still hash to both roots (else exit 32: run verify).
    public static func consistencyProof(_ db: Connection, older: Checkpoint, newer: Checkpoint) throws -> String {
        guard older.size <= newer.size, older.origin == newer.origin else {
            throw OperatorError(
                .usage,
                "the older checkpoint (\(older.origin), \(older.size) entries) cannot precede the newer one (\(newer.origin), \(newer.size) entries)",
                fix: "give the earlier checkpoint as --older and the later one, of the same log, as --newer")
        }
        var acc = Merkle.Accumulator()
        var olderRoot = older.size == 0 ? Merkle.emptyRoot : nil
        var ranges = Merkle.RangeRoots(Merkle.consistencyRanges(older.size, newer.size))
        try entries(db, upTo: newer.size) { index, entry in
            let leaf = Merkle.leaf(entry)
            acc.add(leaf: leaf)
            ranges.feed(index, leaf)
            if acc.count == older.size { olderRoot = acc.root }
        }
        guard olderRoot == older.root, acc.count == newer.size, acc.root == newer.root else {
            throw OperatorError(
                .logDiffers,
                "the log no longer hashes to \(olderRoot == older.root ? "the newer" : "the older") checkpoint's root: no proof can be made",
                fix: "run kakunin audit verify --checkpoint NEWER --older OLDER --leaves NEWER.leaves to find what changed")
        }
        var s = "kakunin-consistency-proof/v1\nolder-size: \(older.size)\nnewer-size: \(newer.size)\n"
        for h in ranges.roots { s += "hash: \(h.hexString)\n" }
        s += "older checkpoint:\n" + older.text + "newer checkpoint:\n" + newer.text
        return s
    }
}
