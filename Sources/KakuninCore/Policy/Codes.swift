/// What kakunin decides to do for a member on a run (SPEC.md 2.5).
public enum Outcome: String, Sendable, CaseIterable, Codable {
    case issue
    case renew
    case issueOnApplication = "issue_on_application"
    case applyNotice = "apply_notice"
    case eligibilityNotice = "eligibility_notice"
    case none
    case held

    /// Outcomes that put something in the mail.
    public var needsMail: Bool {
        switch self {
        case .issue, .renew, .issueOnApplication, .applyNotice, .eligibilityNotice: return true
        case .none, .held: return false
        }
    }

    /// Outcomes that issue a certificate.
    public var issuesCertificate: Bool { self == .issue || self == .renew || self == .issueOnApplication }
}

/// Reason codes of SPEC.md 2.1–2.5, plus the few kakunin adds where the spec is silent
/// (marked "kakunin" below and in README.md).
public enum ReasonCode: String, Sendable, CaseIterable, Codable {
    // 2.1 issued without application (職権交付)
    case NO_CARD, NOT_REGISTERED, REGISTRATION_CANCELLED, ECERT_EXPIRED, CARD_RETURNED, ACCESS_RESTRICTED
    case MYNA_STATUS_UNKNOWN, ELDERLY_TRANSITIONAL, SPECIAL_CONSIDERATION_CONTINUES
    // 2.2 issued on application (申請)
    case APP_SPECIAL_CONSIDERATION, APP_CARD_LOST, APP_CARD_RENEWING, APP_REISSUE, NO_BASIS
    // 2.3 must apply
    case CARD_SUSPENDED, CARD_RENEWING, APPLY_NOTICE_RECENT
    // 2.5 other outcomes
    case MYNA_USABLE, COVERED, NOT_QUALIFIED, BIRTH_AFTER_AS_OF, MISSING_ADDRESS, NO_HOUSEHOLD_HEAD
    /// 2.3 [2026-12]: an application of any kind is on file (pending, or approved and not yet
    /// fulfilled) while the card is suspended or renewing: no guidance notice.
    case APPLICATION_PENDING
    /// kakunin: a foreign resident's residence period ends before the certificate would start.
    case RESIDENCE_EXPIRED
    /// Mail to the member came back undelivered (返戻) and the address has not changed since.
    case MAIL_RETURNED
    /// 2.5 rule 2 [2026-12]: an nhi or employee member whose S falls on or after the 75th
    /// birthday has left for the elderly scheme (another insurer).
    case MOVES_TO_ELDERLY
    /// 2.4 usage test [2026-12]: an elderly member aged 84 or under on the reference date whose
    /// Myna card is usable but was not used enough (or whose use is not known).
    case ELDERLY_LOW_MYNA_USE
    /// 2.5 "Printed details change" [2026-12]: the printed details of the member's active
    /// certificate no longer match the record: a replacement with the same end date.
    case PRINTED_DETAILS_CHANGED
    /// 5.1 [2026-12]: the member's documents go through the establishment (employee_delivery =
    /// employer), which has no usable postal code and address: held until a feed gives it one.
    /// The 32nd code: ReasonSet's UInt32 holds exactly 32.
    case ESTABLISHMENT_ADDRESS_MISSING
}

/// A set of reason codes, stored as bits so a decision carries its reasons without allocating.
public struct ReasonSet: Sendable, Equatable, Hashable, Sequence {
    public private(set) var bits: UInt32

    public init() { bits = 0 }
    public init(_ codes: [ReasonCode]) {
        bits = 0
        for c in codes { insert(c) }
    }
    public init(bits: UInt32) { self.bits = bits }

    @inline(__always) public mutating func insert(_ c: ReasonCode) { bits |= 1 << UInt32(c.index) }
    @inline(__always) public func contains(_ c: ReasonCode) -> Bool { bits & (1 << UInt32(c.index)) != 0 }
    @inline(__always) public mutating func formUnion(_ other: ReasonSet) { bits |= other.bits }
    public var isEmpty: Bool { bits == 0 }
    public var count: Int { bits.nonzeroBitCount }

    /// Codes sorted by name (SPEC.md 5: "codes sorted").
    public var sorted: [ReasonCode] { Self.byName.filter(contains) }

    /// `A;B;C` as in the decisions export.
    public var joined: String { sorted.map(\.rawValue).joined(separator: ";") }

    public func makeIterator() -> IndexingIterator<[ReasonCode]> { sorted.makeIterator() }

    static let byName = ReasonCode.allCases.sorted { $0.rawValue < $1.rawValue }
}

extension ReasonCode {
    /// The case's ordinal: a payload-free enum is stored as its case index (under 32 cases here).
    @inline(__always) var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }
}
