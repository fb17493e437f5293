/// The policy of SPEC.md sections 2 and 3: given what the insurer knows about a member on an
/// as-of date, decide what to send, why, and for which dates. Pure and deterministic.
public struct Policy: Sendable {
    public let parameters: InsurerParameters
    public let measures: [DatedMeasure]
    private let elderlyMeasures: [DatedMeasure]
    /// The date after which no legacy card counts (measure legacy-cards-end).
    let legacyEnd: LocalDate

    public init(parameters: InsurerParameters, measures: [DatedMeasure] = NationalMeasures.all) {
        self.parameters = parameters
        self.measures = measures
        elderlyMeasures = measures.filter { m in NationalMeasures.elderly.contains { $0.id == m.id } }
        legacyEnd =
            measures.lazy.compactMap { m -> LocalDate? in
                if case .legacyCardsEnd(let d) = m.effect { return d }
                return nil
            }.first ?? NationalMeasures.legacyCardsEndDate
    }

    /// The decision, without a trace (the batch path: allocates nothing).
    @inline(__always)
    public func decide(_ f: MemberFacts, asOf d: LocalDate) -> Decision {
        var t = SilentTracer()
        return decide(f, asOf: d, tracer: &t)
    }

    /// The decision and the steps that led to it, in plain words.
    public func explain(_ f: MemberFacts, asOf d: LocalDate) -> (Decision, [String]) {
        var t = RecordingTracer()
        let decision = decide(f, asOf: d, tracer: &t)
        return (decision, t.steps)
    }

    /// The decision and its steps in English and Japanese (the console shows the Japanese).
    public func trace(_ f: MemberFacts, asOf d: LocalDate) -> (Decision, [TraceStep]) {
        var t = RecordingTracer()
        let decision = decide(f, asOf: d, tracer: &t)
        return (decision, t.trace)
    }

    /// SPEC.md 2.5 "Printed details change" [2026-12]: the active certificate, not yet due for
    /// its ordinary renewal, prints a detail the record no longer has → a replacement (renew,
    /// PRINTED_DETAILS_CHANGED) from max(D, its valid_from) to its valid_to; the old one is voided.
    private func printedDetailsChanged<T: PolicyTracer>(
        _ c: CertificateFacts, field: PrintedSnapshot.Field, _ f: MemberFacts,
        asOf d: LocalDate, s: LocalDate, tracer t: inout T
    ) -> Decision {
        let from = max(d, c.validFrom)
        t.note(
            "Rule \(PolicyRule.notDue.rawValue): S = \(s) is after the mailing horizon, but a printed field of certificate \(c.number) no longer matches the member's record (\(field.rawValue)) → a replacement \(from) … \(c.validTo), the same end; certificate \(c.number) is voided (SPEC.md 2.5 printed details change [2026-12]; 廿日市市, 埼玉 2025).",
            ja:
                "規則 \(PolicyRule.notDue.japanese)：書類のない最初の日 \(s) は郵送の準備期間より後ですが、資格確認書 \(c.number) の記載事項が加入者の記録と合わなくなりました（\(ident(field.rawValue))）→ 同じ終了日で \(from)〜\(c.validTo) の資格確認書を作り直し、資格確認書 \(c.number) は無効になります（記載事項の変更、廿日市市・埼玉 2025）。"
        )
        var decision = Decision(outcome: .renew, reasons: ReasonSet([.PRINTED_DETAILS_CHANGED]), rule: .notDue, s: s)
        decision.validFrom = from
        decision.validTo = c.validTo
        decision.replacesCertificate = c.number
        decision.specialConsideration = c.specialConsiderationContinues
        return mail(decision, f, tracer: &t)
    }

    /// The end of the e-certificate grace period for an expiry date (SPEC.md 2.4).
    public func graceEnd(_ expiry: LocalDate) -> LocalDate {
        LocalDate(year: expiry.year, month: expiry.month, day: 1)!.adding(months: parameters.ecertGraceMonths).endOfMonth
    }

