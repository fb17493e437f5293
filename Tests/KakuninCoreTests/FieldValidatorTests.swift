import Testing
import KakuninCore

@Suite("Feed field rules")
struct FieldValidatorTests {
    func check(_ value: String, _ kind: FieldKind, required: Bool = false) -> String? {
        var v = value
        return v.withUTF8 { FieldValidator.check($0, FeedColumn("c", kind, required: required)) }
    }

    @Test("dates", arguments: [
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
        #expect(check("𠮷田𠮷田𠮷", .text(maxLength: 5)) == nil)
        #expect(check("𠮷田𠮷田𠮷田", .text(maxLength: 5)) == "longer than 5 characters")
        #expect(check("a\tb", .text(maxLength: 5)) == "contains a control character")
    }

    @Test("Individual Number shapes", arguments: [
        ("123456789012", true), ("1234-5678-9012", true), ("1234 5678 9012", true),
        ("12345678901", false), ("1234567890123", false), ("1234-5678 9012", false), ("M23456789012", false),
    ])
    func individualNumber(_ value: String, _ looks: Bool) {
        var v = value
        #expect(v.withUTF8 { FieldValidator.looksLikeIndividualNumber($0) } == looks)
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
