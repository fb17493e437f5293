import KakuninCore
import Testing

@Suite("Japanese age law and era dates")
struct JapaneseDateTests {
    @Test(
        "age is attained the day before the birthday",
        arguments: [
            ("1957-01-01", 70, "2026-12-31"), ("1957-01-02", 70, "2027-01-01"),
            ("1956-02-29", 70, "2026-02-28"), ("1956-02-29", 72, "2028-02-28"), ("1952-03-01", 75, "2027-02-28"),
            ("2024-02-29", 1, "2025-02-28"), ("2000-03-01", 24, "2024-02-29"),
        ])
    func attains(_ born: String, _ age: Int, _ on: String) {
        #expect(JapaneseAge.attains(age, bornOn: LocalDate(born)!).description == on)
    }

    @Test("age on a date")
    func ageOn() {
        let b = LocalDate("1941-08-02")!
        #expect(JapaneseAge.age(on: LocalDate("2026-07-31")!, bornOn: b) == 84)
        #expect(JapaneseAge.age(on: LocalDate("2026-08-01")!, bornOn: b) == 85)
        #expect(JapaneseAge.age(on: LocalDate("2026-07-31")!, bornOn: LocalDate("2026-08-01")!) == 0)
    }

    @Test(
        "era dates, with 元年 for an era's first year",
        arguments: [
            ("2026-11-21", "令和8年11月21日"), ("2019-05-01", "令和元年5月1日"), ("2019-04-30", "平成31年4月30日"),
            ("1989-01-08", "平成元年1月8日"), ("1989-01-07", "昭和64年1月7日"), ("1926-12-25", "昭和元年12月25日"),
            ("1926-12-24", "大正15年12月24日"), ("1912-07-30", "大正元年7月30日"), ("1912-07-29", "明治45年7月29日"),
            ("1868-01-25", "明治元年1月25日"),
        ])
    func era(_ date: String, _ text: String) {
        #expect(JapaneseEra.format(LocalDate(stored: date)!) == text)
    }

    @Test("before 明治 there is no era form")
    func beforeMeiji() { #expect(JapaneseEra.format(LocalDate(stored: "1868-01-24")!) == nil) }
}