    public func decide<T: PolicyTracer>(_ f: MemberFacts, asOf d: LocalDate, tracer t: inout T) -> Decision {
        let p = parameters
        let horizon = d.adding(days: p.issueLeadDays)
        t.note(
            "As-of date \(d); issue_lead_days = \(p.issueLeadDays), so anything needed by \(horizon) is due now.",
            ja: "基準日 \(d)。\(ident("issue_lead_days = \(p.issueLeadDays)")) のため、\(horizon) までに必要なものは今回の対象です。")

        // 1. Not born yet.
        if f.birthDate > d {
            t.note(
                "Rule \(PolicyRule.birthAfterAsOf.rawValue): born \(f.birthDate), after the as-of date → held.",
                ja: "規則 \(PolicyRule.birthAfterAsOf.japanese)：生年月日 \(f.birthDate) が基準日より後 → 保留。")
            return Decision(outcome: .held, reasons: ReasonSet([.BIRTH_AFTER_AS_OF]), rule: .birthAfterAsOf)
        }

        // S: the first day the member lacks a paper document.
        let active: CertificateFacts? = f.latestCertificate.flatMap { $0.active && $0.validTo >= d ? $0 : nil }
        var s: LocalDate
        if let printed = f.legacyCardExpiry, min(printed, legacyEnd) >= d {
            let effective = min(printed, legacyEnd)
            s = effective.adding(days: 1)
            t.note(
                "Legacy card valid until \(effective) (printed \(printed); legacy cards end \(legacyEnd) at the latest, measure legacy-cards-end), so S = \(s).",
                ja: "従来の保険証が \(effective) まで有効（記載は \(printed)。従来の保険証は遅くとも \(legacyEnd) まで、\(ident("legacy-cards-end"))）のため、書類のない最初の日は \(s)。"
            )
        } else if let c = active, c.validFrom <= d {
            s = c.validTo.adding(days: 1)
            t.note(
                "Certificate \(c.number) covers the as-of date until \(c.validTo), so S = \(s).",
                ja: "資格確認書 \(c.number) が基準日を \(c.validTo) まで有効にしているため、書類のない最初の日は \(s)。")
        } else if let end = f.coveringCertificateEnd, end >= d {
            s = end.adding(days: 1)
            t.note(
                "An earlier certificate covers the as-of date until \(end), so S = \(s).",
                ja: "以前の資格確認書が基準日を \(end) まで有効にしているため、書類のない最初の日は \(s)。")
        } else {
            s = max(d, f.qualifiedOn)
            t.note(
                "No paper document covers the as-of date, so S = \(s) (the later of the as-of date and qualified_on \(f.qualifiedOn)).",
                ja: "基準日に有効な書類がないため、書類のない最初の日は \(s)（基準日と資格取得日 \(f.qualifiedOn) の遅い方）。")
        }
        if let end = f.coveringCertificateEnd, end >= s {
            s = end.adding(days: 1)
            t.note(
                "Another active certificate runs until \(end), so S = \(s).",
                ja: "別の有効な資格確認書が \(end) まで有効にしているため、書類のない最初の日は \(s)。")
        }
        if let c = active, c.validFrom <= s, s <= c.validTo {
            s = c.validTo.adding(days: 1)
            t.note(
                "Certificate \(c.number) (\(c.validFrom) … \(c.validTo)) already covers that day, so S = \(s).",
                ja: "資格確認書 \(c.number)（\(c.validFrom)〜\(c.validTo)）がその日も有効にしているため、書類のない最初の日は \(s)。")
        }

        // 2. Not a member.
        if let q = f.disqualifiedOn, q <= d || s >= q {
            t.note(
                "Rule \(PolicyRule.notQualified.rawValue): disqualified on \(q) → none.",
                ja: "規則 \(PolicyRule.notQualified.japanese)：\(q) に資格喪失 → 送付なし。")
            return Decision(outcome: .none, reasons: ReasonSet([.NOT_QUALIFIED]), rule: .notQualified, s: s)
        }
        if f.qualifiedOn > horizon {
            t.note(
                "Rule \(PolicyRule.notQualified.rawValue): qualifies on \(f.qualifiedOn), after \(horizon) → none.",
                ja: "規則 \(PolicyRule.notQualified.japanese)：資格取得日 \(f.qualifiedOn) が \(horizon) より後 → 送付なし。")
            return Decision(outcome: .none, reasons: ReasonSet([.NOT_QUALIFIED]), rule: .notQualified, s: s)
        }
        if f.scheme.leavesAt75 {
            let birthday75 = JapaneseAge.anniversary(of: f.birthDate, years: 75)
            if s >= birthday75 {
                t.note(
                    "Rule \(PolicyRule.notQualified.rawValue): S = \(s) is on or after the 75th birthday \(birthday75): from that day the member belongs to the elderly scheme of another insurer → none (SPEC.md 2.5 rule 2), even before the extract records the disqualification.",
                    ja:
                        "規則 \(PolicyRule.notQualified.japanese)：書類のない最初の日 \(s) が75歳の誕生日 \(birthday75) 以後：その日から後期高齢者医療（別の保険者）の加入者になります → 送付なし。資格喪失がまだ記録されていなくても同じです。"
                )
                return Decision(outcome: .none, reasons: ReasonSet([.MOVES_TO_ELDERLY]), rule: .notQualified, s: s)
            }
        }

        let due = s <= horizon
        let mynaUsable = usable(f, horizon: horizon, tracer: &t)

        // 3. An approved application not yet fulfilled.
        if let app = f.application {
            switch app.kind {
            case .specialConsideration:
                // SPEC.md 2.2 [2026-12]: an elderly member's application without a basis (accepted
                // by the import or the counter under elderly_apply_without_basis) serves only a
                // certificate period starting on or after 2026-08-01; before, it stays open.
                if !app.hasBasis && !measures.contains(where: { $0.effect == .elderlyApplicationNeedsNoBasis && $0.inForce(on: s) }) {
                    t.note(
                        "Rule \(PolicyRule.application.rawValue): special-consideration application \(app.id) received \(app.receivedOn) has no basis; an elderly member needs none only for a certificate period starting on or after \(NationalMeasures.elderlyApplicationWithoutBasis.from!) (measure \(NationalMeasures.elderlyApplicationWithoutBasis.id)), and S = \(s): it stays open and the other rules apply.",
                        ja:
                            "規則 \(PolicyRule.application.japanese)：配慮が必要な方の申請 \(app.id)（\(app.receivedOn) 受付）に申請理由がありません。後期高齢者で理由が不要なのは \(NationalMeasures.elderlyApplicationWithoutBasis.from!) 以後に始まる期間だけです（\(ident(NationalMeasures.elderlyApplicationWithoutBasis.id))）。書類のない最初の日は \(s) のため、申請は未処理のまま残し、ほかの規則で判定します。"
                    )
                    break
                }
                if let c = active, !due {
                    t.note(
                        "Rule \(PolicyRule.application.rawValue): special-consideration application \(app.id) received \(app.receivedOn); the member holds certificate \(c.number) until \(c.validTo), so the basis is recorded on it and its renewals continue. No second certificate.",
                        ja:
                            "規則 \(PolicyRule.application.japanese)：配慮が必要な方の申請 \(app.id)（\(app.receivedOn) 受付）。加入者は \(c.validTo) まで有効な資格確認書 \(c.number) を持っているため、配慮の理由をその資格確認書に記録し、更新を続けます。2枚目は交付しません。"
                    )
                    var decision = Decision(outcome: .none, reasons: ReasonSet([.APP_SPECIAL_CONSIDERATION]), rule: .application, s: s)
                    decision.applicationID = app.id
                    decision.recordsConsiderationOn = c.number
                    decision.specialConsideration = true
                    return decision
                }
                t.note(
                    "Rule \(PolicyRule.application.rawValue): special-consideration application \(app.id) received \(app.receivedOn) → issued on application, even if the Myna card works (seeds 000, 003).",
                    ja:
                        "規則 \(PolicyRule.application.japanese)：配慮が必要な方の申請 \(app.id)（\(app.receivedOn) 受付）→ マイナ保険証が使えても申請により交付します（事例 000、003）。"
                )
                var decision = certificate(
                    .issueOnApplication, [.APP_SPECIAL_CONSIDERATION], .application, from: s, f, shortTerm: false, tracer: &t)
                decision.applicationID = app.id
                decision.specialConsideration = true
                return mail(decision, f, tracer: &t)
            case .cardLost, .cardRenewing:
                let code: ReasonCode = app.kind == .cardLost ? .APP_CARD_LOST : .APP_CARD_RENEWING
                t.note(
                    "Rule \(PolicyRule.application.rawValue): \(app.kind.rawValue) application \(app.id) received \(app.receivedOn) → short-term certificate (short_term_months = \(p.shortTermMonths)).",
                    ja:
                        "規則 \(PolicyRule.application.japanese)：\(StaffLabel.of(ApplicationKind.self, app.kind.rawValue))の申請 \(app.id)（\(app.receivedOn) 受付）→ 短期の資格確認書（\(ident("short_term_months = \(p.shortTermMonths)"))）。"
                )
                var decision = certificate(.issueOnApplication, [code], .application, from: s, f, shortTerm: true, tracer: &t)
                decision.applicationID = app.id
                return mail(decision, f, tracer: &t)
            case .reissue:
                if let c = active {
                    t.note(
                        "Rule \(PolicyRule.application.rawValue): reissue application \(app.id) → a new certificate with the same validity \(c.validFrom) … \(c.validTo); certificate \(c.number) is voided.",
                        ja:
                            "規則 \(PolicyRule.application.japanese)：再交付の申請 \(app.id) → 同じ有効期間 \(c.validFrom)〜\(c.validTo) の資格確認書を新しく作り、資格確認書 \(c.number) は無効になります。"
                    )
                    var decision = Decision(outcome: .issueOnApplication, reasons: ReasonSet([.APP_REISSUE]), rule: .application, s: s)
                    decision.validFrom = c.validFrom
                    decision.validTo = c.validTo
                    decision.applicationID = app.id
                    decision.replacesCertificate = c.number
                    decision.specialConsideration = c.specialConsiderationContinues
                    return mail(decision, f, tracer: &t)
                }
                t.note(
                    "Reissue application \(app.id) is on file, but the member holds no active certificate to replace; it stays open and the other rules apply.",
                    ja: "再交付の申請 \(app.id) がありますが、置き換える有効な資格確認書がありません。申請は未処理のまま残し、ほかの規則で判定します。")
            }
        }

        // 4. Not due.
        if !due, let c = active, let field = c.printedChange {
            return printedDetailsChanged(c, field: field, f, asOf: d, s: s, tracer: &t)
        }
        if !due {
            t.note(
                "Rule \(PolicyRule.notDue.rawValue): S = \(s) is after \(horizon) → none (covered).",
                ja: "規則 \(PolicyRule.notDue.japanese)：書類のない最初の日 \(s) が \(horizon) より後 → 送付なし（有効な書類あり）。")
            return Decision(outcome: .none, reasons: ReasonSet([.COVERED]), rule: .notDue, s: s)
        }
        t.note("S = \(s) is on or before \(horizon): the member is due.", ja: "書類のない最初の日 \(s) が \(horizon) 以前のため、今回の対象です。")
        let renewOrIssue: Outcome = active != nil ? .renew : .issue

        // 5. Elderly measures in force on S.
        if f.scheme == .elderly {
            for m in elderlyMeasures where m.inForce(on: s) {
                if let code = elderlyMeasureCode(m, f, s: s, mynaUsable: mynaUsable, horizon: horizon, tracer: &t) {
                    t.note(
                        "Rule \(PolicyRule.elderlyMeasure.rawValue): measure \(m.id) (\(m.period)) is in force on \(s): \(m.title). Source: \(m.source).",
                        ja: "規則 \(PolicyRule.elderlyMeasure.japanese)：\(m.japaneseReference) が \(s) に施行中です。")
                    var decision = certificate(renewOrIssue, [code], .elderlyMeasure, from: s, f, shortTerm: false, tracer: &t)
                    // A special consideration staff have not ended goes on with the certificate,
                    // so its renewal continues it once no measure applies (rule 6).
                    if let c = f.latestCertificate, c.specialConsiderationContinues {
                        t.note(
                            "Certificate \(c.number) continues a special consideration: the new certificate keeps it.",
                            ja: "資格確認書 \(c.number) は配慮の継続中のため、新しい資格確認書にも引き継ぎます。")
                        decision.specialConsideration = true
                    }
                    return mail(decision, f, tracer: &t)
                }
            }
        }

        // 6. Special consideration continues.
        if let c = f.latestCertificate, c.specialConsiderationContinues {
            t.note(
                "Rule \(PolicyRule.specialConsideration.rawValue): certificate \(c.number) came from a special-consideration application and staff have not ended it → renewed without a new application (seed 000).",
                ja:
                    "規則 \(PolicyRule.specialConsideration.japanese)：資格確認書 \(c.number) は配慮が必要な方の申請により交付され、職員が終了していません → 新たな申請なしで更新します（事例 000）。"
            )
            var decision = certificate(
                .renew, [.SPECIAL_CONSIDERATION_CONTINUES], .specialConsideration, from: s, f, shortTerm: false, tracer: &t)
            decision.specialConsideration = true
            return mail(decision, f, tracer: &t)
        }

        // 7. Myna usable.
        if mynaUsable {
            if f.scheme == .nhi {
                // An nhi member who has attained 70 by the notice's first day: the notice carries
                // 有効期限 and the copay with its 発効期日, and lapses like a certificate (SPEC.md 3
                // [2026-12]). It starts on S, or after the current notice's 有効期限.
                var from = s
                if f.eligibilityNoticeSent, let prev = f.eligibilityNoticeValidTo, prev >= from { from = prev.adding(days: 1) }
                let seventy = JapaneseAge.attains(70, bornOn: f.birthDate)
                if seventy <= from {
                    if f.eligibilityNoticeSent, let prev = f.eligibilityNoticeValidTo, prev >= horizon {
                        t.note(
                            "Rule \(PolicyRule.mynaUsable.rawValue): the Myna card is usable; the member attained 70 on \(seventy) and the eligibility notice with the current details is valid until \(prev), after \(horizon) → none (SPEC.md 3 [2026-12]; 呉市, 柴田町, 枚方市, 大阪食品国保).",
                            ja:
                                "規則 \(PolicyRule.mynaUsable.japanese)：マイナ保険証が使えます。\(seventy) に70歳になり、今の記載事項の資格情報のお知らせは \(prev) まで有効で \(horizon) より後 → 送付なし（呉市・柴田町・枚方市・大阪食品国保）。"
                        )
                        return Decision(outcome: .none, reasons: ReasonSet([.MYNA_USABLE]), rule: .mynaUsable, s: s)
                    }
                    if from >= JapaneseAge.anniversary(of: f.birthDate, years: 75) {
                        t.note(
                            "Rule \(PolicyRule.mynaUsable.rawValue): the current eligibility notice is valid until \(from.adding(days: -1)), and from the 75th birthday the member belongs to the elderly scheme → none.",
                            ja:
                                "規則 \(PolicyRule.mynaUsable.japanese)：今の資格情報のお知らせは \(from.adding(days: -1)) まで有効で、75歳の誕生日から後期高齢者医療の加入者になります → 送付なし。"
                        )
                        return Decision(outcome: .none, reasons: ReasonSet([.MOVES_TO_ELDERLY]), rule: .notQualified, s: s)
                    }
                    if f.eligibilityNoticeSent, let prev = f.eligibilityNoticeValidTo {
                        t.note(
                            "Rule \(PolicyRule.mynaUsable.rawValue): the Myna card is usable; the eligibility notice with the current details is valid until \(prev), before \(horizon): a new one is due, like a renewal (SPEC.md 3 [2026-12]; 呉市, 柴田町, 枚方市, 大阪食品国保).",
                            ja:
                                "規則 \(PolicyRule.mynaUsable.japanese)：マイナ保険証が使えます。今の記載事項の資格情報のお知らせは \(prev) まで有効で \(horizon) より前のため、更新と同じく新しいお知らせが必要です（呉市・柴田町・枚方市・大阪食品国保）。"
                        )
                    } else if f.eligibilityNoticeSent {
                        t.note(
                            "Rule \(PolicyRule.mynaUsable.rawValue): the Myna card is usable; the member attained 70 on \(seventy) and no notice with the current details carries 有効期限 → eligibility notice with 有効期限, the copay ratio and its 発効期日 (SPEC.md 3 [2026-12]; 呉市, 柴田町, 枚方市, 大阪食品国保).",
                            ja:
                                "規則 \(PolicyRule.mynaUsable.japanese)：マイナ保険証が使えます。\(seventy) に70歳になり、今の記載事項で有効期限のあるお知らせがありません → 有効期限、負担割合とその発効期日を記載した資格情報のお知らせ（呉市・柴田町・枚方市・大阪食品国保）。"
                        )
                    } else {
                        t.note(
                            "Rule \(PolicyRule.mynaUsable.rawValue): the Myna card is usable; the member attained 70 on \(seventy) → eligibility notice (資格情報のお知らせ) with 有効期限, the copay ratio and its 発効期日 (SPEC.md 3 [2026-12]; 呉市, 柴田町, 枚方市, 大阪食品国保).",
                            ja:
                                "規則 \(PolicyRule.mynaUsable.japanese)：マイナ保険証が使えます。\(seventy) に70歳になりました → 有効期限、負担割合とその発効期日を記載した資格情報のお知らせ（呉市・柴田町・枚方市・大阪食品国保）。"
                        )
                    }
                    let decision = certificate(.eligibilityNotice, [.MYNA_USABLE], .mynaUsable, from: from, f, shortTerm: false, tracer: &t)
                    return mail(decision, f, tracer: &t)
                }
            }
            if f.eligibilityNoticeSent {
                t.note(
                    "Rule \(PolicyRule.mynaUsable.rawValue): the Myna card is usable and an eligibility notice with the current details was already sent → none.",
                    ja: "規則 \(PolicyRule.mynaUsable.japanese)：マイナ保険証が使え、今の記載事項の資格情報のお知らせは送付済み → 送付なし。")
                return Decision(outcome: .none, reasons: ReasonSet([.MYNA_USABLE]), rule: .mynaUsable, s: s)
            }
            t.note(
                "Rule \(PolicyRule.mynaUsable.rawValue): the Myna card is usable → eligibility notice (資格情報のお知らせ) with the current details.",
                ja: "規則 \(PolicyRule.mynaUsable.japanese)：マイナ保険証が使えます → 今の記載事項の資格情報のお知らせ。")
            return mail(Decision(outcome: .eligibilityNotice, reasons: ReasonSet([.MYNA_USABLE]), rule: .mynaUsable, s: s), f, tracer: &t)
        }

        // 8. Card suspended or renewing: the member must apply.
        if let m = f.myna, m.hasCard, m.cardState == .suspended || m.cardState == .renewing {
            let code: ReasonCode = m.cardState == .suspended ? .CARD_SUSPENDED : .CARD_RENEWING
            // [2026-12] On file: a pending or approved, unfulfilled application of any kind (an
            // approved one reaches this rule only when rule 3 could not act on it, e.g. a reissue
            // with no active certificate to replace).
            if f.applicationOnFile || f.application != nil {
                t.note(
                    "Rule \(PolicyRule.mustApply.rawValue): card \(m.cardState.rawValue), and an application is on file (pending, or approved and not yet fulfilled) → none, no guidance notice, until it is decided and fulfilled (SPEC.md 2.3).",
                    ja:
                        "規則 \(PolicyRule.mustApply.japanese)：カードは\(StaffLabel.of(CardState.self, m.cardState.rawValue))で、申請があります（審査中、または承認済みで未処理）→ 申請が決定・処理されるまで送付なし、申請勧奨通知もなし。"
                )
                return Decision(outcome: .none, reasons: ReasonSet([code, .APPLICATION_PENDING]), rule: .mustApply, s: s)
            }
            if let last = f.lastApplyNotice, last.days(until: d) < p.applyNoticeRepeatDays {
                t.note(
                    "Rule \(PolicyRule.mustApply.rawValue): card \(m.cardState.rawValue); an application guidance notice went out on \(last), within apply_notice_repeat_days = \(p.applyNoticeRepeatDays) → none.",
                    ja:
                        "規則 \(PolicyRule.mustApply.japanese)：カードは\(StaffLabel.of(CardState.self, m.cardState.rawValue))。申請勧奨通知を \(last) に送付済みで、\(ident("apply_notice_repeat_days = \(p.applyNoticeRepeatDays)")) の期間内 → 送付なし。"
                )
                return Decision(outcome: .none, reasons: ReasonSet([.APPLY_NOTICE_RECENT]), rule: .mustApply, s: s)
            }
            t.note(
                "Rule \(PolicyRule.mustApply.rawValue): card \(m.cardState.rawValue) and no application on file → application guidance notice.",
                ja: "規則 \(PolicyRule.mustApply.japanese)：カードは\(StaffLabel.of(CardState.self, m.cardState.rawValue))で、申請がありません → 申請勧奨通知。")
            return mail(Decision(outcome: .applyNotice, reasons: ReasonSet([code]), rule: .mustApply, s: s), f, tracer: &t)
        }

        // 9. Issued without application, with every code that applies.
        var codes = ReasonSet()
        if let m = f.myna {
            // A cancellation applies whether or not the member still has the card.
            if m.registration == .cancelRequested || m.registration == .cancelled { codes.insert(.REGISTRATION_CANCELLED) }
            if !m.hasCard {
                codes.insert(m.cardState == .returned ? .CARD_RETURNED : .NO_CARD)
            } else {
                if m.registration == .notRegistered || m.registration == nil { codes.insert(.NOT_REGISTERED) }
                if m.cardState == .returned { codes.insert(.CARD_RETURNED) }
                if let lapse = lapseDate(m), graceEnd(lapse) < horizon { codes.insert(.ECERT_EXPIRED) }
            }
        } else {
            codes.insert(.MYNA_STATUS_UNKNOWN)
        }
        if f.accessRestricted { codes.insert(.ACCESS_RESTRICTED) }
        t.note(
            "Rule \(PolicyRule.automatic.rawValue): the Myna card is not usable (\(codes.joined)) → certificate without application (職権交付).",
            ja:
                "規則 \(PolicyRule.automatic.japanese)：マイナ保険証が使えません（\(codes.sorted.map { ident($0.rawValue) }.joined(separator: "、"))）→ 申請によらない資格確認書（職権交付）。"
        )
        var decision = certificate(renewOrIssue, [], .automatic, from: s, f, shortTerm: false, tracer: &t)
        decision.reasons.formUnion(codes)
        return mail(decision, f, tracer: &t)
    }

