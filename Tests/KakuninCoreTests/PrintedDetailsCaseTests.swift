import Testing

@testable import KakuninCore

/// SPEC.md 5.1 [2026-12]: what a certificate or an eligibility notice prints beyond the identity
/// fields: the copay line, the 特別療養 variant and the optional entries (`PrintedDetails`).
@Suite("Printed fields: SPEC.md 5.1 — copay line, 特別療養 variant, optional entries")
struct PrintedDetailsCaseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let member: PrintedMember
        var document: PrintedDetails.Document = .certificate
        /// The document's first day (S) and the day it is issued.
        var from: String? = "2026-12-01"
        var issued = "2026-11-21"
        // Expected.
        var title = "資格確認書"
        var variant: PrintedDetails.Variant = .standard
        var copay: String?
        var copayFrom: String?
        var limit = "＊"
        var limitFrom: String?
        var longStay: String?
        var disease = "＊"
        var testDescription: String { name }
    }

    static func member(_ scheme: Scheme, born: String, ratio: Int? = 30, _ edit: (inout PrintedMember) -> Void = { _ in }) -> PrintedMember
    {
        var m = PrintedMember(scheme: scheme, birthDate: d(born), copayRatio: ratio)
        edit(&m)
        return m
    }

    static let copayCases: [Case] = [
        Case(
            name: "nhi aged 69: 法定負担割合のとおり, no ratio and no 発効期日",
            member: member(.nhi, born: "1957-06-10"), copay: "法定負担割合のとおり"),
        Case(
            name: "nhi aged 69 with a copay_effective_on on record: still 法定負担割合のとおり",
            member: member(.nhi, born: "1957-06-10") { $0.copayEffectiveOn = d("2026-08-01") }, copay: "法定負担割合のとおり"),
        Case(
            name: "nhi, attains 70 on the issue day (70th birthday the next day): 2割 from valid_from",
            member: member(.nhi, born: "1956-11-22", ratio: 20), copay: "2割", copayFrom: "2026-12-01"),
        Case(
            name: "nhi, 70th birthday two days after the issue day: still under 70, 法定負担割合のとおり",
            member: member(.nhi, born: "1956-11-23", ratio: 20), copay: "法定負担割合のとおり"),
        Case(
            name: "nhi aged 70 with copay_effective_on: its 発効期日 is that date",
            member: member(.nhi, born: "1956-01-10", ratio: 20) { $0.copayEffectiveOn = d("2026-08-01") }, copay: "2割",
            copayFrom: "2026-08-01"),
        Case(
            name: "nhi aged 74 (3割, 現役並み): 3割 from valid_from",
            member: member(.nhi, born: "1952-03-01", ratio: 30), copay: "3割", copayFrom: "2026-12-01"),
        Case(
            name: "elderly aged 80: 1割 with copay_effective_on",
            member: member(.elderly, born: "1946-05-05", ratio: 10) { $0.copayEffectiveOn = d("2026-08-01") }, copay: "1割",
            copayFrom: "2026-08-01"),
        Case(
            name: "elderly without a ratio on record: no copay line",
            member: member(.elderly, born: "1946-05-05", ratio: nil)),
        Case(
            name: "employee aged 45: no copay line",
            member: member(.employee, born: "1981-04-01")),
        Case(
            name: "employee aged 72 (no 75 cap yet): still no copay line",
            member: member(.employee, born: "1954-04-01")),
        Case(
            name: "eligibility notice of nhi 70–74 with a period: ratio, 発効期日 = its first day, no optional entries",
            member: member(.nhi, born: "1956-12-15", ratio: 20), document: .eligibilityNotice, from: "2027-01-01", issued: "2026-11-21",
            title: "資格情報のお知らせ", copay: "2割", copayFrom: "2027-01-01", limit: "", disease: ""),
        Case(
            name: "eligibility notice of elderly without a period: 発効期日 only from copay_effective_on",
            member: member(.elderly, born: "1946-05-05", ratio: 10), document: .eligibilityNotice, from: nil,
            title: "資格情報のお知らせ", copay: "1割", limit: "", disease: ""),
    ]

    static let variantCases: [Case] = [
        Case(
            name: "special_care household, head aged 45: 資格確認書（特別療養）",
            member: member(.nhi, born: "1981-04-01") { $0.specialCare = true },
            title: "資格確認書（特別療養）", variant: .specialCare, copay: "法定負担割合のとおり"),
        Case(
            name: "special_care household, child aged 10: never affected, 資格確認書",
            member: member(.nhi, born: "2016-04-01") { $0.specialCare = true }, copay: "法定負担割合のとおり"),
        Case(
            name: "special_care household, 18th birthday the day after S (attains 18 on S): 特別療養",
            member: member(.nhi, born: "2008-12-02") { $0.specialCare = true },
            title: "資格確認書（特別療養）", variant: .specialCare, copay: "法定負担割合のとおり"),
        Case(
            name: "special_care household, 18th birthday two days after S: under 18 on S, standard",
            member: member(.nhi, born: "2008-12-03") { $0.specialCare = true }, copay: "法定負担割合のとおり"),
        Case(
            name: "special_care, under 18 on the issue day but 18 on S: S decides, 特別療養",
            member: member(.nhi, born: "2008-11-25") { $0.specialCare = true }, from: "2026-12-01", issued: "2026-11-21",
            title: "資格確認書（特別療養）", variant: .specialCare, copay: "法定負担割合のとおり"),
        Case(
            name: "eligibility notice of a special_care member: 資格情報のお知らせ（特別療養）",
            member: member(.nhi, born: "1981-04-01") { $0.specialCare = true }, document: .eligibilityNotice, from: nil,
            title: "資格情報のお知らせ（特別療養）", variant: .specialCare, copay: "法定負担割合のとおり", limit: "", disease: ""),
        Case(
            name: "special_care false: standard",
            member: member(.nhi, born: "1981-04-01") { $0.specialCare = false }, copay: "法定負担割合のとおり"),
    ]

    static let entryCases: [Case] = [
        Case(
            name: "no optional entries: every one ＊",
            member: member(.nhi, born: "1981-04-01"), copay: "法定負担割合のとおり"),
        Case(
            name: "限度区分 with its 発効期日, 長期入院該当日 and 特定疾病区分",
            member: member(.nhi, born: "1981-04-01") {
                $0.limitCategory = "区オ（境）"
                $0.limitEffectiveOn = d("2026-08-01")
                $0.longStayOn = d("2026-03-15")
                $0.specificDisease = "B"
            }, copay: "法定負担割合のとおり", limit: "区オ（境）", limitFrom: "2026-08-01", longStay: "2026-03-15", disease: "B"),
        Case(
            name: "限度区分 without a 発効期日: the date is ＊",
            member: member(.elderly, born: "1946-05-05", ratio: 10) { $0.limitCategory = "区分Ⅱ" },
            copay: "1割", copayFrom: "2026-12-01", limit: "区分Ⅱ"),
        Case(
            name: "only 特定疾病区分: the others ＊",
            member: member(.employee, born: "1981-04-01") { $0.specificDisease = "A" }, disease: "A"),
        Case(
            name: "a 発効期日 without a 限度区分 is not printed",
            member: member(.nhi, born: "1981-04-01") { $0.limitEffectiveOn = d("2026-08-01") }, copay: "法定負担割合のとおり"),
    ]

    @Test("copay line", arguments: copayCases) func copay(_ c: Case) { check(c) }
    @Test("特別療養 variant", arguments: variantCases) func variant(_ c: Case) { check(c) }
    @Test("optional entries", arguments: entryCases) func entries(_ c: Case) { check(c) }

    func check(_ c: Case) {
        let p = PrintedDetails(c.member, c.document, validFrom: c.from.map(d), issuedOn: d(c.issued))
        #expect(p.title == c.title)
        #expect(p.variant == c.variant)
        #expect(p.copayText == c.copay)
        #expect(p.copayEffectiveOn == c.copayFrom.map(d))
        #expect(p.copayRatio == (c.copay?.hasSuffix("割") == true ? c.member.copayRatio : nil))
        if c.document == .certificate {
            #expect(
                p.entries
                    == PrintedDetails.Entries(
                        limitCategory: c.limit, limitEffectiveOn: c.limitFrom.map(d),
                        longStayOn: c.longStay.map(d), specificDisease: c.disease))
        } else {
            #expect(p.entries == nil)
        }
    }

    @Test("printed lines: the copay with its 発効期日 in era form, the entries with 「＊」")
    func lines() {
        let m = Self.member(.elderly, born: "1946-05-05", ratio: 10) {
            $0.limitCategory = "区分Ⅰ"
            $0.limitEffectiveOn = d("2026-08-01")
        }
        let p = PrintedDetails(m, .certificate, validFrom: d("2026-12-01"), issuedOn: d("2026-11-21"))
        #expect(
            p.lines.map { "\($0.label)=\($0.text)" } == [
                "一部負担金の割合=1割（発効期日 令和8年12月1日）", "限度区分=区分Ⅰ（発効期日 令和8年8月1日）", "長期入院該当日=＊", "特定疾病区分=＊",
            ])
    }
}
