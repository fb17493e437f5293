/// The operator's status line of an insurer (issue 32): from its latest run, how things stand
/// in one word and a colour (green, amber, red), why, and what to do. One rule, read by the
/// console's 運用状況 page.
public struct RunHealth: Sendable, Equatable {
    public enum Level: String, Sendable, Comparable {
        case green, amber, red

        /// The word beside the colour (the colour alone never carries the meaning).
        public var japanese: String {
            switch self {
            case .green: return "正常"
            case .amber: return "注意"
            case .red: return "要対応"
            }
        }

        public static func < (a: Level, b: Level) -> Bool {
            let order: [Level] = [.green, .amber, .red]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    public let level: Level
    /// Why, one sentence per finding.
    public let findings: [String]
    /// What to do, one sentence per finding that needs something.
    public let todo: [String]

    /// What the latest run says. `lastAsOf` nil: the insurer has never run. A run is overdue
    /// when its as-of date is more than `overdueDays` (2) before today.
    public struct Latest: Sendable {
        public var runID: Int
        public var asOf: LocalDate
        public var status: RunStatus
        public var checksPass: Bool?
        /// The run used the parameter version in force today (the insurer's current version).
        public var currentParameters: Bool

        public init(runID: Int, asOf: LocalDate, status: RunStatus, checksPass: Bool?, currentParameters: Bool) {
            (self.runID, self.asOf, self.status, self.checksPass, self.currentParameters) = (
                runID, asOf, status, checksPass, currentParameters
            )
        }
    }

    public static let overdueDays = 2

    public static func assess(_ latest: Latest?, today: LocalDate) -> RunHealth {
        guard let r = latest else {
            return RunHealth(
                level: .amber, findings: ["この保険者の夜間処理はまだ一度も実行されていません。"],
                todo: ["パラメータを設定し、夜間処理の予定（タイマー）を有効にしてください。"])
        }
        var found: [(Level, String, String?)] = []
        let age = r.asOf.days(until: today)
        if age > overdueDays {
            found.append((.red, "最新の実行（実行 \(r.runID)）の基準日は \(age) 日前です。", "夜間処理のタイマーとサーバーの記録を確かめ、止まっている日の分を実行してください。"))
        }
        switch r.status {
        case .abandoned:
            found.append((.red, "最新の実行（実行 \(r.runID)）は途中で止まり、放棄されました。", "同じ基準日で夜間処理をもう一度実行してください（続きから再開します）。"))
        case .failed:
            found.append((.red, "最新の実行（実行 \(r.runID)）は失敗しました。", "サーバーの記録で原因を確かめ、直してから同じ基準日で実行し直してください。"))
        case .running:
            found.append((.green, "実行 \(r.runID) が実行中です。", nil))
        case .completed:
            if r.checksPass == false {
                found.append((.red, "最新の実行（実行 \(r.runID)）は照合の確認で不一致がありました。", "実行の報告書の「照合」で不一致の項目を確かめ、送付ファイルを業者に渡す前に監査担当に相談してください。"))
            }
        }
        if !r.currentParameters {
            found.append(
                (.amber, "最新の実行（実行 \(r.runID)）は、現在のパラメータの版とは別の版で実行されました。", "パラメータの変更が意図どおりか履歴で確かめてください。意図どおりなら次の夜間処理から現在の版が使われます。"))
        }
        if found.isEmpty { return RunHealth(level: .green, findings: ["最新の実行（実行 \(r.runID)）は完了し、照合はすべて一致しました。"], todo: []) }
        return RunHealth(level: found.map(\.0).max()!, findings: found.map(\.1), todo: found.compactMap(\.2))
    }
}
