import Foundation

/// `application/x-www-form-urlencoded` fields (a form's body or a URL's query), decoded.
public struct FormFields: Sendable {
    private var values: [String: [String]] = [:]

    public init(_ encoded: Substring) {
        for pair in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            let value = parts.count > 1 ? Self.decode(parts[1]) ?? "" : ""
            values[name, default: []].append(value)
        }
    }

    public init(_ encoded: String) { self.init(Substring(encoded)) }

    private static func decode(_ s: Substring) -> String? {
        String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The first value, trimmed; nil when absent or empty.
    public subscript(_ name: String) -> String? {
        guard let v = values[name]?.first?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
        return v
    }

    /// The first value exactly as sent (passwords).
    public func raw(_ name: String) -> String? { values[name]?.first }

    public func all(_ name: String) -> [String] { values[name] ?? [] }

    /// Every field's first value as sent, by name (a confirmation step sends them back).
    public var fields: [(name: String, value: String)] {
        values.keys.sorted().compactMap { k in values[k]?.first.map { (k, $0) } }
    }

    /// The first field (by name) whose value holds a control character other than a tab or a
    /// line break (a NUL, an escape, U+0080–U+009F): nothing a person types.
    public func firstWithControlCharacter() -> String? {
        values.keys.sorted().first { name in
            values[name]!.contains {
                $0.unicodeScalars.contains { $0.properties.generalCategory == .control && !"\t\r\n".unicodeScalars.contains($0) }
            }
        }
    }

    /// A page number (1-based) from `page`, defaulting to 1.
    public var page: Int { max(1, min(100_000, Int(self["page"] ?? "") ?? 1)) }

    /// Encodes fields back into a query string (pagination links keep the filters).
    public static func encode(_ pairs: [(String, String?)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.compactMap { name, value in
            guard let value, !value.isEmpty else { return nil }
            return "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
    }
}

/// An error to show next to a form field, with the fix.
struct FieldError: Error, Sendable {
    let field: String
    let message: String
}
