import Foundation

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

extension JapaneseEra {
    /// The text with each ISO date in it (`2026-12-06`) written in era form (`令和8年12月6日`);
    /// what is not a date (or falls before 明治) is left as it is.
    public static func eraDates(in text: String) -> String {
        var out = ""
        var rest = text[...]
        while let r = rest.range(of: "[0-9]{4}-[0-9]{2}-[0-9]{2}", options: .regularExpression) {
            out += rest[..<r.lowerBound]
            out += LocalDate(stored: String(rest[r])).flatMap(format) ?? String(rest[r])
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    /// `令和8年12月6日（2026-12-06）`: the era form staff read, the Western date beside it; the
    /// stored text itself when it is not a date.
    public static func withWestern(_ iso: String?) -> String {
        guard let iso, !iso.isEmpty else { return "" }
        guard let d = LocalDate(stored: iso), let era = format(d) else { return iso }
        return "\(era)（\(d)）"
    }

    /// The era form alone (`令和8年12月6日`); the stored text when it is not a date.
    public static func short(_ iso: String?) -> String {
        guard let iso, !iso.isEmpty else { return "" }
        return LocalDate(stored: iso).flatMap(format) ?? iso
    }

    /// A date as staff type it: `2026-12-06`, `20261206`, `2026/12/6` or `令和8年12月6日`
    /// (`元年`, full-width digits and spaces accepted). Nil for anything else, for a day that
    /// does not exist, or for an era year outside the era (令和1年4月30日 is 平成).
    public static func parse(_ text: String) -> LocalDate? {
        let t = normalise(text)
        if let d = LocalDate(t) { return d }
        if t.count == 8, t.allSatisfy(\.isASCII), t.allSatisfy(\.isNumber) {
            return LocalDate("\(t.prefix(4))-\(t.dropFirst(4).prefix(2))-\(t.suffix(2))")
        }
        let slash = t.split(separator: "/", omittingEmptySubsequences: false)
        if slash.count == 3, let y = Int(slash[0]), let m = Int(slash[1]), let d = Int(slash[2]), slash[0].count == 4 {
            return LocalDate(year: y, month: m, day: d).flatMap { LocalDate($0.description) }
        }
        return parseEra(t)
    }

    /// Full-width digits to ASCII, 元 to 1, spaces dropped.
    private static func normalise(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            switch s.value {
            case 0xFF10...0xFF19: out.unicodeScalars.append(Unicode.Scalar(s.value - 0xFF10 + 0x30)!)
            case 0xFF0D, 0x2010, 0x2212: out += "-"
            case 0xFF0F: out += "/"
            case 0x20, 0x3000, 0x09: continue
            default: out.unicodeScalars.append(s)
            }
        }
        return out.replacing("元年", with: "1年")
    }

    private static func parseEra(_ t: String) -> LocalDate? {
        guard let era = eras.first(where: { t.hasPrefix($0.name) }), t.hasSuffix("日") else { return nil }
        let parts = t.dropFirst(era.name.count).dropLast().split(whereSeparator: { $0 == "年" || $0 == "月" }).map { Int($0) }
        guard parts.count == 3, let y = parts[0], let m = parts[1], let d = parts[2], y >= 1,
            let date = LocalDate(year: era.start.year + y - 1, month: m, day: d), date >= era.start,
            let back = self.era(of: date), back.name == era.name
        else { return nil }
        return LocalDate(date.description)
    }
}

extension JapaneseEra {
    /// A Japan-time stamp as stored text (`YYYY-MM-DD HH:MM[:SS]`) for staff:
    /// `令和8年12月6日 12:12（日本時間）`, minutes only; `label: false` leaves the label to a heading.
    public static func time(_ stamp: String?, label: Bool = true) -> String {
        guard let stamp, !stamp.isEmpty else { return "" }
        let parts = stamp.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let d = LocalDate(stored: String(parts[0])), let era = format(d) else { return stamp }
        return "\(era) \(parts[1].prefix(5))" + (label ? "（日本時間）" : "")
    }

}

/// Postal codes as staff read them.
public enum PostalCode {
    /// A postal code as written on mail: `〒123-4567` (seven digits), the text itself otherwise.
    public static func display(_ code: String?) -> String {
        guard let code, !code.isEmpty else { return "" }
        let digits = code.filter { $0.isASCII && $0.isNumber }
        guard digits.count == 7 else { return "〒" + code }
        return "〒\(digits.prefix(3))-\(digits.suffix(4))"
    }
}
