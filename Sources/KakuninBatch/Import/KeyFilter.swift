import KakuninRuntime

/// Finds keys that may occur twice in a feed, in fixed memory (a 16 MiB Bloom filter), so the
/// import needs no GROUP BY over millions of rows. A key whose bits are all set already is a
/// candidate; candidates (true duplicates plus rare false positives) are checked exactly in SQL.
struct KeyFilter {
    private var bits: [UInt64]
    private let mask: UInt64
    /// Candidate keys, one array per key column.
    private(set) var candidates: [[String]]

    init(keyColumns: Int, log2Bits: Int = 27) {
        bits = [UInt64](repeating: 0, count: (1 << log2Bits) / 64)
        mask = UInt64((1 << log2Bits) - 1)
        candidates = Array(repeating: [], count: keyColumns)
    }

    /// Adds the key made of the record's fields at `fields`; remembers it as a candidate when it
    /// may have been seen.
    mutating func add(_ record: CSVRecord, fields: [Int]) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for f in fields {
            for b in record.field(f) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0xff) &* 0x100_0000_01b3
        }
        let h2 = (h >> 33) | 1
        var seen = true
        for i in 0..<3 {
            let bit = (h &+ UInt64(i) &* h2) & mask
            let word = Int(bit >> 6)
            let m = UInt64(1) << (bit & 63)
            if bits[word] & m == 0 {
                seen = false
                bits[word] |= m
            }
        }
        if seen {
            // As stored: a rejected row's key may hold NUL, which no SQL parameter can carry.
            for (i, f) in fields.enumerated() { candidates[i].append(RowEncoder.storedText(record, f)) }
        }
    }
}
