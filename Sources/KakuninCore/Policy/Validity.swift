/// Certificate validity (SPEC.md 3): valid_from = S, valid_to = the earliest of the caps that
/// apply. Each cap is named so explanations can say which one set the date.
public enum ValidityCap: String, Sendable, CaseIterable {
    case schemeEnd = "scheme end"
    case legalMaximum = "legal maximum of 5 years"
    case turning70 = "turning 70 (nhi)"
    case turning75 = "turning 75: moves to the elderly scheme (nhi, employee)"
    case residenceExpiry = "residence period ends"
    case disqualification = "day before disqualification"
    case shortTerm = "short-term certificate"
}

public enum Validity {
    /// valid_to for a certificate starting on `from`, and the cap that set it.
    /// `shortTerm` for APP_CARD_LOST / APP_CARD_RENEWING.
    @inline(__always)
    public static func validTo(from: LocalDate, facts f: MemberFacts, parameters p: InsurerParameters,
                               shortTerm: Bool) -> (LocalDate, ValidityCap) {
        var best = schemeEnd(from: from, scheme: f.scheme, parameters: p)
        var cap = ValidityCap.schemeEnd
        func consider(_ d: LocalDate, _ c: ValidityCap) { if d < best { best = d; cap = c } }
        consider(from.adding(years: 5).adding(days: -1), .legalMaximum)
        if f.scheme == .nhi {
            let seventy = JapaneseAge.attains(70, bornOn: f.birthDate)
            if seventy >= from { consider(seventy.endOfMonth, .turning70) }
        }
        // At 75 an nhi or employee member moves to the elderly scheme: never valid on or after
        // the 75th birthday, whatever valid_from (the policy decides none from that day on).
        if f.scheme.leavesAt75 { consider(JapaneseAge.attains(75, bornOn: f.birthDate), .turning75) }
        if let r = f.residenceExpiry { consider(r, .residenceExpiry) }
        if let d = f.disqualifiedOn { consider(d.adding(days: -1), .disqualification) }
        if shortTerm { consider(from.adding(months: p.shortTermMonths).adding(days: -1), .shortTerm) }
        return (best, cap)
    }

    /// nhi/elderly: the first renewal day on or after `from`, a year later when fewer than
    /// min_validity_days away, then validity_years − 1 more years. employee: from +
    /// validity_years − 1 day.
    public static func schemeEnd(from: LocalDate, scheme: Scheme, parameters p: InsurerParameters) -> LocalDate {
        switch scheme {
        case .employee:
            return from.adding(years: p.validityYearsEmployee).adding(days: -1)
        case .nhi, .elderly:
            var end = LocalDate(year: from.year, month: p.renewalMonth, day: p.renewalDay)!
            if end < from { end = LocalDate(year: from.year + 1, month: p.renewalMonth, day: p.renewalDay)! }
            if from.days(until: end) < p.minValidityDays { end = end.adding(years: 1) }
            return end.adding(years: p.validityYears(scheme) - 1)
        }
    }
}
