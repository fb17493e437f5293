/// Health-insurance scheme (SPEC.md 1).
public enum Scheme: String, Sendable, CaseIterable, Codable {
    /// 国民健康保険: municipal; mail goes to the head of household.
    case nhi
    /// 後期高齢者医療: 75 and over; per person.
    case elderly
    /// 健康保険組合 / 協会けんぽ / 共済: per person.
    case employee

    /// Members of this scheme leave it on their 75th birthday for the elderly scheme (後期高齢者
    /// 医療, SPEC.md 2.5 rule 2): everyone but those already in it.
    public var leavesAt75: Bool { self != .elderly }

    /// The scheme's name as staff read it.
    public var japanese: String {
        switch self {
        case .nhi: return "国民健康保険"
        case .elderly: return "後期高齢者医療"
        case .employee: return "被用者保険"
        }
    }
}

/// The member's My Number card as the online eligibility system reports it (myna_status feed).
public struct MynaStatus: Sendable, Equatable {
    public enum Registration: String, Sendable, CaseIterable {
        case registered
        case notRegistered = "not_registered"
        case
            cancelRequested = "cancel_requested"
        case cancelled
    }
    public enum CardState: String, Sendable, CaseIterable { case active, suspended, renewing, returned, none }

    public var hasCard: Bool
    public var registration: Registration?
    public var cardState: CardState
    public var ecertExpiry: LocalDate?
    public var cardExpiry: LocalDate?
    /// The date the online eligibility system reported this status (the snapshot's
    /// `status_as_of`): the usage counts below are counted back from it.
    public var statusAsOf: LocalDate?
    /// [2026-12] Times the card was used for insurance in the 12 months before `statusAsOf`;
    /// nil: unknown (the feed had no `uses_12m`, or left it blank).
    public var uses12m: Int?
    /// [2026-12] The last day the card was used; nil: never or unknown.
    public var lastUsedOn: LocalDate?
    /// The usage test's recent window (SPEC.md 2.4): a use on or after statusAsOf − 3 months.
    /// The importer marks a repeated snapshot whose last use leaves it (FeedImporter).
    public static let recentUseMonths = 3

    public init(
        hasCard: Bool, registration: Registration?, cardState: CardState,
        ecertExpiry: LocalDate? = nil, cardExpiry: LocalDate? = nil,
        statusAsOf: LocalDate? = nil, uses12m: Int? = nil, lastUsedOn: LocalDate? = nil
    ) {
        self.hasCard = hasCard
        self.registration = registration
        self.cardState = cardState
        self.ecertExpiry = ecertExpiry
        self.cardExpiry = cardExpiry
        self.statusAsOf = statusAsOf
        self.uses12m = uses12m
        self.lastUsedOn = lastUsedOn
    }
}

/// An approved application not yet fulfilled (申請).
public struct OpenApplication: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case specialConsideration = "special_consideration"
        case cardLost = "card_lost"
        case
            cardRenewing = "card_renewing"
        case reissue
    }
    public var id: Int64
    public var kind: Kind
    public var receivedOn: LocalDate
    /// A special-consideration application states its basis. Only an elderly member's may lack
    /// one (SPEC.md 2.2 [2026-12]); the policy then issues on it only for a certificate period
    /// starting on or after 2026-08-01.
    public var hasBasis: Bool

    public init(id: Int64, kind: Kind, receivedOn: LocalDate, hasBasis: Bool = true) {
        self.id = id
        self.kind = kind
        self.receivedOn = receivedOn
        self.hasBasis = hasBasis
    }
}

/// A certificate already issued to the member (資格確認書).
public struct CertificateFacts: Sendable, Equatable {
    public var number: Int64
    public var validFrom: LocalDate
    public var validTo: LocalDate
    /// Not voided.
    public var active: Bool
    /// First issued on a special-consideration application (directly or by renewal), and
    /// staff have not ended that consideration.
    public var specialConsiderationContinues: Bool
    /// [2026-12] The first printed field of the certificate (SPEC.md 2.5 "Printed details
    /// change") that no longer matches the member's record; nil when all match or the
    /// certificate kept no printed snapshot.
    public var printedChange: PrintedSnapshot.Field? = nil

