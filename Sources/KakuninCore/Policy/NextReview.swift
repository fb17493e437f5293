/// When a decision can next change with unchanged facts (issue 34): the earliest as-of date on
/// which the policy could give another outcome, reasons or dates. Every comparison `decide`
/// makes with the as-of date D, or with the mailing horizon D + issue_lead_days, contributes the
/// first D on which it can flip; the earliest one after D is the review date. A date may come
/// early (the member is decided again and found the same), never late: the property tests check
/// that deciding on any day before it gives the same decision.
extension Policy {
    /// nil: no date makes this decision change; only a change of the facts (or of the
    /// parameters, the code or the measures, which make a full run) does.
    public func nextReview(_ f: MemberFacts, asOf d: LocalDate, decision: Decision) -> LocalDate? {
        // Anything but `none` acts (a document, a notice) or waits for the next run (held):
        // the next run decides the member again.
        if decision.outcome != .none || decision.applicationID != nil || decision.recordsConsiderationOn != nil {
            return d.adding(days: 1)
        }
        guard let s = decision.s, s >= d else { return d.adding(days: 1) }
        var dates = asOfDates(f)
        dates += horizonDates(f, s: s).map { $0.adding(days: -parameters.issueLeadDays) }
        // S is the as-of date itself when no document covers it: it moves with D (the decision
        // kept moves with it, `Decision.carried`), and so do the rules that look at S.
        if s == d { dates += movingSDates(f, after: d) }
        return dates.filter { $0 > d }.min()
    }

    /// Comparisons with the as-of date D: the first D on which each can flip.
    private func asOfDates(_ f: MemberFacts) -> [LocalDate] {
        var dates: [LocalDate] = []
        // Rule 1: born after D.
        dates.append(f.birthDate)
        // S: the legacy card counts while min(printed, legacy end) ≥ D.
        if let printed = f.legacyCardExpiry { dates.append(min(printed, legacyEnd).adding(days: 1)) }
        // S: the active certificate covers D (valid_from ≤ D ≤ valid_to).
        if let c = f.latestCertificate {
            dates.append(c.validFrom)
            dates.append(c.validTo.adding(days: 1))
        }
        // S: an earlier certificate covers D until its end.
        if let end = f.coveringCertificateEnd { dates.append(end.adding(days: 1)) }
        // S = max(D, qualified_on) once no document covers D.
        dates.append(f.qualifiedOn.adding(days: 1))
        // Rule 2: disqualified on or before D.
        if let q = f.disqualifiedOn { dates.append(q) }
        // Rule 8: an application guidance notice within apply_notice_repeat_days of D.
        if let last = f.lastApplyNotice { dates.append(last.adding(days: parameters.applyNoticeRepeatDays)) }
        return dates
    }

    /// Dates compared with the mailing horizon D + issue_lead_days: the first horizon on which
    /// each comparison can flip (the D is issue_lead_days earlier).
    private func horizonDates(_ f: MemberFacts, s: LocalDate) -> [LocalDate] {
        // Rule 4: due once S ≤ the horizon. Rule 2: qualifies after the horizon (until it reaches it).
        var dates = [s, f.qualifiedOn]
        // Rules 7 and 9: the Myna card counts as lapsed once its grace end < the horizon.
        if let m = f.myna, let lapse = lapseDate(m) { dates.append(graceEnd(lapse).adding(days: 1)) }
        // Rule 7: an nhi member aged 70–74's notice valid until ≥ the horizon.
        if let prev = f.eligibilityNoticeValidTo { dates.append(prev.adding(days: 1)) }
        return dates
    }

    /// Dates the rules compare S with, while S = D moves: the first D on which each can flip.
    private func movingSDates(_ f: MemberFacts, after d: LocalDate) -> [LocalDate] {
        // Rule 2: S on or after the 75th birthday. Rule 7: attained 70 by the notice's first day.
        var dates = [75, 70].flatMap {
            [JapaneseAge.anniversary(of: f.birthDate, years: $0), JapaneseAge.attains($0, bornOn: f.birthDate)]
        }
        // Rules 3 and 5: the measures in force on S (the 08-01 elderly rules among them).
        for m in measures {
            if let from = m.from { dates.append(from) }
            if let to = m.to { dates.append(to.adding(days: 1)) }
        }
        // Rule 5, elderly_85_reference = renewal: the age is taken on the 08-01 that starts S's period.
        dates.append(Validity.firstRenewalDay(onOrAfter: d, parameters: parameters).adding(days: 1))
        // Rule 7: S passing the current notice's validity end.
        if let prev = f.eligibilityNoticeValidTo { dates.append(prev.adding(days: 1)) }
        return dates
    }
}

extension Decision {
    /// The decision kept by the run of `decidedOn`, as in force on the later as-of date `d` (it
    /// was carried forward: `Policy.nextReview` is after `d`). Only S can differ: when S was the
    /// as-of date itself (no document covered it), it is `d` now.
    public func carried(decidedOn: LocalDate, to d: LocalDate) -> Decision {
        guard s == decidedOn else { return self }
        var moved = self
        moved.s = d
        return moved
    }
}
