/// What staff read beside the identifiers of a run: the job's name and the parameters' word
/// values, in Japanese (the identifier itself stays beside it in `<code>`).
public enum StaffWords {
    /// The job a run was started under: `nightly` is the nightly run; any other is a name the
    /// operator gave with `--job`.
    public static func job(_ name: String) -> String {
        name == "nightly" ? "夜間処理" : "名前を付けた処理"
    }

    /// The Japanese of a parameter's value where the value is a word (on/off, a choice); nil
    /// for numbers, dates and free text, which read as they are.
    public static func parameterValue(_ key: String, _ value: String) -> String? {
        if value == "on" { return "する" }
        if value == "off" { return "しない" }
        if key.hasPrefix("mail_class.") { return InsurerParameters.MailClass(rawValue: value)?.japanese }
        if key == "employee_validity", value.hasPrefix("fixed:") {
            return LocalDate(String(value.dropFirst(6))).flatMap(JapaneseEra.format).map { "全員同じ終了日（\($0)）" }
        }
        return choices["\(key)=\(value)"]
    }

    static let choices: [String: String] = [
        "employee_validity=rolling": "有効期間の初日から年数で数える",
        "employee_validity=year_end": "年数の最後の年の12月31日まで",
        "residence_cap=expiry": "在留期間の満了日まで",
        "residence_cap=day_after": "在留期間の満了日の翌日まで",
        "elderly_85_reference=fixed": "令和8年8月1日の年齢",
        "elderly_85_reference=renewal": "確認書の期間の初めの年齢（更新ごとに確認）",
        "vendor_encoding=utf-8": "ユニコード",
        "vendor_encoding=cp932": "シフトJIS（マイクロソフト版）",
        "nhi_mixed_household=split": "確認書と通知は別の封筒",
        "nhi_mixed_household=stricter_class": "一つの封筒（厳しい方の郵便種別）",
        "nhi_envelope=household": "世帯に一通（世帯主あて）",
        "nhi_envelope=per_person_to_head": "一人に一通（世帯主あて）",
        "certificate_format=card": "カードサイズ",
        "certificate_format=hagaki": "はがきサイズ",
        "certificate_format=a4": "A4判",
    ]
}