    public init(
        number: Int64, validFrom: LocalDate, validTo: LocalDate, active: Bool = true,
        specialConsiderationContinues: Bool = false, printedChange: PrintedSnapshot.Field? = nil
    ) {
        self.printedChange = printedChange
        self.number = number
        self.validFrom = validFrom
        self.validTo = validTo
        self.active = active
        self.specialConsiderationContinues = specialConsiderationContinues
    }
}

/// Everything the policy needs to know about one member on one date. Plain values, no
/// references: deciding a member allocates nothing.
public struct MemberFacts: Sendable, Equatable {
    public var scheme: Scheme
    public var birthDate: LocalDate
    public var qualifiedOn: LocalDate
    public var disqualifiedOn: LocalDate?
    /// Foreign residents: end of the period of stay (在留期間).
    public var residenceExpiry: LocalDate?
    /// Printed expiry of the legacy paper card, if the member holds one.
    public var legacyCardExpiry: LocalDate?
    /// Information blocked from view (e.g. DV protection).
    public var accessRestricted: Bool
    /// nil: no Myna status on record.
    public var myna: MynaStatus?
    /// The end of the active certificate that covers the as-of date, or, when later, of another
    /// active certificate than the latest that ends on or after it (one starting after the
    /// as-of date that a later one follows, e.g. a short-term certificate issued on an
    /// application after a certificate that has not started yet): S moves past both.
    public var coveringCertificateEnd: LocalDate?
    /// The earliest approved, unfulfilled application.
    public var application: OpenApplication?
    /// An application of any kind is on file: pending, or approved and not yet fulfilled
    /// (SPEC.md 2.3 [2026-12]; rejected and fulfilled ones are not).
    public var applicationOnFile: Bool
    /// The member's latest certificate that is not voided (may have ended). The facts query
    /// gives one that ended before the as-of date only when it continues a special
    /// consideration: nothing else about an ended certificate changes a decision.
    public var latestCertificate: CertificateFacts?
    /// An eligibility notice with the member's current details was sent before.
    public var eligibilityNoticeSent: Bool
    /// The latest 有効期限 among the eligibility notices with the member's current details
    /// (nil: none carries one). Only nhi members who have attained 70 get notices with a
    /// validity date (SPEC.md 3 [2026-12]); theirs lapse like certificates.
    public var eligibilityNoticeValidTo: LocalDate? = nil
    /// Date of the latest application guidance notice.
    public var lastApplyNotice: LocalDate?
    /// The addressee (for nhi: the household head) has a 7-digit postal code and an address.
    public var deliverable: Bool
    /// Mail came back undelivered (返戻) and the address has not changed since.
    public var mailReturned = false
    /// [2026-12] The member's documents go through their establishment (employee_delivery =
    /// employer), which has no usable postal code and address (SPEC.md 5.1).
    public var establishmentAddressMissing = false
    /// nhi: how many heads the member's household has (mail goes to exactly one).
    public var householdHeads: Int

    public init(
        scheme: Scheme, birthDate: LocalDate, qualifiedOn: LocalDate, disqualifiedOn: LocalDate? = nil,
        residenceExpiry: LocalDate? = nil, legacyCardExpiry: LocalDate? = nil, accessRestricted: Bool = false,
        myna: MynaStatus? = nil, application: OpenApplication? = nil, applicationOnFile: Bool = false,
        latestCertificate: CertificateFacts? = nil, eligibilityNoticeSent: Bool = false,
        lastApplyNotice: LocalDate? = nil, deliverable: Bool = true, householdHeads: Int = 1
    ) {
        self.scheme = scheme
        self.birthDate = birthDate
        self.qualifiedOn = qualifiedOn
        self.disqualifiedOn = disqualifiedOn
        self.residenceExpiry = residenceExpiry
        self.legacyCardExpiry = legacyCardExpiry
        self.accessRestricted = accessRestricted
        self.myna = myna
        self.application = application
        self.applicationOnFile = applicationOnFile
        self.latestCertificate = latestCertificate
        self.eligibilityNoticeSent = eligibilityNoticeSent
        self.lastApplyNotice = lastApplyNotice
        self.deliverable = deliverable
        self.householdHeads = householdHeads
    }
}
