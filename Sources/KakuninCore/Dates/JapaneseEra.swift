/// Japanese era dates (和暦) for printing: 令和8年11月21日, with 元年 for an era's first year.
public enum JapaneseEra {
    /// Era name and the Gregorian date it began.
    public static let eras: [(name: String, start: LocalDate)] = [
        ("令和", LocalDate(year: 2019, month: 5, day: 1)!),
        ("平成", LocalDate(year: 1989, month: 1, day: 8)!),
        ("昭和", LocalDate(year: 1926, month: 12, day: 25)!),
        ("大正", LocalDate(year: 1912, month: 7, day: 30)!),
        ("明治", LocalDate(year: 1868, month: 1, day: 25)!),
    ]

    /// The era name and year number for a date, or nil before 明治.
    public static func era(of date: LocalDate) -> (name: String, year: Int)? {
        guard let e = eras.first(where: { date >= $0.start }) else { return nil }
        return (e.name, date.year - e.start.year + 1)
    }

    /// `令和8年11月21日`; the first year of an era is written 元年.
    public static func format(_ date: LocalDate) -> String? {
        guard let (name, year) = era(of: date) else { return nil }
        let y = year == 1 ? "元" : String(year)
        return "\(name)\(y)年\(date.month)月\(date.day)日"
    }
}