    // MARK: - Pieces

    func lapseDate(_ m: MynaStatus) -> LocalDate? {
        switch (m.ecertExpiry, m.cardExpiry) {
        case (let e?, let c?): return min(e, c)
        case (let e?, nil): return e
        case (nil, let c?): return c
        default: return nil
        }
    }

    private func usable<T: PolicyTracer>(_ f: MemberFacts, horizon: LocalDate, tracer t: inout T) -> Bool {
        guard let m = f.myna else {
            t.note("No Myna status on record.", ja: "マイナ保険証の状況の記録がありません。")
            return false
        }
        guard m.hasCard, m.registration == .registered, m.cardState == .active, !f.accessRestricted else {
            t.note(
                "Myna card not usable: has_card \(m.hasCard), registration \(m.registration?.rawValue ?? "none"), state \(m.cardState.rawValue)\(f.accessRestricted ? ", access restricted" : "").",
                ja:
                    "マイナ保険証が使えません：カード\(m.hasCard ? "あり" : "なし")、\(m.registration.map { StaffLabel.of(MynaRegistration.self, $0.rawValue) } ?? "利用登録の記録なし")、カードの状態は\(StaffLabel.of(CardState.self, m.cardState.rawValue))\(f.accessRestricted ? "、情報の閲覧制限あり" : "")。"
            )
            return false
        }
        if let lapse = lapseDate(m) {
            let end = graceEnd(lapse)
            if end < horizon {
                t.note(
                    "The card's e-certificate/card expires \(lapse); with ecert_grace_months = \(parameters.ecertGraceMonths) it stays usable until \(end), before \(horizon): treated as lapsed (measure ecert-grace).",
                    ja:
                        "カードの電子証明書またはカードの有効期限は \(lapse)。\(ident("ecert_grace_months = \(parameters.ecertGraceMonths)")) により \(end) まで使えますが、\(horizon) より前のため、切れたものとして扱います（\(ident("ecert-grace"))）。"
                )
                return false
            }
            t.note(
                "Myna card registered and active; usable until \(end) (expiry \(lapse) + ecert_grace_months = \(parameters.ecertGraceMonths)).",
                ja: "マイナ保険証は利用登録があり有効です。\(end) まで使えます（有効期限 \(lapse) ＋ \(ident("ecert_grace_months = \(parameters.ecertGraceMonths)"))）。")
        } else {
            t.note("Myna card registered and active; no expiry on record.", ja: "マイナ保険証は利用登録があり有効です。有効期限の記録はありません。")
        }
        return true
    }

