import Crypto
import Foundation
import KakuninRuntime
import KakuninStore

/// The stored members with their row digests (sql/016), read by one `COPY TO` before a
/// re-import streams its file: each good row's digest is compared with its member's on the
/// worker threads, and only new and changed members are sent to the server. A member is found
/// by its key's bytes (exact: insurer number, NUL, member id); a member stored without a digest
/// counts as changed (the merge compares its columns). Read-only once built.
struct StoredDigests: Sendable {
    private let ids: [UInt8]
    private let idEnds: [Int]
    /// Two words per member (the digest's 16 bytes); `hasDigest` false for a legacy member.
    private let digests: [UInt64]
    private let hasDigest: [Bool]
    /// Open addressing over `keyHash`: a member's index + 1, 0 for an empty slot.
    private let slots: [Int32]
    private let mask: Int

    var count: Int { idEnds.count }

    /// What a row is to the stored members.
    enum Match: Equatable {
        /// Not a stored member: sent whole (new).
        case absent
        /// The stored member `index`, with the same digest: nothing sent.
        case unchanged(Int)
        /// The stored member `index`, changed (or stored without a digest): sent whole.
        case changed(Int)
    }

    /// The most members held (about 60 bytes each, so at most about 120 MB: memory stays bounded
    /// whatever the database holds): with more stored, a re-import stages its
    /// keys and digests and compares them in the server instead, in flat memory.
    static var limit: Int {
        #if DEBUG
        // Tests take the staged comparison with a limit of 0.
        if let v = ProcessInfo.processInfo.environment["KAKUNIN_TEST_DIGEST_LIMIT"], let n = Int(v) { return n }
        #endif
        return 2_000_000
    }

    /// Reads the stored members (keys and digests) in one binary `COPY TO`; nil when there are
    /// more than `limit`.
    static func load(_ db: Connection) throws -> StoredDigests? {
        // COPY takes no parameters: the limit goes through a setting local to the transaction.
        try db.execute("SELECT set_config('kakunin.import_limit', $1, true)", [String(limit + 1)])
        var reader = Reader()
        _ = try db.copyOut(
            """
            COPY (SELECT insurer_number, member_id, row_digest FROM member
                  LIMIT current_setting('kakunin.import_limit')::bigint) TO STDOUT (FORMAT binary)
            """
        ) { reader.take($0) }
        guard reader.idEnds.count <= limit else { return nil }
        return StoredDigests(reader)
    }

    private init(_ r: Reader) {
        ids = r.ids
        idEnds = r.idEnds
        digests = r.digests
        hasDigest = r.hasDigest
        var size = 16
        while size < r.idEnds.count * 2 { size <<= 1 }
        mask = size - 1
        var slots = [Int32](repeating: 0, count: size)
        r.ids.withUnsafeBufferPointer { b in
            for i in r.idEnds.indices {
                let start = i == 0 ? 0 : r.idEnds[i - 1]
                let key = UnsafeBufferPointer(rebasing: b[start..<r.idEnds[i]])
                let nul = key.firstIndex(of: 0)!
                let h = Self.keyHash(UnsafeBufferPointer(rebasing: key[..<nul]), UnsafeBufferPointer(rebasing: key[(nul + 1)...]))
                var s = h & (size - 1)
                while slots[s] != 0 { s = (s + 1) & (size - 1) }
                slots[s] = Int32(i + 1)
            }
        }
        self.slots = slots
    }

    /// The row of `insurer` and `memberID` with `digest` against the stored member.
    /// `near`: the member looked at first (then hashed for); set to the one after the member
    /// found, so that an extract in the stored order finds each member with one comparison.
    func match(
        _ insurer: UnsafeBufferPointer<UInt8>, _ memberID: UnsafeBufferPointer<UInt8>, _ digest: SHA256.Digest,
        near: inout Int
    ) -> Match {
        let guess = near
        guard let index = guess < count && isKey(guess, insurer, memberID) ? guess : find(insurer, memberID) else { return .absent }
        near = index + 1
        guard hasDigest[index] else { return .changed(index) }
        let same = digest.withUnsafeBytes { d in
            d.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == digests[2 * index]
                && d.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == digests[2 * index + 1]
        }
        return same ? .unchanged(index) : .changed(index)
    }

    /// Whether the stored member `index` has a digest (members stored before sql/016 have none).
    func hasDigest(_ index: Int) -> Bool { hasDigest[index] }

    /// The stored member `index`'s insurer number and member id (for a reject).
    func key(_ index: Int) -> (insurer: String, memberID: String) {
        let start = index == 0 ? 0 : idEnds[index - 1]
        let key = ids[start..<idEnds[index]]
        let nul = key.firstIndex(of: 0)!
        return (String(decoding: key[..<nul], as: UTF8.self), String(decoding: key[(nul + 1)...], as: UTF8.self))
    }

