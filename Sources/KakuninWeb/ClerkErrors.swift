import Foundation
import KakuninBatch
import KakuninRuntime

/// The libraries speak to operators at a terminal (English, with command-line advice); a clerk
/// at the console reads Japanese and can only do what the console offers. Every refusal a page
/// shows passes here: the library's own Japanese when it gives one, else the Japanese of the
/// known refusal, else a general sentence (the English goes to the server log only).
enum ClerkErrors {
    struct Said: Equatable {
        let message: String
        let fix: String
    }

    /// Known refusals of CounterDesk, CounterIssue and the database's counter functions, by a
    /// phrase of their English message.
    static let known: [(phrase: String, said: Said)] = [
        ("a rejection needs a reason", Said(message: "却下するには理由が必要です。何も記録していません。", fix: "「却下の理由」を入力してから、もう一度「却下」を押してください。")),
        ("voiding needs a reason", Said(message: "無効にするには理由が必要です。何も記録していません。", fix: "理由を入力してください。")),
        ("ending special consideration needs a reason", Said(message: "配慮の取扱いを終えるには理由が必要です。何も記録していません。", fix: "終了の理由を入力してください。")),
        ("not pending", Said(message: "この申請はすでに審査されています。何も記録していません。", fix: "画面を再読み込みして、申請の状態を確かめてください。")),
        ("application received on", Said(message: "同じ種類・同じ受付日の申請がすでに記録されています。何も記録していません。", fix: "申請の一覧を確かめてください。別の申請なら受付日を確かめてください。")),
        ("handed over at the counter", Said(message: "この資格確認書は窓口で手渡したもので、郵送していません。返戻は記録できません。", fix: "記録は不要です。")),
        ("never mailed", Said(message: "この書類は郵送していない（送付ファイルに載らず職員の対応待ち）ため、返戻は記録できません。", fix: "窓口で印刷してお渡しするか、住所などの記録を訂正してください。")),
        ("already recorded as returned", Said(message: "この書類の返戻はすでに記録されています。", fix: "「郵便の返戻」の欄で記録を確かめてください。")),
        ("was sent no", Said(message: "この方にこの通知を送った記録がありません。", fix: "通知の一覧から選んでください。")),
        ("only an active certificate is printed", Said(message: "無効になった資格確認書は印刷できません。", fix: "有効な資格確認書を選ぶか、再交付してください。")),
        (
            "basis applies only to special_consideration",
            Said(message: "配慮が必要な理由は、配慮が必要な方の交付申請のときだけ選びます。", fix: "理由を「（なし）」に戻すか、申請の種類を確かめてください。")
        ),
        ("is not a notice kind", Said(message: "通知の種類が正しくありません。", fix: "通知の一覧から操作してください。")),
        ("no member", Said(message: "該当する加入者はいません。", fix: "加入者検索から探してください。")),
        ("no certificate", Said(message: "その資格確認書はありません。", fix: "加入者の画面から操作してください。")),
        ("no application", Said(message: "その申請はありません。", fix: "加入者の画面から操作してください。")),
        ("not scoped to insurer", Said(message: "この保険者の加入者は担当外のため表示できません。", fix: "担当の保険者の加入者を検索してください。")),
    ]

    /// What the clerk reads for a library refusal.
    static func said(_ e: OperatorError) -> Said {
        if let japanese = e.japanese { return Said(message: japanese, fix: "入力を直して、もう一度送信してください。") }
        if Console.isJapanese(e.message) {
            return Said(message: e.message, fix: e.fix.flatMap { Console.isJapanese($0) ? $0 : nil } ?? "入力を確かめてください。")
        }
        if let k = known.first(where: { e.message.contains($0.phrase) }) { return k.said }
        if e.status == .conflict {
            return Said(message: "ほかの操作と重なったため、記録できませんでした。何も変更していません。", fix: "画面を再読み込みして状態を確かめ、必要ならもう一度操作してください。")
        }
        FileHandle.standardError.write(Data("kakunin serve: refusal shown in general words: \(e.message)\n".utf8))
        return Said(message: "入力の内容では処理できませんでした。何も変更していません。", fix: "入力を確かめてください。続くときは運用担当に伝えてください。")
    }
}
