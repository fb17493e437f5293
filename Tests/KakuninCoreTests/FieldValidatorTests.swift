import KakuninCore
import Testing

@Suite("Feed field rules")
struct FieldValidatorTests {
    func check(_ value: String, _ kind: FieldKind, required: Bool = false) -> String? {
        var v = value
        return v.withUTF8 { FieldValidator.check($0, FeedColumn("c", kind, required: required)) }
    }

    @Test(
        "dates",
        arguments: [
            ("2024-02-29", true), ("2025-02-29", false), ("2025-02-30", false), ("2025-13-01", false),
            ("2025-1-01", false), ("2025/01/01", false), ("1867-12-31", false), ("2025-12-31", true), ("", true),
        ])
    func dates(_ value: String, _ ok: Bool) {
        #expect((check(value, .date) == nil) == ok)
    }

    @Test("required values", arguments: [FieldKind.date, .boolean, .insurerNumber, .text(maxLength: 5)])
    func required(_ kind: FieldKind) {
        #expect(check("", kind, required: true) == "required value is missing")
    }

    @Test("insurer numbers are 6 or 8 digits")
    func insurerNumbers() {
        #expect(check("131016", .insurerNumber) == nil)
        #expect(check("39131015", .insurerNumber) == nil)
        #expect(check("1310160", .insurerNumber) != nil)
        #expect(check("13101a", .insurerNumber) != nil)
    }