    private func find(_ insurer: UnsafeBufferPointer<UInt8>, _ id: UnsafeBufferPointer<UInt8>) -> Int? {
        var s = Self.keyHash(insurer, id) & mask
        while true {
            let e = Int(slots[s])
            if e == 0 { return nil }
            if isKey(e - 1, insurer, id) { return e - 1 }
            s = (s + 1) & mask
        }
    }

    /// Whether the stored member `index` has this key (its bytes exactly).
    @inline(__always)
    private func isKey(_ index: Int, _ insurer: UnsafeBufferPointer<UInt8>, _ id: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = index == 0 ? 0 : idEnds[index - 1]
        guard idEnds[index] - start == insurer.count + 1 + id.count else { return false }
        return ids.withUnsafeBufferPointer { b in
            Self.equal(b.baseAddress! + start, insurer) && b[start + insurer.count] == 0
                && Self.equal(b.baseAddress! + start + insurer.count + 1, id)
        }
    }

    @inline(__always)
    private static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        b.isEmpty || memcmp(a, b.baseAddress!, b.count) == 0
    }

    /// FNV-1a over the key's bytes: the insurer number, NUL, the member id.
    @inline(__always)
    private static func keyHash(_ insurer: UnsafeBufferPointer<UInt8>, _ id: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in insurer { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = h &* 0x100_0000_01b3  // the NUL
        for b in id { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Parses COPY's binary stream of (member_id text, row_digest bytea) as it arrives, in
    /// pieces of any size.
    private struct Reader {
        var ids: [UInt8] = [], idEnds: [Int] = [], digests: [UInt64] = [], hasDigest: [Bool] = []
        private var pending: [UInt8] = []
        private var headerDone = false

        mutating func take(_ chunk: UnsafeRawBufferPointer) {
            // Usually one whole row per piece: read in place, keeping only what is incomplete.
            guard pending.isEmpty else {
                var held: [UInt8] = []
                swap(&held, &pending)
                held.append(contentsOf: chunk)
                let used = held.withUnsafeBytes { parse($0) }
                pending = Array(held[used...])
                return
            }
            let used = parse(chunk)
            if used < chunk.count { pending.append(contentsOf: chunk[used...]) }
        }

        /// Reads the header (once) and the whole rows at the start of `p`; the bytes used.
        private mutating func parse(_ p: UnsafeRawBufferPointer) -> Int {
            var at = 0
            if !headerDone {
                // Signature (11), flags (4), header extension length (4) and its bytes.
                guard p.count >= 19 else { return 0 }
                let ext = Int(Self.int32(p, 15))
                guard p.count >= 19 + ext else { return 0 }
                at = 19 + ext
                headerDone = true
            }
            while let next = row(p, at) { at = next }
            return at
        }

        /// Reads the row at `at` (insurer number, member id, digest); the offset after it, or nil
        /// when it is not all there (or is the trailer). The key is kept as insurer, NUL, id.
        private mutating func row(_ p: UnsafeRawBufferPointer, _ at: Int) -> Int? {
            guard p.count >= at + 6, Self.int16(p, at) == 3 else { return nil }
            let insurerLength = Int(Self.int32(p, at + 2))
            let idAt = at + 6 + insurerLength
            guard p.count >= idAt + 4 else { return nil }
            let idLength = Int(Self.int32(p, idAt))
            let digestAt = idAt + 4 + idLength
            guard p.count >= digestAt + 4 else { return nil }
            let digestLength = Int(Self.int32(p, digestAt))
            let end = digestAt + 4 + max(digestLength, 0)
            guard p.count >= end else { return nil }
            ids.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[(at + 6)..<(idAt)]))
            ids.append(0)
            ids.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[(idAt + 4)..<digestAt]))
            idEnds.append(ids.count)
            if digestLength >= 16 {
                digests.append(p.loadUnaligned(fromByteOffset: digestAt + 4, as: UInt64.self))
                digests.append(p.loadUnaligned(fromByteOffset: digestAt + 12, as: UInt64.self))
                hasDigest.append(true)
            } else {
                digests.append(contentsOf: [0, 0])
                hasDigest.append(false)
            }
            return end
        }

        private static func int16(_ p: UnsafeRawBufferPointer, _ at: Int) -> Int16 {
            Int16(bigEndian: p.loadUnaligned(fromByteOffset: at, as: Int16.self))
        }
        private static func int32(_ p: UnsafeRawBufferPointer, _ at: Int) -> Int32 {
            Int32(bigEndian: p.loadUnaligned(fromByteOffset: at, as: Int32.self))
        }
    }
}
