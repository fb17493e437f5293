/// The stored codes office staff see, each with the Japanese label the console, the print
/// views and the reports show (SPEC 7: everything staff read is Japanese). One home per code
/// list: the web layer reads `japanese` here and never keeps its own map. The raw values are the
/// database's (its CHECK constraints hold the same lists).

/// A kind of application (application.kind).
public enum ApplicationKind: String, Sendable, CaseIterable {
    case specialConsideration = "special_consideration"
    case cardLost = "card_lost"
    case cardRenewing = "card_renewing"
    case reissue

    public var japanese: String {
        switch self {
        case .specialConsideration: return "配慮が必要な方の交付申請"
        case .cardLost: return "マイナンバーカードの紛失・一時停止"
        case .cardRenewing: return "マイナンバーカードの更新中"
        case .reissue: return "資格確認書の再交付（紛失・破損）"
        }
    }

    /// Whether the application needs a basis (配慮が必要な理由) to be granted.
    public var needsBasis: Bool { self == .specialConsideration }
}

/// Where an application stands (application.status).
public enum ApplicationStatus: String, Sendable, CaseIterable {
    case pending, approved, rejected

    public var japanese: String {
        switch self {
        case .pending: return "審査中"
        case .approved: return "承認済み"
        case .rejected: return "却下"
        }
    }
}

/// How an application reached kakunin (application.source).
public enum ApplicationSource: String, Sendable, CaseIterable {
    case `import`, staff

    public var japanese: String {
        switch self {
        case .import: return "申請ファイルの取込み"
        case .staff: return "窓口で入力"
        }
    }
}

/// What a certificate was issued as (certificate.kind).
public enum CertificateKind: String, Sendable, CaseIterable {
    case issue, renew
    case issueOnApplication = "issue_on_application"
    case reissue

    public var japanese: String {
        switch self {
        case .issue: return "職権交付"
        case .renew: return "更新"
        case .issueOnApplication: return "申請による交付"
        case .reissue: return "再交付"
        }
    }
}

/// A certificate's state (certificate.status).
public enum CertificateStatus: String, Sendable, CaseIterable {
    case active, voided

    public var japanese: String {
        switch self {
        case .active: return "有効"
        case .voided: return "無効"
        }
    }
}

extension CertificateStatus {
    /// The reason of a void as staff read it: the database's own reasons for a replaced
    /// certificate (`replaced by certificate N`, from a reissue or a run) in Japanese, a reason
    /// staff typed as typed.
    public static func voidReason(_ text: String?) -> String {
        guard let text, text.hasPrefix("replaced by certificate ") else { return text ?? "" }
        let rest = text.dropFirst("replaced by certificate ".count)
        let number = rest.prefix { $0.isNumber }
        let counter = rest.dropFirst(number.count).contains("reissued at the counter")
        return "確認書 \(number) の交付により無効" + (counter ? "（窓口での再交付）" : "")
    }
}

/// How a certificate reached the member.
public enum CertificateDelivery: String, Sendable, CaseIterable {
    /// Issued at the counter (no run): handed over there, never mailed.
    case counter
    /// Issued by a run but kept out of the vendor files (exceptions.csv): staff hand it over.
    case waiting
    /// In a vendor file.
    case mailed

    public var japanese: String {
        switch self {
        case .counter: return "窓口で手渡し"
        case .waiting: return "未送付（職員の対応待ち）"
        case .mailed: return "郵送"
        }
    }

    /// Whether mail can come back for it (返戻 is recorded only for what was mailed).
    public var canComeBack: Bool { self == .mailed }
}

/// A document that is mailed (notice.kind, mail_return.document).
public enum MailDocument: String, Sendable, CaseIterable {
    case certificate
    case eligibilityNotice = "eligibility_notice"
    case applyNotice = "apply_notice"

    public var japanese: String {
        switch self {
        case .certificate: return "資格確認書"
        case .eligibilityNotice: return "資格情報のお知らせ"
        case .applyNotice: return "申請勧奨通知"
        }
    }
}

