import Foundation
import KakuninRuntime
import KakuninStore

/// The bytes of the log's entries, built by kakunin from the base tables with the query below
/// (shipped in the binary: no view or function of the database is trusted to render them).
///
/// An entry is a JSON object; `audit_log.entry_format` says how it is written:
/// - format 1 (entries sealed before sql/024): PostgreSQL's `jsonb` text of the object, kept
///   byte for byte so that checkpoints signed before still verify;
/// - format 2 (every entry sealed since): the same object in RFC 8785 canonical JSON (keys sorted,
///   no white space, minimal string escapes, numbers as ECMAScript writes them).
public enum AuditEntries {
    /// Every entry as PostgreSQL's jsonb text (format 1's bytes; the values format 2 canonicalizes),
    /// with its format. Built-ins are schema-qualified so that no object of the kakunin schema
    /// (nor one earlier in the search path) takes part.
    package static func select(from start: Int, upTo end: Int?) -> String {
        let limit = end.map { "AND l.log_index < \($0)" } ?? ""
        return """
            SELECT l.log_index, l.entry_format,
                   (CASE WHEN l.event_id IS NOT NULL THEN pg_catalog.jsonb_build_object(
                        'type', 'event', 'event_id', e.event_id,
                        'occurred_at', pg_catalog.to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                        'actor', e.actor, 'client', e.host, 'action', e.action, 'insurer_number', e.insurer_number,
                        'member_id', e.member_id, 'run_id', e.run_id, 'import_id', e.import_id, 'details', e.details)
                    ELSE pg_catalog.jsonb_build_object(
                        'type', 'certificate_issued', 'insurer_number', c.insurer_number, 'certificate_number', c.certificate_number,
                        'member_id', c.member_id, 'run_id', c.run_id, 'kind', c.kind, 'reasons', pg_catalog.to_jsonb(c.reasons),
                        'valid_from', c.valid_from::text, 'valid_to', c.valid_to::text, 'issued_on', c.issued_on::text,
                        'replaces_certificate_number', c.replaces_certificate_number, 'application_id', c.application_id)
                    END)::text
            FROM kakunin.audit_log l
            LEFT JOIN kakunin.audit_event e ON e.event_id = l.event_id
            LEFT JOIN kakunin.certificate c ON c.insurer_number = l.insurer_number AND c.certificate_number = l.certificate_number
            WHERE l.log_index >= \(start) \(limit)
            ORDER BY l.log_index
            """
    }

    /// An entry's bytes in its format, from the object's jsonb text.
    public static func bytes(format: Int, jsonb: String) throws -> [UInt8] {
        switch format {
        case 1: return Array(jsonb.utf8)
        case 2: return try CanonicalJSON.encode(CanonicalJSON.parse(jsonb))
        default:
            throw OperatorError(
                .internalError, "a log entry has format \(format), which this kakunin does not know",
                fix: "use the kakunin build that wrote it, or check audit_log.entry_format for tampering")
        }
    }

    /// Streams the entries in order from `start` (before `end`): index and bytes.
    static func stream(_ db: Connection, from start: Int = 0, upTo end: Int? = nil, _ body: (Int, [UInt8]) throws -> Void) throws {
        var parser = CopyTextParser()
        try db.copyOut("COPY (\(select(from: start, upTo: end))) TO STDOUT") { chunk in
            let row = parser.parseRow(chunk)
            guard let index = row[0].flatMap({ Int($0) }), let format = row[1].flatMap({ Int($0) }) else {
                throw OperatorError(.internalError, "a log row without index or format", fix: "run kakunin db status")
            }
            try body(index, try bytes(format: format, jsonb: row[2] ?? "null"))
        }
    }

    /// One entry's bytes and format, or nil when there is no such position.
    public static func entry(_ db: Connection, index: Int) throws -> (format: Int, bytes: [UInt8])? {
        guard let row = try db.query(select(from: index, upTo: index + 1)).rows.first,
            let format = row[1].flatMap({ Int($0) })
        else { return nil }
        return (format, try bytes(format: format, jsonb: row[2] ?? "null"))
    }
}

/// RFC 8785 (JSON Canonicalization Scheme) for the values an entry holds: objects with keys
/// sorted by UTF-16 code units, no white space, strings with only `"`, `\` and control
/// characters escaped (the short forms \b \t \n \f \r, else \u00xx), numbers as ECMAScript's
/// Number.prototype.toString writes the IEEE double.
public enum CanonicalJSON {
    public indirect enum Value: Equatable, Sendable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([Value])
        case object([(String, Value)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): return true
            case (.bool(let x), .bool(let y)): return x == y
            case (.number(let x), .number(let y)): return x == y
            case (.string(let x), .string(let y)): return x == y
            case (.array(let x), .array(let y)): return x == y
            case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        var description: String { "not JSON at byte \(offset)" }
    }

    public static func parse(_ text: String) throws -> Value {
        var p = Parser(bytes: Array(text.utf8))
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        guard p.at == p.bytes.count else { throw ParseError(offset: p.at) }
        return v
    }

    public static func encode(_ v: Value) -> [UInt8] {
        var out: [UInt8] = []
        write(v, &out)
        return out
    }

    static let nullBytes = Array("null".utf8), trueBytes = Array("true".utf8), falseBytes = Array("false".utf8)

