extension ReasonCode {
    /// Plain words a counter clerk can read to a member, and where the rule comes from.
    public var explanation: (text: String, source: String) {
        switch self {
        case .NO_CARD: return ("has no My Number card", "SPEC 2.1; seeds 000, 003")
        case .NOT_REGISTERED: return ("has a My Number card that is not registered for health insurance", "SPEC 2.1; seeds 000, 003")
        case .REGISTRATION_CANCELLED:
            return ("asked to cancel, or cancelled, the card's health-insurance registration", "SPEC 2.1; seed 000")
        case .ECERT_EXPIRED:
            return (
                "the card's electronic certificate (or the card) expires, grace period included, before the mailing horizon",
                "SPEC 2.1, 2.4; 協会けんぽ, いわき市"
            )
        case .CARD_RETURNED: return ("returned the My Number card", "SPEC 2.1; MHLW")
        case .ACCESS_RESTRICTED: return ("the member's information is blocked from view (e.g. DV protection)", "SPEC 2.1; MHLW")
        case .MYNA_STATUS_UNKNOWN: return ("no My Number card status on record, so a certificate is sent to be safe", "SPEC 2.1")
        case .ELDERLY_TRANSITIONAL:
            return ("elderly scheme member while a transitional measure is in force", "SPEC 2.4; seed 000; MHLW notice 2025-04-03")
        case .SPECIAL_CONSIDERATION_CONTINUES:
            return ("renewal of a certificate first issued on a special-consideration application", "SPEC 2.1; seed 000")
        case .APP_SPECIAL_CONSIDERATION:
            return (
                "applied for a certificate needing special consideration (age, disability, needs a helper, long-term care need, guardianship, lives in a care facility)",
                "SPEC 2.2, 4; seeds 000, 003"
            )
        case .APP_CARD_LOST: return ("applied because the My Number card is lost or suspended: short-term certificate", "SPEC 2.2")
        case .APP_CARD_RENEWING: return ("applied because the My Number card is being renewed: short-term certificate", "SPEC 2.2")
        case .APP_REISSUE: return ("applied to replace a lost or damaged certificate: same dates, the old one is void", "SPEC 2.2")
        case .NO_BASIS: return ("application without a basis: rejected", "SPEC 2.2; MHLW Q&A")
        case .CARD_SUSPENDED: return ("the My Number card is suspended: the member must apply", "SPEC 2.3")
        case .CARD_RENEWING: return ("the My Number card is being renewed: the member must apply", "SPEC 2.3")
        case .APPLY_NOTICE_RECENT: return ("application guidance was sent recently; not repeated yet", "SPEC 2.3")
        case .MYNA_USABLE: return ("the My Number card can be used as the insurance card", "SPEC 2.5")
        case .COVERED: return ("holds a valid document beyond the mailing horizon", "SPEC 2.5")
        case .NOT_QUALIFIED: return ("not a member on the date that matters", "SPEC 2.5")
        case .BIRTH_AFTER_AS_OF: return ("birth date is after the as-of date", "SPEC 2.5")
        case .MISSING_ADDRESS: return ("no usable postal code and address for the addressee", "SPEC 2.5")
        case .NO_HOUSEHOLD_HEAD: return ("the household does not have exactly one head to address", "SPEC 2.5")
        case .APPLICATION_PENDING:
            return (
                "an application of any kind is on file (pending, or approved and not yet fulfilled): no guidance to apply again",
                "SPEC 2.3 [2026-12]"
            )
        case .RESIDENCE_EXPIRED: return ("the period of stay ends before the certificate would start", "kakunin (SPEC silent)")
        case .MAIL_RETURNED:
            return (
                "mail came back undelivered and the address has not changed since: hand it over at the counter or correct the address",
                "SPEC 7 (returned mail)"
            )
        case .MOVES_TO_ELDERLY:
            return (
                "reaches 75 before the next document would start: moves to the elderly scheme (後期高齢者医療) of the prefecture's association, which issues its own documents",
                "SPEC 2.5 rule 2, SPEC 3; 高齢者の医療の確保に関する法律 第50条"
            )
        case .ELDERLY_LOW_MYNA_USE:
            return (
                "elderly scheme member aged 84 or under on the reference date whose My Number card works but was not used enough for insurance (fewer uses in the 12 months, or none in the 3 months, before the latest card status, or use not known): a certificate is sent anyway",
                "SPEC 2.4 (elderly usage test), 2.1; 三種町 2026-03-06; MHLW 社会保障審議会医療保険部会 第208回 資料2 「利用実績を踏まえ」"
            )
        case .PRINTED_DETAILS_CHANGED:
            return (
                "a detail printed on the active certificate (name, reading, birth date, sex, symbol/number/branch, insurer, copay and its effective date, optional entries, 特別療養) changed: a replacement with the same end date is sent and the old one is voided",
                "SPEC 2.5 (printed details change), 5.1; 廿日市市 (限度区分の変更で職権交付); 埼玉 2025 (負担割合の変更)"
            )
        case .ESTABLISHMENT_ADDRESS_MISSING:
            return (
                "delivered through the employer (employee_delivery = employer), whose establishment has no usable postal code and address: held; ask the employer for it and import establishments.csv with the address (the member is decided again next run)",
                "SPEC 4, 5.1 [2026-12] (事業主経由)"
            )
        }
    }
}

