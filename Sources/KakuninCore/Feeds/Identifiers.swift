/// The identifiers that travel everywhere, as values: made once where text enters (a CLI
/// argument, a console form or URL, a counter entry point), validated by the feeds' own rule for
/// the column (`FieldValidator`), then carried without being checked again.
public struct Identifier<Rule: IdentifierRule>: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let text: String

    /// Nil when `text` breaks the column's rule (`problem` says why).
    public init?(_ text: String) {
        guard Self.problem(text) == nil else { return nil }
        self.text = text
    }

    /// Why `text` breaks the column's rule, in the feeds' words; nil when it keeps it.
    public static func problem(_ text: String) -> String? {
        var text = text
        return text.withUTF8 { v in FieldValidator.check(v, kind: Rule.fieldKind, required: true, FieldBytes(v)) }
    }

    public var description: String { text }
    public static func < (a: Self, b: Self) -> Bool { a.text < b.text }
}

/// The feeds' rule for one identifier column.
public protocol IdentifierRule: Sendable {
    static var fieldKind: FieldKind { get }
}

/// An insurer number (保険者番号): 6 or 8 ASCII digits, as the feeds' `insurer_number` column.
public typealias InsurerNumber = Identifier<InsurerNumberRule>
public enum InsurerNumberRule: IdentifierRule {
    public static let fieldKind = FieldKind.insurerNumber
}

/// A member id (加入者ID): ASCII letters, digits, `-` and `_`, at most 20, as the feeds'
/// `member_id` column.
public typealias MemberID = Identifier<MemberIDRule>
public enum MemberIDRule: IdentifierRule {
    public static let fieldKind = FieldKind.identifier(maxLength: 20)
}