    /// The reason code an elderly measure gives the member's certificate, or nil when the
    /// measure does not apply to them.
    private func elderlyMeasureCode<T: PolicyTracer>(
        _ m: DatedMeasure, _ f: MemberFacts, s: LocalDate, mynaUsable: Bool,
        horizon: LocalDate, tracer t: inout T
    ) -> ReasonCode? {
        switch m.effect {
        case .elderlyAll: return .ELDERLY_TRANSITIONAL
        case .elderlyNewOrUncarded(let since):
            let cardValid = f.legacyCardExpiry.map { min($0, legacyEnd) >= s } ?? false
            return f.qualifiedOn >= since || !cardValid ? .ELDERLY_TRANSITIONAL : nil
        case .elderlyAgedOption(let age, let on):
            guard parameters.elderly85Continuation else { return nil }
            let reference = elderlyReferenceDate(s: s, fixed: on)
            let attained = JapaneseAge.age(on: reference, bornOn: f.birthDate)
            if attained >= age {
                t.note(
                    "Aged \(attained) on the reference date \(reference) (elderly_85_reference = \(parameters.elderly85Reference.rawValue)): \(age) or over.",
                    ja:
                        "基準となる日 \(reference) に \(attained) 歳（\(ident("elderly_85_reference = \(parameters.elderly85Reference.rawValue)"))）：\(age) 歳以上です。"
                )
                return .ELDERLY_TRANSITIONAL
            }
            return nil
        case .elderlyUsageTest(let maximumAge, let on):
            guard parameters.elderlyUsageTest, mynaUsable else { return nil }
            let reference = elderlyReferenceDate(s: s, fixed: on)
            let attained = JapaneseAge.age(on: reference, bornOn: f.birthDate)
            guard attained <= maximumAge else { return nil }
            if usedEnough(f.myna, tracer: &t) {
                t.note(
                    "Aged \(attained) on the reference date \(reference) (elderly_85_reference = \(parameters.elderly85Reference.rawValue)), Myna card usable and used enough: measure \(m.id) does not apply; the other rules decide.",
                    ja:
                        "基準となる日 \(reference) に \(attained) 歳（\(ident("elderly_85_reference = \(parameters.elderly85Reference.rawValue)"))）。マイナ保険証が使え、利用も十分なため、\(ident(m.id)) は当てはまりません。ほかの規則で判定します。"
                )
                return nil
            }
            t.note(
                "Aged \(attained) on the reference date \(reference) (elderly_85_reference = \(parameters.elderly85Reference.rawValue)), \(maximumAge) or under, and the usable Myna card was not used enough → certificate anyway (ELDERLY_LOW_MYNA_USE).",
                ja:
                    "基準となる日 \(reference) に \(attained) 歳（\(ident("elderly_85_reference = \(parameters.elderly85Reference.rawValue)"))）で \(maximumAge) 歳以下、マイナ保険証は使えますが利用が少ない → 資格確認書を交付します（\(ident("ELDERLY_LOW_MYNA_USE"))）。"
            )
            return .ELDERLY_LOW_MYNA_USE
        case .legacyCardsEnd, .ecertGrace, .elderlyApplicationNeedsNoBasis: return nil
        }
    }

