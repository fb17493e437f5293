/// One step of a decision's trace (`Policy.explain`), in the English the CLI prints and in the
/// Japanese office staff read in the console (SPEC 7). The two are written side by side at the
/// one place the policy takes the step, so they cannot drift apart. In `japanese`, identifiers
/// (reason codes, parameter keys, measure ids, printed fields) stand between backticks; the
/// console shows them in `<code>`, everything else is plain Japanese.
public struct TraceStep: Sendable, Equatable {
    public let english: String
    public let japanese: String

    public init(english: String, japanese: String) {
        self.english = english
        self.japanese = japanese
    }

    /// An identifier inside a Japanese step.
    public static func code(_ identifier: some CustomStringConvertible) -> String { "`\(identifier)`" }

    /// The Japanese text cut into plain text and identifiers, in order; the dates in the plain
    /// text in era form (the policy notes them ISO, as the English does).
    public var japaneseParts: [(text: String, isCode: Bool)] {
        japanese.split(separator: "`", omittingEmptySubsequences: false).enumerated().compactMap { i, part in
            part.isEmpty ? nil : i % 2 == 1 ? (String(part), true) : (JapaneseEra.eraDates(in: String(part)), false)
        }
    }

    /// The Japanese text without its identifiers: what must hold no ASCII letter.
    public var japaneseWithoutIdentifiers: String {
        japaneseParts.filter { !$0.isCode }.map(\.text).joined()
    }
}

extension PolicyRule {
    /// The rule's number and name in Japanese.
    public var japanese: String {
        switch self {
        case .birthAfterAsOf: return "2.5-1 生年月日が基準日より後"
        case .notQualified: return "2.5-2 基準日に加入者でない"
        case .application: return "2.5-3 承認済みの申請"
        case .notDue: return "2.5-4 交付の時期ではない"
        case .elderlyMeasure: return "2.5-5 後期高齢者の経過措置"
        case .specialConsideration: return "2.5-6 配慮の継続"
        case .mynaUsable: return "2.5-7 マイナ保険証が使える"
        case .mustApply: return "2.5-8 カードの一時停止・更新中"
        case .automatic: return "2.5-9 申請によらない交付"
        }
    }
}

extension ValidityCap {
    /// What set the end of the validity, in Japanese.
    public var japanese: String {
        func c(_ s: String) -> String { TraceStep.code(s) }
        switch self {
        case .schemeEnd: return "制度の定める有効期限"
        case .legalMaximum: return "法定の上限（5年）"
        case .turning70: return "70歳到達（国民健康保険）"
        case .turning75: return "75歳到達：後期高齢者医療へ移る（国民健康保険・被用者保険）"
        case .residenceExpiry: return "在留期間の満了"
        case .disqualification: return "資格喪失日の前日"
        case .shortTerm: return "短期の資格確認書"
        case .nhi70to74: return "最初の更新日：70〜74歳の国民健康保険の加入者は毎年8月1日に負担割合を判定し直すため、\(c("min_validity_days")) による延長なし"
        case .employeeFixed: return "\(c("employee_validity = fixed")) の共通の終了日"
        case .employeeYearEnd: return "\(c("employee_validity = year_end")) による12月31日"
        case .residenceDayAfter: return "在留期間満了日の翌日（\(c("residence_cap = day_after"))）"
        case .nextCertificate: return "次の資格確認書の有効期間が始まる日の前日"
        }
    }
}

extension DatedMeasure {
    /// The measure's id (an identifier) and period, for a Japanese step.
    public var japaneseReference: String {
        "措置 \(TraceStep.code(id))（\(from?.description ?? "")〜\(to?.description ?? "")）"
    }
}
