/// A national measure with the period it is in force and where it comes from (SPEC.md 2.4).
/// The policy asks "which measures are in force on S?" instead of comparing dates in code;
/// adding a measure is adding an entry here and its tests.
public struct DatedMeasure: Sendable {
    public enum Effect: Sendable, Equatable {
        /// Legacy cards count as valid only up to min(printed expiry, this date).
        case legacyCardsEnd(LocalDate)
        /// Elderly members newly joined on/after `since`, or without a valid legacy card, get a
        /// certificate regardless of Myna.
        case elderlyNewOrUncarded(since: LocalDate)
        /// Every elderly member gets a certificate regardless of Myna; no eligibility notices.
        case elderlyAll
        /// Elderly members who have attained `minimumAge` on `ageOn` (the age law of SPEC.md 3)
        /// get a certificate regardless of Myna, while the insurer's `elderly_85_continuation`
        /// is on (the default).
        /// `ageOn` is the reference date of `elderly_85_reference = fixed`; with `renewal` the
        /// age is taken on the first day of the certificate period S falls in (never before `ageOn`).
        case elderlyAgedOption(minimumAge: Int, ageOn: LocalDate)
        /// [2026-12] Elderly members aged `maximumAge` or under on the reference date (as for
        /// `elderlyAgedOption`, from `ageOn`) whose Myna card is usable get a certificate unless
        /// the latest Myna status shows enough use, while the insurer's `elderly_usage_test` is
        /// on (the default): `elderly_min_uses_12m` uses in the 12 months before its
        /// status_as_of and (`elderly_min_uses_3m` = 1) a last use within the 3 months before it.
        case elderlyUsageTest(maximumAge: Int, ageOn: LocalDate)
        /// An elderly member's special-consideration application needs no basis for a
        /// certificate whose period starts in the measure's period, whenever it was received
        /// (SPEC.md 2.2 [2026-12]; insurer parameter elderly_apply_without_basis).
        case elderlyApplicationNeedsNoBasis
        /// A Myna card stays usable until the end of the month `ecert_grace_months` after its
        /// e-certificate or the card expires.
        case ecertGrace
    }

    public let id: String
    public let title: String
    public let from: LocalDate?
    public let to: LocalDate?
    public let effect: Effect
    public let source: String

    public func inForce(on d: LocalDate) -> Bool {
        (from.map { $0 <= d } ?? true) && (to.map { d <= $0 } ?? true)
    }

    public var period: String {
        "\(from?.description ?? "always") … \(to?.description ?? "open")"
    }
}

/// The catalogue of national measures.
public enum NationalMeasures {
    private static func d(_ s: String) -> LocalDate { LocalDate(s)! }

    public static let legacyCardsEnd = DatedMeasure(
        id: "legacy-cards-end", title: "Legacy insurance cards valid at most until 2025-12-01",
        from: nil, to: nil, effect: .legacyCardsEnd(d("2025-12-01")),
        source: "MHLW: paper cards no longer issued from 2024-12-02; existing cards valid up to one year (seeds 000, 003)")

    public static let elderlyPhase1 = DatedMeasure(
        id: "elderly-phase-1", title: "Elderly: new members and members without a valid card get a certificate",
        from: d("2024-12-02"), to: d("2025-07-31"), effect: .elderlyNewOrUncarded(since: d("2024-12-02")),
        source: "seed 000 (Certificate of Eligibility without application)")

    public static let elderlyPhase2 = DatedMeasure(
        id: "elderly-phase-2", title: "Elderly: every member gets a certificate regardless of Myna",
        from: d("2025-08-01"), to: d("2026-07-31"), effect: .elderlyAll,
        source: "MHLW notice of 2025-04-03 (後期高齢者の資格確認書の暫定的な運用)")

    public static let elderlyPhase3 = DatedMeasure(
        id: "elderly-phase-3",
        title: "Elderly who attained 85 on 2026-08-01 (born on or before 1941-08-02) get a certificate regardless of Myna",
        from: d("2026-08-01"), to: nil, effect: .elderlyAgedOption(minimumAge: 85, ageOn: d("2026-08-01")),
        source:
            "埼玉県後期高齢者医療広域連合「令和8年8月から資格確認書の交付要件が変わります」; national policy change announced 2025-12 (SPEC.md 2.4, 6); no end announced; insurer parameter elderly_85_continuation, on by default"
    )

    public static let elderlyUsageTest = DatedMeasure(
        id: "elderly-usage-test", title: "Elderly aged 84 or under whose Myna card is usable but little used get a certificate",
        from: d("2026-08-01"), to: nil, effect: .elderlyUsageTest(maximumAge: 84, ageOn: d("2026-08-01")),
        source:
            "三種町 2026-03-06 (資格確認書の交付: マイナ保険証の利用実績のない方); MHLW 社会保障審議会医療保険部会 第208回 (2025-12-18) 資料2 「利用実績を踏まえ」 (SPEC.md 2.4); insurer parameters elderly_usage_test (on by default), elderly_min_uses_12m, elderly_min_uses_3m"
    )

    public static let elderlyApplicationWithoutBasis = DatedMeasure(
        id: "elderly-application-without-basis",
        title: "Elderly: any member may ask for a certificate; a special-consideration application needs no basis",
        from: d("2026-08-01"), to: nil, effect: .elderlyApplicationNeedsNoBasis,
        source: "埼玉県後期高齢者医療広域連合「令和8年8月から資格確認書の交付要件が変わります」 (SPEC.md 2.2)")

    public static let ecertGrace = DatedMeasure(
        id: "ecert-grace", title: "Myna card usable until the end of the grace months after e-cert/card expiry",
        from: nil, to: nil, effect: .ecertGrace,
        source: "協会けんぽ; いわき市 (e-certificate expiry grace period)")

    public static let all: [DatedMeasure] = [
        legacyCardsEnd, elderlyPhase1, elderlyPhase2, elderlyPhase3, elderlyUsageTest,
        elderlyApplicationWithoutBasis, ecertGrace,
    ]

    /// The measures that grant elderly members a certificate regardless of Myna.
    public static let elderly: [DatedMeasure] = all.filter {
        switch $0.effect {
        case .elderlyNewOrUncarded, .elderlyAll, .elderlyAgedOption, .elderlyUsageTest: return true
        default: return false
        }
    }

    /// Does an elderly member's special-consideration application need no basis for a
    /// certificate whose period starts on `d`?
    public static func elderlyApplicationNeedsNoBasis(periodStartingOn d: LocalDate) -> Bool {
        all.contains { $0.effect == .elderlyApplicationNeedsNoBasis && $0.inForce(on: d) }
    }

    /// The date after which no legacy card is valid.
    public static let legacyCardsEndDate: LocalDate = {
        if case .legacyCardsEnd(let d) = legacyCardsEnd.effect { return d }
        fatalError("legacy-cards-end measure has no date")
    }()
}
