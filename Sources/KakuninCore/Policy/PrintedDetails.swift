/// What a member's record holds for the printed fields of a certificate or an eligibility
/// notice beyond the identity fields (SPEC.md 5.1 [2026-12]): the copay and the optional
/// entries (任意記載事項) of members.csv (SPEC.md 4). nil: the member has none.
public struct PrintedMember: Sendable, Equatable {
    public var scheme: Scheme
    public var birthDate: LocalDate
    public var copayRatio: Int?
    public var copayEffectiveOn: LocalDate?
    /// The nhi household is under the 特別療養費 measure.
    public var specialCare = false
    public var limitCategory: String?
    public var limitEffectiveOn: LocalDate?
    public var longStayOn: LocalDate?
    public var specificDisease: String?

    public init(
        scheme: Scheme, birthDate: LocalDate, copayRatio: Int? = nil, copayEffectiveOn: LocalDate? = nil,
        specialCare: Bool = false, limitCategory: String? = nil, limitEffectiveOn: LocalDate? = nil,
        longStayOn: LocalDate? = nil, specificDisease: String? = nil
    ) {
        self.scheme = scheme
        self.birthDate = birthDate
        self.copayRatio = copayRatio
        self.copayEffectiveOn = copayEffectiveOn
        self.specialCare = specialCare
        self.limitCategory = limitCategory
        self.limitEffectiveOn = limitEffectiveOn
        self.longStayOn = longStayOn
        self.specificDisease = specificDisease
    }
}

/// What is printed for a member on one document (SPEC.md 5.1): the one home of that rule, used
/// by the vendor files, the counter's print view and the console's member page.
///
/// - The copay: nhi members who have attained 70 and every elderly member get the ratio
///   (`copay_ratio` / 10 割) with its 発効期日 (`copay_effective_on`, else the document's first
///   day); nhi members under 70 get 「法定負担割合のとおり」; employee members nothing. The age is
///   taken on the day a certificate is issued, and for a notice on the later of the day it is
///   sent and its first day (a notice with a period is for an nhi member aged 70–74).
/// - The 特別療養 variant: a member of a `special_care` household who is 18 or older on S (the
///   document's first day); the titles say so.
/// - The optional entries, on certificates: 限度区分 with its 発効期日, 長期入院該当日,
///   特定疾病区分; each one the member does not have is 「＊」.
public struct PrintedDetails: Sendable, Equatable {
    public enum Document: Sendable { case certificate, eligibilityNotice }

    public enum Variant: String, Sendable, CaseIterable {
        case standard
        /// 特別療養: the household is under the 特別療養費 measure.
        case specialCare = "special_care"
    }

    /// Printed for an entry the member does not have.
    public static let none = "＊"
    /// The copay line of an nhi member under 70.
    public static let statutoryCopay = "法定負担割合のとおり"

    public let variant: Variant
    /// 「資格確認書」, 「資格情報のお知らせ」, or their （特別療養） forms.
    public let title: String
    /// The copay line: 「3割」, 「法定負担割合のとおり」, or nil (not printed: employee members, or
    /// no ratio on record).
    public let copayText: String?
    /// The ratio in tenths (10/20/30) when the ratio itself is printed, else nil.
    public let copayRatio: Int?
    /// The ratio's 発効期日, when the ratio is printed and a date is known.
    public let copayEffectiveOn: LocalDate?
    /// The optional entries (certificates only; nil on notices).
    public let entries: Entries?

    public struct Entries: Sendable, Equatable {
        /// 限度区分 as the insurer prints it, or 「＊」.
        public let limitCategory: String
        public let limitEffectiveOn: LocalDate?
        public let longStayOn: LocalDate?
        /// A, B, C, or 「＊」.
        public let specificDisease: String
    }

