/// Why a member needs special consideration (配慮が必要な理由), the basis of a
/// special-consideration application (SPEC.md 2.2, 4). The one list of bases: the
/// applications feed, `kakunin application add`, the console's form and its labels read it;
/// the database's CHECK on application.basis (sql/029) holds the same values.
public enum ConsiderationBasis: String, Sendable, CaseIterable {
    case elderly
    case disability
    case needsHelper = "needs_helper"
    /// [2026-12] 要介護・要支援の認定を受けている.
    case careNeed = "care_need"
    /// [2026-12] 成年後見制度を利用している.
    case guardianship
    /// [2026-12] 施設に入所している.
    case facility
    case other

    /// The codes as the feed and the command line take them, in SPEC.md's order.
    public static let codes: [String] = allCases.map(\.rawValue)

    /// The label office staff read (console form and member page).
    public var japanese: String {
        switch self {
        case .elderly: return "高齢者"
        case .disability: return "障害のある方"
        case .needsHelper: return "介助者などの支援が必要な方"
        case .careNeed: return "要介護・要支援の方"
        case .guardianship: return "成年後見制度を利用している方"
        case .facility: return "施設に入所している方"
        case .other: return "その他"
        }
    }

    /// The Japanese label of a stored code; the code itself when it is not one of these.
    public static func japanese(_ code: String) -> String {
        ConsiderationBasis(rawValue: code)?.japanese ?? code
    }
}
