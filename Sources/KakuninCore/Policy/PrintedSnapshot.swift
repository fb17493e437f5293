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

    /// The hashes in field order (lanes 12–15 stay 0): a value, no heap storage, since the run
    /// makes one per certificate it issues.
    private var lanes = SIMD16<UInt32>(repeating: 0)

    public var hashes: [UInt32] { (0..<Field.allCases.count).map { lanes[$0] } }

    /// Every field empty; fill them with `set`.
    public init() {
        for i in 0..<Field.allCases.count { lanes[i] = Self.empty }
    }

    /// A snapshot as stored (`bytes`); nil when it has the wrong size.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        for i in 0..<Field.allCases.count {
            var h: UInt32 = 0
            for b in bytes[4 * i..<4 * i + 4] { h = h << 8 | UInt32(b) }
            lanes[i] = h
        }
    }

    /// From its hex text (`encode(printed_snapshot, 'hex')`); nil when it is not one.
    public init?(hex: String) {
        var bytes: [UInt8] = []
        var high: UInt8?
        for c in hex.utf8 {
            guard let v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : nil else { return nil }
            if let h = high {
                bytes.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        guard high == nil else { return nil }
        self.init(bytes: bytes)
    }

    /// The stored form as hex.
    public var hex: String { String(decoding: hexBytes, as: UTF8.self) }

    /// The hex form as ASCII bytes (96).
    public var hexBytes: [UInt8] {
        var out: [UInt8] = []
        appendHex(to: &out)
        return out
    }

    /// The hex form appended to `out` (the run writes it straight into its COPY buffer).
    public func appendHex(to out: inout [UInt8]) {
        out.reserveCapacity(out.count + Self.byteCount * 2)
        for i in 0..<Field.allCases.count {
            let h = lanes[i]
            var shift: UInt32 = 28
            for _ in 0..<8 {
                let v = UInt8(truncatingIfNeeded: h >> shift) & 15
                out.append(v < 10 ? 48 + v : 87 + v)
                shift &-= 4
            }
        }
    }

    /// The stored form: the hashes big-endian, in field order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount)
        for i in 0..<Field.allCases.count {
            let h = lanes[i]
            out += [
                UInt8(truncatingIfNeeded: h >> 24), UInt8(truncatingIfNeeded: h >> 16), UInt8(truncatingIfNeeded: h >> 8),
                UInt8(truncatingIfNeeded: h),
            ]
        }
        return out
    }

    /// The field's hash over its parts (UTF-8), each part followed by a unit separator, so that
    /// ("ab", "c") and ("a", "bc") differ.
    public mutating func set(_ field: Field, _ parts: String?...) {
        var h = Part()
        for part in parts {
            h.add(part)
            h.end()
        }
        lanes[field.index] = h.value
    }

    /// The same hash, fed part by part from bytes (the run hashes fields in place).
    public struct Part {
        public private(set) var value = PrintedSnapshot.empty
        public init() {}
        @inline(__always) public mutating func add(_ bytes: UnsafeBufferPointer<UInt8>) {
            for b in bytes { add(byte: b) }
        }
        @inline(__always) mutating func add(byte b: UInt8) { value = (value ^ UInt32(b)) &* 16_777_619 }
        /// A text's UTF-8 (nothing for nil).
        @inline(__always) public mutating func add(_ s: String?) {
            if var s { s.withUTF8 { add($0) } }
        }
        /// A date as `LocalDate.description` spells it (nothing for nil), without making the String.
        public mutating func add(_ d: LocalDate?) {
            guard let d else { return }
            let (y, m, day) = d.civil
            guard (0...9999).contains(y) else { return add(d.description) }
            digits(y / 100)
            digits(y % 100)
            add(byte: 45)
            digits(m)
            add(byte: 45)
            digits(day)
        }
        /// `v` (0–99) as two ASCII digits.
        @inline(__always) private mutating func digits(_ v: Int) {
            add(byte: UInt8(48 + v / 10))
            add(byte: UInt8(48 + v % 10))
        }
        /// Ends a part.
        @inline(__always) public mutating func end() { value = (value ^ 0x1F) &* 16_777_619 }
    }

    public mutating func set(_ field: Field, _ part: Part) { lanes[field.index] = part.value }

    /// The fields `PrintedDetails` decides: copay, variant and the optional entries (hashed as
    /// `set(field, parts…)` would, dates as their ISO text, with no String or array per call).
    public mutating func set(_ d: PrintedDetails) {
        var h = Part()
        h.add(d.copayText)
        h.end()
        h.add(d.copayEffectiveOn)
        h.end()
        set(.copay, h)
        h = Part()
        h.add(d.variant.rawValue)
        h.end()
        set(.variant, h)
        h = Part()
        h.add(d.entries?.limitCategory)
        h.end()
        h.add(d.entries?.limitEffectiveOn)
        h.end()
        set(.limitCategory, h)
        h = Part()
        h.add(d.entries?.longStayOn)
        h.end()
        set(.longStayOn, h)
        h = Part()
        h.add(d.entries?.specificDisease)
        h.end()
        set(.specificDisease, h)
    }

    /// The first field whose hash differs from `other`'s, in field order; nil when none does.
    public func firstDifference(from other: PrintedSnapshot) -> Field? {
        Field.allCases.first { lanes[$0.index] != other.lanes[$0.index] }
    }

    static let empty: UInt32 = 2_166_136_261
}