    static func write(_ v: Value, _ out: inout [UInt8]) {
        switch v {
        case .null: out += nullBytes
        case .bool(let b): out += b ? trueBytes : falseBytes
        case .number(let d): out += number(d).utf8
        case .string(let s): string(s, &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // UTF-16 order is byte order for keys without characters beyond U+D7FF.
            let plain = members.allSatisfy { $0.0.utf8.allSatisfy { $0 < 0xED } }
            let sorted =
                plain
                ? members.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
                : members.map { (Array($0.0.utf16), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
            for (i, (k, item)) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                string(k, &out)
                out.append(UInt8(ascii: ":"))
                write(item, &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func string(_ s: String, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5c, 0x22]
            case 0x5c: out += [0x5c, 0x5c]
            case 0x08: out += [0x5c, UInt8(ascii: "b")]
            case 0x09: out += [0x5c, UInt8(ascii: "t")]
            case 0x0a: out += [0x5c, UInt8(ascii: "n")]
            case 0x0c: out += [0x5c, UInt8(ascii: "f")]
            case 0x0d: out += [0x5c, UInt8(ascii: "r")]
            case 0x00..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// ECMAScript's Number::toString of a finite double, from Swift's shortest round-trip digits.
    static func number(_ d: Double) -> String {
        if d == 0 { return "0" }
        if d < 0 { return "-" + number(-d) }
        if d < 1e15, d == d.rounded(.towardZero) { return String(Int64(d)) }
        // Swift writes the shortest digits that round-trip, as "123.45", "1e-07" or "1.2e+30".
        let text = "\(d)"
        let parts = text.split(separator: "e")
        let exp = parts.count > 1 ? Int(parts[1])! : 0
        let mantissa = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(mantissa[0])
        let fracPart = mantissa.count > 1 ? String(mantissa[1]) : ""
        var digits = Array(intPart + fracPart)
        var n = intPart.count + exp  // the decimal point's position after `digits`' first digit
        while digits.first == "0" {
            digits.removeFirst()
            n -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let k = digits.count
        let s = String(digits)
        if k <= n && n <= 21 { return s + String(repeating: "0", count: n - k) }
        if 0 < n && n <= 21 { return String(digits[0..<n]) + "." + String(digits[n...]) }
        if -6 < n && n <= 0 { return "0." + String(repeating: "0", count: -n) + s }
        let e = n - 1
        let sign = e < 0 ? "-" : "+"
        let head = k == 1 ? s : String(digits[0]) + "." + String(digits[1...])
        return head + "e" + sign + String(abs(e))
    }

    struct Parser {
        let bytes: [UInt8]
        var at = 0

        mutating func skipSpace() {
            while at < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[at]) { at += 1 }
        }

        mutating func expect(_ word: String) throws {
            let w = Array(word.utf8)
            guard at + w.count <= bytes.count, Array(bytes[at..<(at + w.count)]) == w else { throw ParseError(offset: at) }
            at += w.count
        }

        mutating func value() throws -> Value {
            guard at < bytes.count else { throw ParseError(offset: at) }
            switch bytes[at] {
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                at += 1
                var items: [Value] = []
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "]") {
                    at += 1
                    return .array(items)
                }
                while true {
                    skipSpace()
                    items.append(try value())
                    skipSpace()
                    guard at < bytes.count else { throw ParseError(offset: at) }
                    if bytes[at] == UInt8(ascii: "]") {
                        at += 1
                        return .array(items)
                    }
                    try expect(",")
                }
            case UInt8(ascii: "{"):
                at += 1
                var members: [(String, Value)] = []
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "}") {
                    at += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw ParseError(offset: at) }
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    members.append((key, try value()))
                    skipSpace()
                    guard at < bytes.count else { throw ParseError(offset: at) }
                    if bytes[at] == UInt8(ascii: "}") {
                        at += 1
                        return .object(members)
                    }
                    try expect(",")
                }
            default:
                let start = at
                while at < bytes.count, "+-0123456789.eE".utf8.contains(bytes[at]) { at += 1 }
                guard let d = Double(String(decoding: bytes[start..<at], as: UTF8.self)), d.isFinite else {
                    throw ParseError(offset: start)
                }
                return .number(d)
            }
        }

        mutating func string() throws -> String {
            at += 1
            // Most strings have no escapes: one slice.
            let start = at
            while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\") { at += 1 }
            if at < bytes.count, bytes[at] == UInt8(ascii: "\"") {
                at += 1
                return String(decoding: bytes[start..<(at - 1)], as: UTF8.self)
            }
            var out = Array(bytes[start..<at])
            while at < bytes.count {
                let b = bytes[at]
                at += 1
                if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                guard b == UInt8(ascii: "\\") else {
                    out.append(b)
                    continue
                }
                guard at < bytes.count else { break }
                let c = bytes[at]
                at += 1
                switch c {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "u"):
                    var unit = try hex4()
                    if (0xD800..<0xDC00).contains(unit) {
                        try expect("\\u")
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw ParseError(offset: at) }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(unit) else { throw ParseError(offset: at) }
                    out += Array(String(Character(scalar)).utf8)
                default: out.append(c)
                }
            }
            throw ParseError(offset: at)
        }

        mutating func hex4() throws -> UInt32 {
            guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16) else {
                throw ParseError(offset: at)
            }
            at += 4
            return v
        }
    }
}