    /// The date the elderly age tests take the age on (SPEC.md 2.4, `elderly_85_reference`):
    /// `fixed`, the measure's date (2026-08-01); `renewal`, the first day of the certificate
    /// period S falls in: the latest renewal_day + 1 (08-01 by default) on or before S, and
    /// never before the measure's date. A certificate starting on 2027-08-01 (a renewal)
    /// re-tests on 2027-08-01; one starting mid-period, on 2027-03-15, tests on 2026-08-01.
    public func elderlyReferenceDate(s: LocalDate, fixed: LocalDate) -> LocalDate {
        guard parameters.elderly85Reference == .renewal else { return fixed }
        func start(_ year: Int) -> LocalDate {
            LocalDate(year: year, month: parameters.renewalMonth, day: parameters.renewalDay)!.adding(days: 1)
        }
        let thisYear = start(s.year)
        return max(fixed, thisYear <= s ? thisYear : start(s.year - 1))
    }

    /// The usage test (SPEC.md 2.4): the latest Myna status shows at least
    /// `elderly_min_uses_12m` uses in the 12 months before its status_as_of and, with
    /// `elderly_min_uses_3m` = 1, a last use on or after status_as_of − 3 months (and not after
    /// it). Unknown use fails: a count that is blank, or a last use that is blank, when the
    /// requirement is above 0. A requirement of 0 needs no data.
    private func usedEnough<T: PolicyTracer>(_ m: MynaStatus?, tracer t: inout T) -> Bool {
        let p = parameters
        guard let m else { return false }
        let asOf = m.statusAsOf.map(\.description) ?? "unknown"
        let asOfJapanese = m.statusAsOf.map(\.description) ?? "不明な日"
        if p.elderlyMinUses12m > 0 {
            guard let uses = m.uses12m else {
                t.note(
                    "Usage test: uses in the 12 months before the Myna status of \(asOf) not known (uses_12m blank): fails safe.",
                    ja: "利用の確認：\(asOfJapanese) 時点のマイナ保険証の状況で、過去12か月の利用回数が不明（\(ident("uses_12m")) が空欄）：安全側で不合格とします。")
                return false
            }
            guard uses >= p.elderlyMinUses12m else {
                t.note(
                    "Usage test: \(uses) uses in the 12 months before \(asOf), fewer than elderly_min_uses_12m = \(p.elderlyMinUses12m).",
                    ja: "利用の確認：\(asOfJapanese) までの12か月の利用は \(uses) 回で、\(ident("elderly_min_uses_12m = \(p.elderlyMinUses12m)")) に足りません。")
                return false
            }
        }
        if p.elderlyMinUses3m > 0 {
            guard let last = m.lastUsedOn, let statusAsOf = m.statusAsOf else {
                t.note(
                    "Usage test: no last use on record (last_used_on blank) for the Myna status of \(asOf): fails safe.",
                    ja: "利用の確認：\(asOfJapanese) 時点のマイナ保険証の状況に最終利用日の記録がありません（\(ident("last_used_on")) が空欄）：安全側で不合格とします。")
                return false
            }
            let since = statusAsOf.adding(months: -MynaStatus.recentUseMonths)
            guard last >= since, last <= statusAsOf else {
                t.note(
                    "Usage test: last used \(last), not within the 3 months before \(statusAsOf) (on or after \(since)), as elderly_min_uses_3m = \(p.elderlyMinUses3m) asks.",
                    ja:
                        "利用の確認：最終利用日 \(last) は \(statusAsOf) までの3か月以内（\(since) 以後）ではありません。\(ident("elderly_min_uses_3m = \(p.elderlyMinUses3m)")) の条件を満たしません。"
                )
                return false
            }
        }
        t.note(
            "Usage test passed: \(m.uses12m.map(String.init) ?? "unknown") uses in the 12 months before \(asOf) (elderly_min_uses_12m = \(p.elderlyMinUses12m)), last used \(m.lastUsedOn?.description ?? "unknown") (elderly_min_uses_3m = \(p.elderlyMinUses3m)).",
            ja:
                "利用の確認に合格：\(asOfJapanese) までの12か月の利用は \(m.uses12m.map { "\($0) 回" } ?? "不明")（\(ident("elderly_min_uses_12m = \(p.elderlyMinUses12m)"))）、最終利用日は \(m.lastUsedOn?.description ?? "不明")（\(ident("elderly_min_uses_3m = \(p.elderlyMinUses3m)"))）。"
        )
        return true
    }

