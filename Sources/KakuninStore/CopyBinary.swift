/// PostgreSQL's COPY binary format (the "Binary Format" section of the COPY reference): a
/// fixed header, then per row a 16-bit field count and per field a 32-bit length (-1: NULL)
/// and the value in the type's binary form, big-endian; a 16-bit -1 ends the stream.
/// The server then skips parsing text: a member's dates, flags and numbers arrive as the
/// values they are (a first load of a million members: about a quarter less server time).
public enum CopyBinary {
    /// Signature, flags (no OIDs), header extension length.
    public static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    public static let trailer: [UInt8] = [0xFF, 0xFF]

    /// The column types this encoder writes, by their `format_type` names.
    public enum ColumnType: Sendable, Equatable {
        case text, date, boolean, int2, int4, int8, bytea

        public init?(sqlName: String) {
            switch sqlName {
            case "text", "character varying": self = .text
            case "date": self = .date
            case "boolean": self = .boolean
            case "smallint": self = .int2
            case "integer": self = .int4
            case "bigint": self = .int8
            case "bytea": self = .bytea
            default: return nil
            }
        }

        /// Whether an integer column of this type can hold `v`.
        public func holds(_ v: Int64) -> Bool {
            switch self {
            case .int2: return Int16(exactly: v) != nil
            case .int4: return Int32(exactly: v) != nil
            case .int8: return true
            default: return false
            }
        }
    }
}

extension CopyBinary {
    /// Writes one row's fields into room already made at the end of an array (`append(to:size:)`):
    /// one capacity check per row instead of one per field.
    public struct Writer {
        @usableFromInline var p: UnsafeMutableRawPointer

        /// Makes `size` bytes of room at the end of `out` and lets `body` fill them exactly.
        @inlinable
        public static func append(to out: inout [UInt8], size: Int, _ body: (inout Writer) throws -> Void) rethrows {
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: size))
            try out.withUnsafeMutableBytes { b in
                var w = Writer(p: b.baseAddress! + start)
                try body(&w)
                precondition(w.p == b.baseAddress! + start + size, "a binary COPY row was sized wrongly")
            }
        }

        @usableFromInline init(p: UnsafeMutableRawPointer) { self.p = p }

        @inlinable public mutating func int16(_ v: Int16) {
            p.storeBytes(of: v.bigEndian, as: Int16.self)
            p += 2
        }
        @inlinable public mutating func int32(_ v: Int32) {
            p.storeBytes(of: v.bigEndian, as: Int32.self)
            p += 4
        }
        @inlinable public mutating func int64(_ v: Int64) {
            p.storeBytes(of: v.bigEndian, as: Int64.self)
            p += 8
        }

        /// A field of `bytes` as they are: 4 + count bytes.
        @inlinable public mutating func bytes(_ v: UnsafeRawBufferPointer) {
            int32(Int32(v.count))
            if v.count > 0 { p.copyMemory(from: v.baseAddress!, byteCount: v.count) }
            p += v.count
        }

        /// NULL: 4 bytes.
        @inlinable public mutating func null() { int32(-1) }
        /// One byte of a field whose length was written before it.
        @inlinable public mutating func uint8(_ v: UInt8) {
            p.storeBytes(of: v, as: UInt8.self)
            p += 1
        }

        /// Bytes already in the binary field form (length included), or the bytes of a field
        /// whose length was written before them.
        @inlinable public mutating func raw(_ v: UnsafeRawBufferPointer) {
            if v.count > 0 { p.copyMemory(from: v.baseAddress!, byteCount: v.count) }
            p += v.count
        }

        /// A date as days since 1970-01-01: 8 bytes.
        @inlinable public mutating func date(daysSince1970 days: Int32) {
            int32(4)
            int32(days - 10_957)
        }
        /// A date or NULL: 8 or 4 bytes (`dateSize`).
        @inlinable public mutating func date(_ days: Int32?) {
            if let days { date(daysSince1970: days) } else { null() }
        }
        @inlinable public static func dateSize(_ days: Int32?) -> Int { days == nil ? 4 : 8 }
        /// 5 bytes.
        @inlinable public mutating func boolean(_ v: Bool) {
            int32(1)
            p.storeBytes(of: v ? 1 : 0, as: UInt8.self)
            p += 1
        }
        /// An integer column of `type` (int2: 6 bytes, int4: 8, int8: 12) that `holds` it.
        @inlinable public mutating func integer(_ v: Int64, as type: ColumnType) {
            switch type {
            case .int2:
                int32(2)
                int16(Int16(v))
            case .int4:
                int32(4)
                int32(Int32(v))
            default:
                int32(8)
                int64(v)
            }
        }

        /// A bigint or NULL: 12 or 4 bytes.
        @inlinable public mutating func int8(_ v: Int64?) {
            if let v {
                int32(8)
                int64(v)
            } else {
                null()
            }
        }

        /// A text value as a whole field (length included).
        public static func textField(_ text: String) -> [UInt8] {
            let bytes = Array(text.utf8)
            var out: [UInt8] = []
            append(to: &out, size: 4 + bytes.count) { w in bytes.withUnsafeBytes { w.bytes($0) } }
            return out
        }

        /// A one-dimensional `text[]` as a whole field (length included), e.g. a set of reason
        /// codes: dimensions, no NULLs, element type text (OID 25), then each element.
        public static func textArrayField(_ elements: [String]) -> [UInt8] {
            let payload = 12 + (elements.isEmpty ? 0 : 8) + elements.reduce(0) { $0 + 4 + $1.utf8.count }
            var out: [UInt8] = []
            append(to: &out, size: 4 + payload) { w in
                w.int32(Int32(payload))
                w.int32(elements.isEmpty ? 0 : 1)
                w.int32(0)
                w.int32(25)
                if !elements.isEmpty {
                    w.int32(Int32(elements.count))
                    w.int32(1)
                }
                for e in elements { textField(e).withUnsafeBytes { w.raw($0) } }
            }
            return out
        }

        /// The size of a field of `type` holding a value of `count` bytes in text.
        @inlinable public static func size(of type: ColumnType, textCount count: Int) -> Int {
            switch type {
            case .text, .bytea: return 4 + count
            case .date: return 8
            case .boolean: return 5
            case .int2: return 6
            case .int4: return 8
            case .int8: return 12
            }
        }
    }
}