extension ReasonCode {
    /// The reason in plain Japanese, as office staff and auditors read it (reports, console).
    public var japanese: String {
        switch self {
        case .NO_CARD: return "マイナンバーカードを持っていない"
        case .NOT_REGISTERED: return "マイナンバーカードの健康保険証利用登録がない"
        case .REGISTRATION_CANCELLED: return "利用登録の解除を申請した、または解除した"
        case .ECERT_EXPIRED: return "電子証明書（またはカード）の有効期限が猶予期間を含めて切れる"
        case .CARD_RETURNED: return "マイナンバーカードを返納した"
        case .ACCESS_RESTRICTED: return "情報の閲覧が制限されている（DV等）"
        case .MYNA_STATUS_UNKNOWN: return "マイナ保険証の状況が不明（安全側で交付）"
        case .ELDERLY_TRANSITIONAL: return "後期高齢者の経過措置により交付"
        case .SPECIAL_CONSIDERATION_CONTINUES: return "配慮が必要な方として交付済みのため申請なしで更新"
        case .APP_SPECIAL_CONSIDERATION: return "配慮が必要な方の申請により交付"
        case .APP_CARD_LOST: return "カード紛失・一時停止の申請により短期の交付"
        case .APP_CARD_RENEWING: return "カード更新中の申請により短期の交付"
        case .APP_REISSUE: return "紛失・破損による再交付（旧資格確認書は無効）"
        case .NO_BASIS: return "交付の理由がない申請（却下）"
        case .CARD_SUSPENDED: return "カードが一時停止中：申請の案内を送付"
        case .CARD_RENEWING: return "カードが更新中：申請の案内を送付"
        case .APPLY_NOTICE_RECENT: return "申請の案内を最近送付済み"
        case .MYNA_USABLE: return "マイナ保険証が使える"
        case .COVERED: return "現在の資格確認書等で足りている"
        case .NOT_QUALIFIED: return "基準日に被保険者でない"
        case .BIRTH_AFTER_AS_OF: return "生年月日が基準日より後（要確認）"
        case .MISSING_ADDRESS: return "郵便番号・住所がなく送付できない"
        case .NO_HOUSEHOLD_HEAD: return "世帯主が一人に定まらない"
        case .APPLICATION_PENDING: return "申請を受付済み（審査中または交付待ち）：申請の案内は送らない"
        case .RESIDENCE_EXPIRED: return "在留期間が開始日より前に終わる（在留資格の確認が必要）"
        case .MAIL_RETURNED: return "郵便が返戻され、住所が変わっていない（窓口で交付するか住所を確認）"
        case .MOVES_TO_ELDERLY: return "75歳到達により後期高齢者医療制度へ移行（資格確認書は広域連合が交付）"
        case .ELDERLY_LOW_MYNA_USE: return "84歳以下の後期高齢者で、マイナ保険証の利用実績が少ない（または不明）ため交付"
        case .PRINTED_DETAILS_CHANGED: return "資格確認書の記載事項が変わったため、同じ有効期限で再交付（旧資格確認書は無効）"
        case .ESTABLISHMENT_ADDRESS_MISSING: return "事業主経由で送付するが、事業所の郵便番号・住所がない（事業所ファイルで住所を届け出てもらい取込むか、任意継続・自宅送付の確認）"
        }
    }
}

extension Outcome {
    /// The outcome's name in Japanese.
    public var japanese: String {
        switch self {
        case .issue: return "交付（職権）"
        case .renew: return "更新"
        case .issueOnApplication: return "申請による交付"
        case .applyNotice: return "申請勧奨通知"
        case .eligibilityNotice: return "資格情報のお知らせ"
        case .none: return "送付なし"
        case .held: return "保留"
        }
    }
}