    @Test("enumerations, booleans, language tags, identifiers, kana, lengths")
    func others() {
        #expect(check("nhi", .oneOf(["nhi", "elderly"])) == nil)
        #expect(check("NHI", .oneOf(["nhi", "elderly"])) == "unknown value; expected one of nhi, elderly")
        #expect(check("true", .boolean) == nil && check("yes", .boolean) != nil)
        for ok in ["ja", "en", "pt-BR", "zh-Hant-TW", "fil"] { #expect(check(ok, .languageTag) == nil, "\(ok)") }
        for bad in ["j", "english", "en-", "-en", "e1"] { #expect(check(bad, .languageTag) != nil, "\(bad)") }
        #expect(check("M-0001_a", .identifier(maxLength: 20)) == nil)
        #expect(check("M 0001", .identifier(maxLength: 20)) != nil)
        #expect(check("ヤマダ　タロウ", .kana(maxLength: 20)) == nil)
        #expect(check("グエン・ヴァン", .kana(maxLength: 20)) == nil)
        #expect(check("やまだ", .kana(maxLength: 20)) != nil)
    }

    @Test("kana readings at the edges of the allowed range, checked on the bytes")
    func kanaEdges() {
        // ァ U+30A1 and ー U+30FC are the first and last allowed; ゠ U+30A0 and ヽ U+30FD are not.
        for ok in ["ァ", "ヺ", "ー", "・", "ヴ", "ア イ", "　ア", ""] { #expect(check(ok, .kana(maxLength: 20)) == nil, "\(ok)") }
        for bad in ["゠", "ヽ", "ｶﾀｶﾅ", "カナa", "カ\u{3099}", "亜", "タロウ!"] {
            #expect(check(bad, .kana(maxLength: 20)) == "reading must be full-width katakana", "\(bad)")
        }
        // A cut-off or broken sequence is not katakana (never a crash).
        for bytes: [UInt8] in [[0xE3, 0x82], [0xE3], [0xE3, 0x82, 0x41], [0xE3, 0x41, 0xA2]] {
            let r = bytes.withUnsafeBufferPointer { FieldValidator.check($0, FeedColumn("k", .kana(maxLength: 20))) }
            #expect(r == "reading must be full-width katakana", "\(bytes)")
        }
        // Characters, not bytes, count toward the limit: 3 kana and a space are 4.
        #expect(check("ア イウ", .kana(maxLength: 4)) == nil)
        #expect(check("ア イウエ", .kana(maxLength: 4)) == "longer than 4 characters")
        #expect(check("𠮷田𠮷田𠮷", .text(maxLength: 5)) == nil)
        #expect(check("𠮷田𠮷田𠮷田", .text(maxLength: 5)) == "longer than 5 characters")
        #expect(check("a\tb", .text(maxLength: 5))?.hasPrefix("contains a control character") == true)
    }

    // 123456789018 and 987654321093 carry a valid check digit; 123456789012 does not.
    @Test(
        "Individual Number: whole values, full-width, separators, inside text (issue 9 item 12)",
        arguments: [
            ("123456789012", true), ("1234-5678-9012", true), ("1234 5678 9012", true), (" 123456789012", true),
            ("１２３４５６７８９０１２", true), ("１２３４－５６７８－９０１２", true), ("\u{3000}123456789012\u{3000}", true),
            ("個人番号123456789018", true), ("番号: 9876 5432 1093 です", true), ("個人番号１２３４５６７８９０１８", true),
            ("東京都千代田区1丁目 987654321093号室", true),
            // Not an Individual Number: wrong length, wrong check digit inside text, other numbers.
            ("12345678901", false), ("1234567890123", false), ("M23456789012", false),
            ("電話 123456789012", false), ("03-1234-5678", false), ("090-1234-5678", false),
            ("東京都千代田区千代田1丁目1番1号", false), ("2026-11-21", false), ("口座 1234567", false),
            ("1234-5678-9012-3456", false),
        ])
    func individualNumber(_ value: String, _ found: Bool) {
        #expect(IndividualNumber.appears(in: value) == found, "\(value)")
    }

    // 123456789018 carries a valid check digit; 123456789012 does not.
    @Test(
        "Individual Number in disguise: circled and other NFKC digits, kanji numerals, / and _ separators (issue 28 item 19)",
        arguments: [
            // The whole value is one 12-digit number, whatever its check digit.
            ("①②③④⑤⑥⑦⑧⑨⓪①②", true), ("⑫③④⑤⑥⑦⑧⑨⓪①②", true), ("⑩⑪⑫⑬⑭⑮", true), ("㉑㉒㉓㉔㊱㊿", true),
            ("¹²³⁴⁵⁶⁷⁸⁹⁰¹²", true), ("₁₂₃₄₅₆₇₈₉₀₁₂", true), ("❶❷❸❹❺❻❼❽❾⓿❶❷", true), ("⒈⒉⒊⒋⒌⒍⒎⒏⒐⓪⒈⒉", true),
            ("一二三四五六七八九〇一二", true), ("壱弐参四五六七八九零一二", true), ("壹貳參四五六七八九〇一二", true),
            ("㊀㊁㊂㈣㈤㈥㈦㈧㈨〇一二", true),
            ("1234/5678/9012", true), ("1234_5678_9012", true), ("１２３４／５６７８／９０１２", true), ("１２３４＿５６７８＿９０１２", true),
            ("一二三四-五六七八-九〇一二", true), ("①②③④ ⑤⑥⑦⑧ ⑨⓪①②", true),
            // Inside text: refused when the check digit is right.
            ("番号 一二三四五六七八九〇一八", true), ("個人番号①②③④⑤⑥⑦⑧⑨⓪①⑧です", true), ("ID 1234/5678/9018", true),
            ("番号 一二三四五六七八九〇一二", false), ("個人番号①②③④⑤⑥⑦⑧⑨⓪①②です", false),
            // Not an Individual Number.
            ("千代田一丁目二番三号", false), ("東京都千代田区千代田一丁目一番一号", false), ("二〇二六年一一月二一日", false),
            ("2026/11/21", false), ("M_0001", false), ("①②③④⑤⑥⑦⑧⑨⓪①", false), ("一二三四五六七八九〇一二三", false),
            ("Ⅰ Ⅱ Ⅲ Ⅳ Ⅴ Ⅵ Ⅶ Ⅷ Ⅸ Ⅹ Ⅺ Ⅻ", false), ("½½½½½½½½½½½½", false),
        ])
    func individualNumberDisguises(_ value: String, _ found: Bool) {
        #expect(IndividualNumber.appears(in: value) == found, "\(value)")
    }

    @Test(
        "text fields: C1 controls and bidirectional controls are control characters; other characters pass (issue 28 item 19)",
        arguments: [
            ("東京都\u{80}千代田区", "U+0080"), ("東京都\u{9B}千代田区", "U+009B"), ("東京都\u{9F}", "U+009F"),
            ("山田\u{202E}", "U+202E"), ("山田\u{202A}", "U+202A"), ("\u{2066}メゾン\u{2069}", "U+2066"), ("メゾン\u{2069}", "U+2069"),
            ("東京都\u{A0}千代田区", nil), ("Müller", nil), ("①丁目", nil), ("東京都―千代田区", nil), ("山田\u{200B}", nil), ("山田\u{2065}", nil),
        ] as [(String, String?)])
    func hiddenControls(_ value: String, _ codePoint: String?) {
        let reason = check(value, .text(maxLength: 50))
        if let codePoint {
            #expect(reason?.hasPrefix("contains the control character \(codePoint)") == true, "\(value): \(reason ?? "nil")")
        } else {
            #expect(reason == nil, "\(value): \(reason ?? "nil")")
        }
    }

    @Test("Individual Number check digit (個人番号の検査用数字)")
    func checkDigit() {
        #expect(IndividualNumber.checkDigit([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]) == 8)
        #expect(IndividualNumber.checkDigit([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9]) == 3)
        #expect(IndividualNumber.isValid([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 8]))
        #expect(!IndividualNumber.isValid([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]))
    }

    @Test(
        "the Individual Number's cheap exit counts every kanji numeral and circled number of U+3000–U+9FFF, and nothing else there (a page without a numeral is skipped unread)"
    )
    func digitCandidatesOfEveryCJKCharacter() {
        // The numerals as SPEC and IndividualNumber name them, written out here on their own.
        var expected: [UInt32: Int] = [:]
        for c in "〇零一壱壹二弐貳三参參四五六七八九".unicodeScalars { expected[c.value] = 1 }
        for v in UInt32(0x3220)...0x3228 { expected[v] = 1 }  // ㈠…㈨
        for v in UInt32(0x3280)...0x3288 { expected[v] = 1 }  // ㊀…㊈
        for v in UInt32(0x3251)...0x325F { expected[v] = 2 }  // ㉑…㉟
        for v in UInt32(0x32B1)...0x32BF { expected[v] = 2 }  // ㊱…㊿
        var wrong: [String] = []
        for v in UInt32(0x3000)...0x9FFF {
            let bytes: [UInt8] = [0xE0 | UInt8(v >> 12), 0x80 | UInt8((v >> 6) & 0x3F), 0x80 | UInt8(v & 0x3F)]
            let counted = bytes.withUnsafeBufferPointer { FieldBytes($0).digitCandidates }
            if counted != expected[v, default: 0] { wrong.append("U+\(String(v, radix: 16, uppercase: true)): \(counted)") }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(10))")
        // Twelve numerals spread over their pages still reach the full scan and are refused.
        #expect(IndividualNumber.appears(in: "一二三四五六七八九〇一八"))
        #expect(!IndividualNumber.appears(in: "フジワラ　イサム"))
    }

    @Test("text fields: NUL, line separators, spreadsheet formulas (issue 9 items 8 and 15)")
    func textRules() {
        #expect(check("山田\u{0}", .text(maxLength: 20))?.contains("NUL") == true)
        #expect(check("2026-01-01\u{0}", .date)?.contains("NUL") == true)
        #expect(check("東京都\u{2028}千代田区", .text(maxLength: 50))?.contains("U+2028") == true)
        #expect(check("東京都\u{2029}千代田区", .text(maxLength: 50))?.contains("U+2029") == true)
        #expect(check("東京都\u{85}千代田区", .text(maxLength: 50))?.contains("U+85") == true)
        for f in ["=HYPERLINK(\"x\")", "+81", "-1+1", "@SUM(A1)"] {
            #expect(check(f, .text(maxLength: 50))?.contains("formula") == true, "\(f)")
        }
        #expect(check("1-2-3 ハイツ=101", .text(maxLength: 50)) == nil)
        #expect(FieldValidator.storable("a\u{0}b", limit: 10) == "a\u{FFFD}b")
    }

    @Test("Individual Number headers")
    func individualNumberHeaders() {
        for h in ["my_number", "MyNumber", "individual_number", "kojin_bango", "個人番号", "マイナンバー"] {
            #expect(FieldValidator.isIndividualNumberHeader(h), "\(h)")
        }
        #expect(!FieldValidator.isIndividualNumberHeader("number"))
        #expect(!FieldValidator.isIndividualNumberHeader("member_id"))
    }

    @Test("UTF-8 validation")
    func utf8() {
        let good: [[UInt8]] = [Array("𠮷田 髙橋 👨‍👩‍👧".utf8), [0x41]]
        let bad: [[UInt8]] = [[0x8E, 0x52], [0xE3, 0x81], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]
        for g in good { #expect(g.withUnsafeBufferPointer { FieldValidator.isValidUTF8($0) }) }
        for b in bad { #expect(!b.withUnsafeBufferPointer { FieldValidator.isValidUTF8($0) }, "\(b)") }
    }
}
