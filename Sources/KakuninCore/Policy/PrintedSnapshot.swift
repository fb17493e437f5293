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
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// The stored form: the hashes big-endian, in field order.
    public var bytes: [UInt8] {
        hashes.flatMap { (h: UInt32) -> [UInt8] in [24, 16, 8, 0].map { (shift: UInt32) in UInt8(truncatingIfNeeded: h >> shift) } }
    }

    /// The field's hash over its parts (UTF-8), each part followed by a unit separator, so that
    /// ("ab", "c") and ("a", "bc") differ.
    public mutating func set(_ field: Field, _ parts: String?...) {
        var h = Self.empty
        for part in parts {
            for b in (part ?? "").utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
            h = (h ^ 0x1F) &* 16_777_619
        }
        hashes[field.index] = h
    }

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

    private static let empty: UInt32 = 2_166_136_261
}
