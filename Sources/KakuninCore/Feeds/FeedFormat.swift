/// The kinds of value a feed column holds (SPEC.md section 4).
public enum FieldKind: Sendable, Equatable {
    /// Free text up to `maxLength` characters.
    case text(maxLength: Int)
    /// Identifier: ASCII letters, digits, `-` and `_`, up to `maxLength`.
    case identifier(maxLength: Int)
    /// 6-digit (nhi) or 8-digit insurer number (保険者番号).
    case insurerNumber
    /// Exactly `count` ASCII digits.
    case digits(count: Int)
    /// Katakana reading (フリガナ): full-width katakana, prolonged sound mark, middle dot, spaces.
    case kana(maxLength: Int)
    /// `YYYY-MM-DD`, a real calendar date.
    case date
    /// `true` or `false`.
    case boolean
    /// One of the listed values.
    case oneOf([String])
    /// A BCP 47 language tag such as `ja`, `en`, `pt-BR`.
    case languageTag
    /// A non-negative whole number in ASCII digits, at most `max`.
    case count(max: Int)
    /// [2026-12] A short code printed as the insurer writes it (限度区分: `区ア`, `現役並みⅠ`,
    /// `区オ（境）`): text rules, at most `maxLength` characters, no spaces.
    case printedCode(maxLength: Int)
}

/// One column of a feed.
public struct FeedColumn: Sendable {
    public let name: String
    public let kind: FieldKind
    public let required: Bool
    /// Value stored when the field is blank (nil: stored as NULL).
    public let blankDefault: String?
    /// Holds personal data: never echoed on screen or in logs, only in owner-readable files.
    public let personal: Bool
    /// [2026-12] The header may leave the column out (SPEC.md 4, optional columns): a file
    /// without it reads as if every row had it blank, so older extracts load unchanged. A file
    /// with it is validated like any other column.
    public let optional: Bool

    public init(
        _ name: String, _ kind: FieldKind, required: Bool = false, blankDefault: String? = nil,
        personal: Bool = false, optional: Bool = false
    ) {
        precondition(!(optional && required), "an optional column cannot require a value")
        self.name = name
        self.kind = kind
        self.required = required
        self.blankDefault = blankDefault
        self.personal = personal
        self.optional = optional
    }
}

/// A feed file format: its columns in the order the stage table stores them.
public struct FeedFormat: Sendable {
    public enum Name: String, Sendable, CaseIterable {
        case members
        case mynaStatus = "myna_status"
        case applications
        /// [2026-12] The employers (事業所) of an employee scheme's members (SPEC.md 4).
        case establishments
    }

    public let name: Name
    public let columns: [FeedColumn]
    /// Columns that identify a row; a key seen twice in one file rejects the later rows.
    public let keyColumns: [String]

    public func index(of column: String) -> Int? { columns.firstIndex { $0.name == column } }

    public static func named(_ name: Name) -> FeedFormat {
        switch name {
        case .members: return members
        case .mynaStatus: return mynaStatus
        case .applications: return applications
        case .establishments: return establishments
        }
    }

    /// The column that names a row in a reject (`member_id`; `establishment_id` for the
    /// establishments feed).
    public var rowIdentifier: String { name == .establishments ? "establishment_id" : "member_id" }

