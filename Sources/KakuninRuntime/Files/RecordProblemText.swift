import Foundation

/// The Japanese of a record problem, for the staff who hand the document over. A run stores
/// the problems of a document kept out of the vendor files as their English `summary` joined by
/// "; " (certificate.mail_exception, notice.mail_exception: the CLI and exceptions.csv read
/// them as they are); the console reads them back here.
extension RecordProblem {
    /// The vendor file's columns as printed on the documents.
    static let fieldJapanese: [String: String] = [
        "family_name": "氏", "given_name": "名", "family_name_kana": "氏（カナ）", "given_name_kana": "名（カナ）", "name": "氏名",
        "addressee": "宛名", "address": "住所", "address_extra": "方書", "postal_code": "郵便番号", "insurer_name": "保険者名称",
        "symbol": "記号", "number": "番号", "branch": "枝番", "title": "表題", "copay_text": "一部負担金の割合", "honorific": "敬称",
        "limit_category": "限度区分", "specific_disease": "特定疾病区分",
    ]

    /// 「宛名の「𠮷」（U+20BB7）は送付ファイルの文字コードにない文字」 and the like.
    package var japanese: String {
        let f = Self.fieldJapanese[field] ?? field
        switch kind {
        case .character: return "\(f)の「\(character ?? "")」（\(codePoint ?? "")）は送付ファイルの文字コードにない文字"
        case .control: return "\(f)に制御文字（\(codePoint ?? "")）"
        case .invisible: return "\(f)に見えない文字（\(codePoint ?? "")）"
        case .length: return "\(f)が \(length ?? 0) 文字（上限 \(limit ?? 0) 文字）"
        }
    }

    /// The problem a `summary` describes; nil for any other text.
    package init?(summary: String) {
        guard let colon = summary.range(of: ": ") else { return nil }
        let field = String(summary[..<colon.lowerBound])
        let rest = String(summary[colon.upperBound...])
        let words = rest.split(separator: " ").map(String.init)
        if rest.hasPrefix("control character "), words.count == 3 {
            self.init(field: field, kind: .control, codePoint: words[2])
        } else if rest.hasPrefix("invisible character "), words.count == 3 {
            self.init(field: field, kind: .invisible, codePoint: words[2])
        } else if rest.hasSuffix(" cannot be carried"), words.count == 5, words[0].hasPrefix("U+") {
            self.init(field: field, kind: .character, character: words[1], codePoint: words[0])
        } else if words.count == 4, words[1] == "characters,", words[2] == "limit", let n = Int(words[0]), let l = Int(words[3]) {
            self.init(field: field, kind: .length, length: n, limit: l)
        } else {
            return nil
        }
    }

    /// The Japanese of a stored list of problems ("; " between them); a part that is not a
    /// problem's summary is kept as it is.
    package static func japanese(stored: String) -> String {
        stored.components(separatedBy: "; ").map { RecordProblem(summary: $0)?.japanese ?? $0 }.joined(separator: "、")
    }
}