    private func certificate<T: PolicyTracer>(
        _ outcome: Outcome, _ codes: [ReasonCode], _ rule: PolicyRule, from s: LocalDate,
        _ f: MemberFacts, shortTerm: Bool, tracer t: inout T
    ) -> Decision {
        var decision = Decision(outcome: outcome, reasons: ReasonSet(), rule: rule, s: s)
        for c in codes { decision.reasons.insert(c) }
        let (to, cap) = Validity.validTo(from: s, facts: f, parameters: parameters, shortTerm: shortTerm)
        // Held when the document would start after the residence period (with residence_cap =
        // day_after, valid_to may be the day after it, but never start then).
        if to < s || f.residenceExpiry.map({ s > $0 }) == true {
            t.note(
                "The residence period ends \(f.residenceExpiry ?? to), before the \(outcome == .eligibilityNotice ? "notice's validity" : "certificate") would start on \(s) → held until the residence status is renewed.",
                ja:
                    "在留期間は \(f.residenceExpiry ?? to) に満了し、\(outcome == .eligibilityNotice ? "お知らせの有効期間" : "資格確認書") が始まる \(s) より前です → 在留資格が更新されるまで保留。"
            )
            decision.heldFrom = outcome
            decision.outcome = .held
            decision.reasons.insert(.RESIDENCE_EXPIRED)
            return decision
        }
        decision.validFrom = s
        decision.validTo = to
        decision.validityCap = cap
        t.note(
            "Valid \(s) … \(to): the earliest end is the \(cap.rawValue) (SPEC.md 3)\(cap == .schemeEnd && f.scheme == .employee ? ", employee_validity = rolling" : "").",
            ja:
                "有効期間 \(s)〜\(to)：最も早い終了日は\(cap.japanese)\(cap == .schemeEnd && f.scheme == .employee ? "（\(ident("employee_validity = rolling"))）" : "")。"
        )
        return decision
    }