    /// `validFrom`: the document's first day (S), nil for a notice without a period (then the
    /// day it is sent counts). `issuedOn`: the day it is issued or sent.
    public init(_ m: PrintedMember, _ document: Document, validFrom: LocalDate?, issuedOn: LocalDate) {
        let start = validFrom ?? issuedOn
        variant = m.specialCare && JapaneseAge.age(on: start, bornOn: m.birthDate) >= 18 ? .specialCare : .standard
        title = Self.titles[document == .certificate ? 0 : 1][variant == .specialCare ? 1 : 0]
        // A notice with a period is one for an nhi member who has attained 70 by its first day.
        let ageOn = document == .eligibilityNotice ? max(issuedOn, validFrom ?? issuedOn) : issuedOn
        if Self.printsRatio(m.scheme, birth: m.birthDate, on: ageOn) {
            copayRatio = m.copayRatio
            copayText = m.copayRatio.map(Self.ratioText)
            copayEffectiveOn = m.copayRatio == nil ? nil : m.copayEffectiveOn ?? validFrom
        } else {
            copayRatio = nil
            copayText = m.scheme == .nhi ? Self.statutoryCopay : nil
            copayEffectiveOn = nil
        }
        entries =
            document == .certificate
            ? Entries(
                limitCategory: m.limitCategory ?? Self.none, limitEffectiveOn: m.limitCategory == nil ? nil : m.limitEffectiveOn,
                longStayOn: m.longStayOn, specificDisease: m.specificDisease ?? Self.none)
            : nil
    }

    /// Certificate and notice titles, standard and 特別療養 (literals: nothing is built per member).
    static let titles = [["資格確認書", "資格確認書（特別療養）"], ["資格情報のお知らせ", "資格情報のお知らせ（特別療養）"]]

    /// 「1割」 for 10 and so on.
    static func ratioText(_ ratio: Int) -> String {
        switch ratio {
        case 10: return "1割"
        case 20: return "2割"
        case 30: return "3割"
        default: return "\(ratio / 10)割"
        }
    }

    /// Whether the ratio itself is printed (SPEC.md 5.1): every elderly member, and nhi members
    /// who have attained 70 on `date`.
    public static func printsRatio(_ scheme: Scheme, birth: LocalDate, on date: LocalDate) -> Bool {
        scheme == .elderly || (scheme == .nhi && JapaneseAge.age(on: date, bornOn: birth) >= 70)
    }

    /// The printed lines after the identity fields: 一部負担金の割合 (when printed), 限度区分,
    /// 長期入院該当日, 特定疾病区分 (certificates).
    public var lines: [(label: String, text: String)] {
        Self.lines(
            copay: copayText, copayEffectiveOn: copayEffectiveOn.map { Self.printed($0) }, limit: entries?.limitCategory,
            limitEffectiveOn: entries.map { Self.printed($0.limitEffectiveOn) }, longStayOn: entries.map { Self.printed($0.longStayOn) },
            specificDisease: entries?.specificDisease)
    }

    /// The same lines from their printed texts (a certificate as issued keeps them as text).
    public static func lines(
        copay: String?, copayEffectiveOn: String?, limit: String?, limitEffectiveOn: String?, longStayOn: String?,
        specificDisease: String?
    ) -> [(label: String, text: String)] {
        var rows: [(label: String, text: String)] = []
        if let copay { rows.append(("一部負担金の割合", copayEffectiveOn.map { "\(copay)（発効期日 \($0)）" } ?? copay)) }
        guard let limit, let limitEffectiveOn, let longStayOn, let specificDisease else { return rows }
        rows.append(("限度区分", limitEffectiveOn == none ? limit : "\(limit)（発効期日 \(limitEffectiveOn)）"))
        rows.append(("長期入院該当日", longStayOn))
        rows.append(("特定疾病区分", specificDisease))
        return rows
    }

    /// A date as printed: era form, or 「＊」 when there is none.
    public static func printed(_ date: LocalDate?) -> String {
        date.map { JapaneseEra.format($0) ?? $0.description } ?? none
    }
}
