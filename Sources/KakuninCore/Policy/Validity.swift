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
    /// [2026-12] nhi, attained 70 by valid_from: the first renewal day, no extension.
    case nhi70to74 =
        "first renewal day: an nhi member aged 70–74 has the copay re-decided every 08-01, no min_validity_days extension (SPEC.md 3 [2026-12]; 呉市, 柴田町, 枚方市)"
    /// [2026-12] employee_validity = fixed:D: the insurer's common end date.
    case employeeFixed = "common end date of employee_validity = fixed (SPEC.md 2.6, 3 [2026-12])"
    /// [2026-12] employee_validity = year_end.
    case employeeYearEnd = "31 December of employee_validity = year_end (SPEC.md 2.6, 3 [2026-12])"
    /// [2026-12] residence_cap = day_after.
    case residenceDayAfter = "day after the residence period ends, residence_cap = day_after (SPEC.md 2.6, 3 [2026-12]; Tokyo wards)"
    /// A later certificate of the member is already active: the day before it starts.
    case nextCertificate = "day before the member's next certificate starts"
}

public enum Validity {
    /// valid_to for a certificate starting on `from`, and the cap that set it.
    /// `shortTerm` for APP_CARD_LOST / APP_CARD_RENEWING.
    @inline(__always)
    public static func validTo(
        from: LocalDate, facts f: MemberFacts, parameters p: InsurerParameters,
        shortTerm: Bool
    ) -> (LocalDate, ValidityCap) {
        var (best, cap) = schemeEndAndCap(from: from, scheme: f.scheme, parameters: p)
        func consider(_ d: LocalDate, _ c: ValidityCap) {
            if d < best {
                best = d
                cap = c
            }
        }
        consider(from.adding(years: 5).adding(days: -1), .legalMaximum)
        if f.scheme == .nhi {
            let seventy = JapaneseAge.attains(70, bornOn: f.birthDate)
            if seventy >= from { consider(seventy.endOfMonth, .turning70) }
            // Attained 70 by valid_from: the copay is re-decided every 08-01, so the document
            // ends by the first renewal day, never extended by min_validity_days or
            // validity_years (SPEC.md 3 [2026-12]).
            if seventy <= from { consider(firstRenewalDay(onOrAfter: from, parameters: p), .nhi70to74) }
        }
        // At 75 an nhi or employee member moves to the elderly scheme: never valid on or after
        // the 75th birthday, whatever valid_from (the policy decides none from that day on).
        if f.scheme.leavesAt75 { consider(JapaneseAge.attains(75, bornOn: f.birthDate), .turning75) }
        if let r = f.residenceExpiry {
            switch p.residenceCap {
            case .expiry: consider(r, .residenceExpiry)
            case .dayAfter: consider(r.adding(days: 1), .residenceDayAfter)
            }
        }
        if let d = f.disqualifiedOn { consider(d.adding(days: -1), .disqualification) }
        if shortTerm { consider(from.adding(months: p.shortTermMonths).adding(days: -1), .shortTerm) }
        // A later certificate is already active (issued before the one before it was voided):
        // this one fills the gap up to the day before it starts, never overlapping it.
        if let next = f.latestCertificate, next.active, next.validFrom > from {
            consider(next.validFrom.adding(days: -1), .nextCertificate)
        }
        return (best, cap)
    }

    /// nhi/elderly: the first renewal day on or after `from`, a year later when fewer than
    /// min_validity_days away, then validity_years − 1 more years. employee: per
    /// employee_validity (SPEC.md 2.6, 3): `rolling` from + validity_years − 1 day, `fixed:D`
    /// the date D (a date before `from`, possible once the common date has passed and no
    /// version with the next one is in force, falls back to `rolling` rather than a
    /// certificate that ends before it starts), `year_end` 31 December of the year
    /// from + validity_years − 1.
    public static func schemeEnd(from: LocalDate, scheme: Scheme, parameters p: InsurerParameters) -> LocalDate {
        schemeEndAndCap(from: from, scheme: scheme, parameters: p).0
    }

    static func schemeEndAndCap(from: LocalDate, scheme: Scheme, parameters p: InsurerParameters) -> (LocalDate, ValidityCap) {
        switch scheme {
        case .employee:
            let rolling = from.adding(years: p.validityYearsEmployee).adding(days: -1)
            switch p.employeeValidity {
            case .rolling: return (rolling, .schemeEnd)
            case .fixed(let d): return d >= from ? (d, .employeeFixed) : (rolling, .schemeEnd)
            case .yearEnd: return (LocalDate(year: from.year + p.validityYearsEmployee - 1, month: 12, day: 31)!, .employeeYearEnd)
            }
        case .nhi, .elderly:
            var end = firstRenewalDay(onOrAfter: from, parameters: p)
            if from.days(until: end) < p.minValidityDays { end = end.adding(years: 1) }
            return (end.adding(years: p.validityYears(scheme) - 1), .schemeEnd)
        }
    }

    /// The first renewal_day on or after `from`.
    public static func firstRenewalDay(onOrAfter from: LocalDate, parameters p: InsurerParameters) -> LocalDate {
        let end = LocalDate(year: from.year, month: p.renewalMonth, day: p.renewalDay)!
        return end >= from ? end : LocalDate(year: from.year + 1, month: p.renewalMonth, day: p.renewalDay)!
    }
}
