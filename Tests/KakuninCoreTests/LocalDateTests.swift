import Testing
import KakuninCore

@Suite("Calendar dates")
struct LocalDateTests {
    @Test("round trip through day numbers over two centuries")
    func roundTrip() {
        var d = LocalDate("1900-01-01")!
        let end = LocalDate("2100-12-31")!
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
}
