import Crypto
import Foundation
import KakuninRuntime

/// The Merkle tree of RFC 6962 / RFC 9162 over the audit log: leaf = SHA-256(0x00 ‖ entry),
/// node = SHA-256(0x01 ‖ left ‖ right); the tree of n leaves splits at the largest power of two
/// below n. Everything here streams: memory is a few dozen hashes, whatever the log's size.
public enum Merkle {
    public typealias Hash = [UInt8]

    public static func leaf(_ entry: some DataProtocol) -> Hash {
        var h = SHA256()
        h.update(data: [0x00])
        h.update(data: entry)
        return Array(h.finalize())
    }

    public static func node(_ left: Hash, _ right: Hash) -> Hash {
        var h = SHA256()
        h.update(data: [0x01])
        h.update(data: left)
        h.update(data: right)
        return Array(h.finalize())
    }

    /// The hash of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: Data()))

    /// Largest power of two strictly below n (n ≥ 2).
    package static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// Builds the root of a sequence of leaves fed one at a time: a stack of complete subtrees,
    /// merged while the two on top have the same size. Can start from a saved frontier.
    public struct Accumulator: Sendable {
        public private(set) var frontier: [(size: Int, hash: Hash)] = []
        public private(set) var count = 0

        public init() {}

        public init(frontier: [(size: Int, hash: Hash)]) {
            self.frontier = frontier
            count = frontier.reduce(0) { $0 + $1.size }
        }

        public mutating func add(leaf: Hash) {
            var item = (size: 1, hash: leaf)
            while let top = frontier.last, top.size == item.size {
                frontier.removeLast()
                item = (top.size * 2, Merkle.node(top.hash, item.hash))
            }
            frontier.append(item)
            count += 1
        }

        public var root: Hash {
            guard var h = frontier.last?.hash else { return Merkle.emptyRoot }
            for item in frontier.dropLast().reversed() { h = Merkle.node(item.hash, h) }
            return h
        }
    }

    /// The subtrees (ranges of leaf indexes) whose roots make the inclusion proof of leaf `m` in
    /// a tree of `n` leaves, in proof order (RFC 9162 2.1.3.1).
    public static func inclusionRanges(_ m: Int, _ n: Int) -> [Range<Int>] {
        func path(_ m: Int, _ lo: Int, _ hi: Int) -> [Range<Int>] {
            let n = hi - lo
            if n <= 1 { return [] }
            let k = split(n)
            if m < k { return path(m, lo, lo + k) + [(lo + k)..<hi] }
            return path(m - k, lo + k, hi) + [lo..<(lo + k)]
        }
        return path(m, 0, n)
    }

    /// The subtrees whose roots make the consistency proof from size `m` to size `n`
    /// (RFC 9162 2.1.4.1).
    public static func consistencyRanges(_ m: Int, _ n: Int) -> [Range<Int>] {
        func sub(_ m: Int, _ lo: Int, _ hi: Int, _ b: Bool) -> [Range<Int>] {
            let n = hi - lo
            if m == n { return b ? [] : [lo..<hi] }
            let k = split(n)
            if m <= k { return sub(m, lo, lo + k, b) + [(lo + k)..<hi] }
            return sub(m - k, lo + k, hi, false) + [lo..<(lo + k)]
        }
        guard m > 0, m < n else { return [] }
        return sub(m, 0, n, true)
    }

    /// Roots of disjoint ranges, from leaves streamed in index order: `feed(index, leaf)` for
    /// every leaf, then `roots`.
    public struct RangeRoots {
        package let ranges: [Range<Int>]
        private var accumulators: [Accumulator]

        public init(_ ranges: [Range<Int>]) {
            self.ranges = ranges
            accumulators = Array(repeating: Accumulator(), count: ranges.count)
        }

        public mutating func feed(_ index: Int, _ leaf: Hash) {
            for (i, r) in ranges.enumerated() where r.contains(index) { accumulators[i].add(leaf: leaf) }
        }

        public var roots: [Hash] { accumulators.map(\.root) }
    }

    /// RFC 9162 2.1.3.2: does `path` prove `leaf` at `index` in the tree of `size` with `root`?
    public static func verifyInclusion(leaf: Hash, index: Int, size: Int, path: [Hash], root: Hash) -> Bool {
        guard index < size, let sides = inclusionWalk(index: index, size: size, count: path.count) else { return false }
        var r = leaf
        for (p, left) in zip(path, sides) { r = left ? node(p, r) : node(r, p) }
        return r == root
    }

    /// For each step of an inclusion proof, whether the sibling is on the left (the order in
    /// which a shell script must concatenate: `left` means SHA-256(0x01 ‖ sibling ‖ running)).
    public static func inclusionSides(index: Int, size: Int, count: Int) -> [Bool] {
        inclusionWalk(index: index, size: size, count: count) ?? []
    }

    /// The walk of RFC 9162 2.1.3.2 over `count` steps: the side of each sibling, or nil when a
    /// path of that length cannot belong to leaf `index` of a tree of `size`.
    package static func inclusionWalk(index: Int, size: Int, count: Int) -> [Bool]? {
        guard size > 0 else { return nil }
        var fn = index
        var sn = size - 1
        var sides: [Bool] = []
        for _ in 0..<count {
            if sn == 0 { return nil }
            if fn & 1 == 1 || fn == sn {
                sides.append(true)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sides.append(false)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? sides : nil
    }

    /// RFC 9162 2.1.4.2: does `proof` show the tree of `size2` (`root2`) extends the tree of
    /// `size1` (`root1`)?
    public static func verifyConsistency(size1: Int, size2: Int, root1: Hash, root2: Hash, proof: [Hash]) -> Bool {
        if size1 == size2 { return proof.isEmpty && root1 == root2 }
        guard size1 > 0, size1 < size2, !proof.isEmpty || size1 & (size1 - 1) == 0 else { return size1 == 0 }
        var p = proof
        if size1 & (size1 - 1) == 0 { p.insert(root1, at: 0) }
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        guard var fr = p.first else { return false }
        var sr = fr
        for c in p.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = node(c, fr)
                sr = node(c, sr)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == root1 && sr == root2
    }
}

extension Array where Element == UInt8 {
    package var hexString: String { map { String(format: "%02x", $0) }.joined() }

    package init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = Self.nibble(chars[i]), let lo = Self.nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
