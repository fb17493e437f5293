import Foundation
import Testing

@testable import KakuninAudit
@testable import KakuninBatch

/// RFC 6962 / 9162 hashing, checked against the definition for every tree size up to 40.
@Suite("Merkle tree (RFC 9162)")
struct MerkleTests {
    /// MTH straight from RFC 9162 2.1.1.
    func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return Merkle.emptyRoot }
        if leaves.count == 1 { return leaves.first! }
        let k = Merkle.split(leaves.count)
        return Merkle.node(mth(leaves.prefix(k)), mth(leaves.dropFirst(k)))
    }

    func leaves(_ n: Int) -> [[UInt8]] { (0..<n).map { Merkle.leaf(Array("entry \($0)".utf8)) } }

    @Test("the streaming root, inclusion and consistency proofs agree with the definition; wrong ones fail")
    func proofs() {
        #expect(Merkle.emptyRoot.hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for n in 1...40 {
            let ls = leaves(n)
            var acc = Merkle.Accumulator()
            for l in ls { acc.add(leaf: l) }
            let root = mth(ls[...])
            #expect(acc.root == root, "size \(n)")
            // Resuming from a frontier gives the same root.
            var half = Merkle.Accumulator()
            for l in ls.prefix(n / 2) { half.add(leaf: l) }
            var resumed = Merkle.Accumulator(frontier: half.frontier)
            for l in ls.dropFirst(n / 2) { resumed.add(leaf: l) }
            #expect(resumed.root == root)
            for m in 0..<n {
                let path = Merkle.inclusionRanges(m, n).map { mth(ls[$0]) }
                #expect(Merkle.verifyInclusion(leaf: ls[m], index: m, size: n, path: path, root: root), "leaf \(m) of \(n)")
                #expect(!Merkle.verifyInclusion(leaf: ls[(m + 1) % n], index: m, size: n, path: path, root: root) || n == 1)
                if !path.isEmpty {
                    #expect(!Merkle.verifyInclusion(leaf: ls[m], index: m, size: n, path: Array(path.dropLast()), root: root))
                }
            }
            for m in 1..<n {
                let proof = Merkle.consistencyRanges(m, n).map { mth(ls[$0]) }
                let old = mth(ls.prefix(m))
                #expect(Merkle.verifyConsistency(size1: m, size2: n, root1: old, root2: root, proof: proof), "\(m) → \(n)")
                let other = mth(leaves(m + 1).prefix(m).map { $0 == ls[0] ? Merkle.leaf(Array("x".utf8)) : $0 }[...])
                #expect(!Merkle.verifyConsistency(size1: m, size2: n, root1: other, root2: root, proof: proof))
            }
        }
    }
}