/// Where a returned piece of mail stands (what staff do next).
public enum ReturnState: String, Sendable, CaseIterable {
    case resolved
    case addressChanged = "address_changed"
    case stopped

    public var japanese: String {
        switch self {
        case .resolved: return "解決済み"
        case .addressChanged: return "その後住所が変わったため、次の夜間処理で再送します"
        case .stopped: return "住所が変わるまで再送しません：住所を確認するか、窓口でお渡しください"
        }
    }

    /// [2026-12] What staff do next about mail delivered through an establishment (事業主経由)
    /// that came back: its address (establishments.csv) or the member's establishment must
    /// change before the run mails again.
    public var japaneseThroughEstablishment: String {
        switch self {
        case .resolved: return japanese
        case .addressChanged: return "その後事業所の住所または加入者の事業所が変わったため、次の夜間処理で再送します"
        case .stopped: return "事業所の住所が変わるまで再送しません：事業主に確認するか、窓口でお渡しください"
        }
    }

    /// The label of a stored state; `throughEstablishment` for mail that went through one.
    public static func label(_ code: String?, throughEstablishment: Bool) -> String {
        guard let state = code.flatMap(ReturnState.init(rawValue:)) else { return code ?? "" }
        return throughEstablishment ? state.japaneseThroughEstablishment : state.japanese
    }
}

/// The health-insurance registration of a My Number card (myna_status.registration).
public enum MynaRegistration: String, Sendable, CaseIterable {
    case registered
    case notRegistered = "not_registered"
    case cancelRequested = "cancel_requested"
    case cancelled

    public var japanese: String {
        switch self {
        case .registered: return "利用登録あり"
        case .notRegistered: return "利用登録なし"
        case .cancelRequested: return "登録解除を申請中"
        case .cancelled: return "登録解除済み"
        }
    }
}

/// The state of a My Number card (myna_status.card_state).
public enum CardState: String, Sendable, CaseIterable {
    case active, suspended, renewing, returned, none

    public var japanese: String {
        switch self {
        case .active: return "有効"
        case .suspended: return "一時停止中"
        case .renewing: return "更新中"
        case .returned: return "返納済み"
        case .none: return "カードなし"
        }
    }
}

/// A run's state as the registry reports it (run.status, and abandoned for a lapsed lease).
public enum RunStatus: String, Sendable, CaseIterable {
    case running, completed, failed, abandoned

    public var japanese: String {
        switch self {
        case .running: return "実行中"
        case .completed: return "完了"
        case .failed: return "失敗"
        case .abandoned: return "中断（放棄）"
        }
    }
}

/// The label of a stored code, or the code itself when the list does not know it.
public enum StaffLabel {
    public static func of<T: RawRepresentable & StaffLabelled>(_ type: T.Type, _ code: String?) -> String where T.RawValue == String {
        guard let code else { return "" }
        return T(rawValue: code)?.japanese ?? code
    }

    /// "true"/"false" as 有/無.
    public static func yesNo(_ text: String?) -> String {
        switch text {
        case "true": return "あり"
        case "false": return "なし"
        default: return "不明"
        }
    }
}

/// A code list with Japanese labels.
public protocol StaffLabelled { var japanese: String { get } }
extension ApplicationKind: StaffLabelled {}
extension ApplicationStatus: StaffLabelled {}
extension ApplicationSource: StaffLabelled {}
extension CertificateKind: StaffLabelled {}
extension CertificateStatus: StaffLabelled {}
extension CertificateDelivery: StaffLabelled {}
extension MailDocument: StaffLabelled {}
extension ReturnState: StaffLabelled {}
extension Scheme: StaffLabelled {}
extension MynaRegistration: StaffLabelled {}
extension CardState: StaffLabelled {}
extension RunStatus: StaffLabelled {}
extension Outcome: StaffLabelled {}
extension ConsiderationBasis: StaffLabelled {}
