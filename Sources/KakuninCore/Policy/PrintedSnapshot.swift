/// A compact fingerprint of what a certificate prints (SPEC.md 2.5 "Printed details change"
/// [2026-12]): one 32-bit FNV-1a hash per printed field, 48 bytes in all, kept with the
/// certificate when it is issued. Comparing it with the fingerprint of what the member's record
/// would print on the same certificate today tells whether, and which, printed field changed,
/// without keeping the printed values themselves a second time.
public struct PrintedSnapshot: Sendable, Equatable {
    /// The printed fields compared, in the order their hashes are kept. The raw values name
    /// them in explanations (never the values).
    public enum Field: String, Sendable, CaseIterable {
        case name, kana
        case birthDate = "birth_date"
        case sex
        case symbolNumberBranch = "symbol_number_branch"
        case insurerNumber = "insurer_number"
        case insurerName = "insurer_name"
        /// 一部負担金の割合 as printed, with its 発効期日.
        case copay
        /// The 特別療養 variant (and so the title).
        case variant
        /// 限度区分 with its 発効期日.
        case limitCategory = "limit_category"
        case longStayOn = "long_stay_on"
        case specificDisease = "specific_disease"

        var index: Int { Self.allCases.firstIndex(of: self)! }
    }

    public static let byteCount = Field.allCases.count * 4

    public private(set) var hashes: [UInt32]

    /// Every field empty; fill them with `set`.
    public init() { hashes = Array(repeating: Self.empty, count: Field.allCases.count) }

    /// A snapshot as stored (`bytes`); nil when it has the wrong size.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        var hashes: [UInt32] = []
        for i in stride(from: 0, to: bytes.count, by: 4) {
            var h: UInt32 = 0
            for b in bytes[i..<i + 4] { h = h << 8 | UInt32(b) }
            hashes.append(h)
        }
        self.hashes = hashes
    }

    /// From its hex text (`encode(printed_snapshot, 'hex')`); nil when it is not one.
    public init?(hex: String) {
        var bytes: [UInt8] = []
        var high: UInt8?
        for c in hex.utf8 {
            guard let v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : nil else { return nil }
            if let h = high { bytes.append(h << 4 | v); high = nil } else { high = v }
        }
        guard high == nil else { return nil }
        self.init(bytes: bytes)
    }

    /// The stored form as hex.
    public var hex: String { String(decoding: hexBytes, as: UTF8.self) }

    /// The hex form as ASCII bytes (96).
    public var hexBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hashes.count * 8)
        for h in hashes {
            var shift: UInt32 = 28
            for _ in 0..<8 {
                let v = UInt8(truncatingIfNeeded: h >> shift) & 15
                out.append(v < 10 ? 48 + v : 87 + v)
                shift &-= 4
            }
        }
        return out
    }

    /// The stored form: the hashes big-endian, in field order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hashes.count * 4)
        for h in hashes { out += [UInt8(truncatingIfNeeded: h >> 24), UInt8(truncatingIfNeeded: h >> 16), UInt8(truncatingIfNeeded: h >> 8), UInt8(truncatingIfNeeded: h)] }
        return out
    }

    /// The field's hash over its parts (UTF-8), each part followed by a unit separator, so that
    /// ("ab", "c") and ("a", "bc") differ.
    public mutating func set(_ field: Field, _ parts: String?...) {
        var h = Part()
        for part in parts {
            if var p = part { p.withUTF8 { h.add($0) } }
            h.end()
        }
        hashes[field.index] = h.value
    }

    /// The same hash, fed part by part from bytes (the run hashes fields in place).
    public struct Part {
        public private(set) var value = PrintedSnapshot.empty
        public init() {}
        @inline(__always) public mutating func add(_ bytes: UnsafeBufferPointer<UInt8>) {
            for b in bytes { value = (value ^ UInt32(b)) &* 16_777_619 }
        }
        /// Ends a part.
        @inline(__always) public mutating func end() { value = (value ^ 0x1F) &* 16_777_619 }
    }

    public mutating func set(_ field: Field, _ part: Part) { hashes[field.index] = part.value }

    /// The fields `PrintedDetails` decides: copay, variant and the optional entries.
    public mutating func set(_ d: PrintedDetails) {
        set(.copay, d.copayText, d.copayEffectiveOn?.description)
        set(.variant, d.variant.rawValue)
        set(.limitCategory, d.entries?.limitCategory, d.entries?.limitEffectiveOn?.description)
        set(.longStayOn, d.entries?.longStayOn?.description)
        set(.specificDisease, d.entries?.specificDisease)
    }

    /// The first field whose hash differs from `other`'s, in field order; nil when none does.
    public func firstDifference(from other: PrintedSnapshot) -> Field? {
        Field.allCases.first { hashes[$0.index] != other.hashes[$0.index] }
    }

    static let empty: UInt32 = 2_166_136_261
}
