import KakuninCore
import Testing

@Suite("Calendar dates")
struct LocalDateTests {
    @Test("round trip through day numbers over two centuries")
    func roundTrip() {
        var d = LocalDate("1900-01-01")!
        let end = LocalDate(stored: "2100-12-31")!
        var previous = d.adding(days: -1)
        while d <= end {
            let (y, m, day) = d.civil
            #expect(LocalDate(year: y, month: m, day: day) == d)
            #expect(d.dayNumber == previous.dayNumber + 1)
            previous = d
            d = d.adding(days: 1)
        }
        #expect(LocalDate("1970-01-01")!.dayNumber == 0)
    }

    @Test("month and year steps clamp to the month's end")
    func steps() {
        #expect(LocalDate("2025-01-31")!.adding(months: 1).description == "2025-02-28")
        #expect(LocalDate("2024-01-31")!.adding(months: 1).description == "2024-02-29")
        #expect(LocalDate("2024-02-29")!.adding(years: 1).description == "2025-02-28")
        #expect(LocalDate("2024-02-29")!.adding(years: 4).description == "2028-02-29")
        #expect(LocalDate("2025-03-31")!.adding(months: -1).description == "2025-02-28")
        #expect(LocalDate("2025-12-15")!.adding(months: 2).description == "2026-02-15")
        #expect(LocalDate("2025-02-10")!.endOfMonth.description == "2025-02-28")
        #expect(LocalDate("2025-02-29") == nil)
    }

    @Test("issue 28 item 1: dates kakunin accepts lie in 1900-01-01 … 2099-12-31; stored dates read back whatever they are")
    func acceptedRange() {
        #expect(LocalDate("1900-01-01") != nil && LocalDate("2099-12-31") != nil)
        #expect(LocalDate("1899-12-31") == nil && LocalDate("2100-01-01") == nil && LocalDate("2200-12-31") == nil)
        #expect(LocalDate.problem("2200-12-31") == "outside the dates kakunin accepts (1900-01-01 … 2099-12-31): check the year")
        #expect(LocalDate.problem("2026-13-01") == "not a date in YYYY-MM-DD form")
        #expect(LocalDate.problem("2026-12-01") == nil)
        #expect(LocalDate(stored: "2201-07-31")?.description == "2201-07-31")
        #expect(LocalDate(stored: "1868-01-25")?.description == "1868-01-25")
    }
}