    /// Held when the mail cannot be delivered (SPEC.md 2.5, last paragraph).
    private func mail<T: PolicyTracer>(_ decision: Decision, _ f: MemberFacts, tracer t: inout T) -> Decision {
        guard decision.outcome.needsMail else { return decision }
        var d = decision
        if !f.deliverable { d.reasons.insert(.MISSING_ADDRESS) }
        if f.mailReturned { d.reasons.insert(.MAIL_RETURNED) }
        if f.scheme == .nhi && f.householdHeads != 1 { d.reasons.insert(.NO_HOUSEHOLD_HEAD) }
        if f.establishmentAddressMissing { d.reasons.insert(.ESTABLISHMENT_ADDRESS_MISSING) }
        if d.reasons.contains(.MISSING_ADDRESS) || d.reasons.contains(.NO_HOUSEHOLD_HEAD) || d.reasons.contains(.MAIL_RETURNED)
            || d.reasons.contains(.ESTABLISHMENT_ADDRESS_MISSING)
        {
            t.note(
                "It cannot be delivered (\(f.deliverable ? "" : "no usable postal code and address")\(f.scheme == .nhi && f.householdHeads != 1 ? " household has \(f.householdHeads) heads" : "")\(f.mailReturned ? " mail came back undelivered and the address has not changed since" : "")\(f.establishmentAddressMissing ? " delivered through the employer, whose establishment has no usable postal code and address" : "")) → held; decided again next run.",
                ja:
                    "届けられません（\([f.deliverable ? nil : "使える郵便番号と住所がない", f.scheme == .nhi && f.householdHeads != 1 ? "世帯主が \(f.householdHeads) 人" : nil, f.mailReturned ? "郵便が戻り、その後住所が変わっていない" : nil, f.establishmentAddressMissing ? "事業主経由の送付先の事業所に使える郵便番号と住所がない" : nil].compactMap { $0 }.joined(separator: "、"))）→ 保留。次回の処理で判定し直します。"
            )
            d.heldFrom = d.outcome
            d.outcome = .held
            d.validFrom = nil
            d.validTo = nil
            d.validityCap = nil
            d.applicationID = nil
            d.replacesCertificate = nil
        }
        return d
    }
}

/// An identifier inside a Japanese trace step (shown in `<code>`).
private func ident(_ x: some CustomStringConvertible) -> String { TraceStep.code(x) }