    public static let members = FeedFormat(
        name: .members,
        columns: [
            FeedColumn("insurer_number", .insurerNumber, required: true),
            FeedColumn("member_id", .identifier(maxLength: 20), required: true),
            FeedColumn("scheme", .oneOf(["nhi", "elderly", "employee"]), required: true),
            FeedColumn("symbol", .text(maxLength: 20)),
            FeedColumn("number", .text(maxLength: 20), required: true),
            FeedColumn("branch", .digits(count: 2)),
            FeedColumn("family_name", .text(maxLength: 50), required: true, personal: true),
            FeedColumn("given_name", .text(maxLength: 50), personal: true),
            FeedColumn("family_name_kana", .kana(maxLength: 50), personal: true),
            FeedColumn("given_name_kana", .kana(maxLength: 50), personal: true),
            FeedColumn("birth_date", .date, required: true, personal: true),
            FeedColumn("sex", .oneOf(["1", "2", "9"]), required: true),
            FeedColumn("qualified_on", .date, required: true),
            FeedColumn("disqualified_on", .date),
            FeedColumn("household_id", .identifier(maxLength: 20)),
            FeedColumn("household_head", .boolean, blankDefault: "false"),
            FeedColumn("postal_code", .text(maxLength: 10), personal: true),
            FeedColumn("address", .text(maxLength: 200), personal: true),
            FeedColumn("address_extra", .text(maxLength: 100), personal: true),
            FeedColumn("preferred_language", .languageTag),
            FeedColumn("copay_ratio", .oneOf(["10", "20", "30"])),
            FeedColumn("residence_expiry", .date),
            FeedColumn("legacy_card_expiry", .date),
            FeedColumn("access_restricted", .boolean, blankDefault: "false"),
            // [2026-12] Optional columns (SPEC.md 4): blank or absent = none (NULL). Kept last: a
            // member's row digest leaves them out while all are blank (`optionalMemberColumns`).
            FeedColumn("copay_effective_on", .date, optional: true),
            FeedColumn("special_care", .boolean, optional: true),
            FeedColumn("limit_category", .printedCode(maxLength: 10), optional: true),
            FeedColumn("limit_effective_on", .date, optional: true),
            FeedColumn("long_stay_on", .date, optional: true),
            FeedColumn("specific_disease", .oneOf(["A", "B", "C"]), optional: true),
            FeedColumn("establishment_id", .identifier(maxLength: 20), optional: true),
            FeedColumn("voluntary_continuation", .boolean, optional: true),
        ], keyColumns: ["insurer_number", "member_id"])

    public static let mynaStatus = FeedFormat(
        name: .mynaStatus,
        columns: [
            FeedColumn("insurer_number", .insurerNumber, required: true),
            FeedColumn("member_id", .identifier(maxLength: 20), required: true),
            FeedColumn("status_as_of", .date, required: true),
            FeedColumn("has_card", .boolean, required: true),
            FeedColumn("registration", .oneOf(["registered", "not_registered", "cancel_requested", "cancelled"])),
            FeedColumn("card_state", .oneOf(["active", "suspended", "renewing", "returned", "none"]), required: true),
            FeedColumn("ecert_expiry", .date),
            FeedColumn("card_expiry", .date),
            // [2026-12] the usage test's columns (SPEC.md 2.4): blank or absent = unknown.
            FeedColumn("uses_12m", .count(max: 10_000), optional: true),
            FeedColumn("last_used_on", .date, optional: true),
        ], keyColumns: ["insurer_number", "member_id", "status_as_of"])

    public static let applications = FeedFormat(
        name: .applications,
        columns: [
            FeedColumn("insurer_number", .insurerNumber, required: true),
            FeedColumn("member_id", .identifier(maxLength: 20), required: true),
            FeedColumn("kind", .oneOf(["special_consideration", "card_lost", "card_renewing", "reissue"]), required: true),
            FeedColumn("received_on", .date, required: true),
            FeedColumn("basis", .oneOf(ConsiderationBasis.codes)),
            FeedColumn("status", .oneOf(["pending", "approved", "rejected"]), required: true),
        ], keyColumns: ["insurer_number", "member_id", "kind", "received_on"])

    /// [2026-12] SPEC.md 4: one row per establishment; contact is the department or person the
    /// envelope is addressed to. The address may be blank: such an establishment holds its
    /// members' documents (ESTABLISHMENT_ADDRESS_MISSING) until a feed gives it one.
    public static let establishments = FeedFormat(
        name: .establishments,
        columns: [
            FeedColumn("insurer_number", .insurerNumber, required: true),
            FeedColumn("establishment_id", .identifier(maxLength: 20), required: true),
            FeedColumn("name", .text(maxLength: 100), required: true),
            FeedColumn("postal_code", .text(maxLength: 10)),
            FeedColumn("address", .text(maxLength: 200)),
            FeedColumn("address_extra", .text(maxLength: 100)),
            FeedColumn("contact", .text(maxLength: 100)),
        ], keyColumns: ["insurer_number", "establishment_id"])
}
