/// A calendar date without time or zone (Japan's business dates), stored as days since
/// 1970-01-01 so comparisons and day arithmetic are integer operations.
public struct LocalDate: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// Days since 1970-01-01.
    public let dayNumber: Int32

    public init(dayNumber: Int32) { self.dayNumber = dayNumber }

    /// A real calendar date, or nil (e.g. 2025-02-29).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= LocalDate.daysIn(year: year, month: month) else { return nil }
        dayNumber = Int32(LocalDate.days(year: year, month: month, day: day))
    }

    /// Parses `YYYY-MM-DD`: a date kakunin accepts (within `DateField.accepted`).
    public init?(_ iso: String) {
        var s = iso
        guard let d = s.withUTF8({ DateField.parse($0) }) else { return nil }
        self = d
    }

    /// Parses `YYYY-MM-DD` as stored in the database (any year 0001–9999).
    public init?(stored iso: String) {
        var s = iso
        guard let d = s.withUTF8({ DateField.parseStored($0) }) else { return nil }
        self = d
    }

    /// Why `iso` is not a date kakunin accepts (wrong form, or outside 1900–2099), or nil.
    public static func problem(_ iso: String) -> String? {
        var s = iso
        return s.withUTF8 { DateField.problem($0) }
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool { a.dayNumber < b.dayNumber }

    public var year: Int { civil.y }
    public var month: Int { civil.m }
    public var day: Int { civil.d }

    /// (year, month, day), from Howard Hinnant's days-to-civil algorithm.
    public var civil: (y: Int, m: Int, d: Int) {
        let z = Int(dayNumber) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public func adding(days n: Int) -> LocalDate { LocalDate(dayNumber: dayNumber + Int32(n)) }

    /// Same day `n` months on; a day the target month lacks becomes its last day (01-31 + 1 month = 02-28/29).
    public func adding(months n: Int) -> LocalDate {
        let (y, m, d) = civil
        let total = y * 12 + (m - 1) + n
        let ny = total >= 0 ? total / 12 : (total - 11) / 12
        let nm = total - ny * 12 + 1
        return LocalDate(year: ny, month: nm, day: min(d, LocalDate.daysIn(year: ny, month: nm)))!
    }

    /// Same day `n` years on; 29 February becomes 28 February in a common year.
    public func adding(years n: Int) -> LocalDate { adding(months: 12 * n) }

    /// Last day of this date's month.
    public var endOfMonth: LocalDate {
        let (y, m, _) = civil
        return LocalDate(year: y, month: m, day: LocalDate.daysIn(year: y, month: m))!
    }

    /// Days from `self` to `other` (positive when other is later).
    public func days(until other: LocalDate) -> Int { Int(other.dayNumber - dayNumber) }

    public var description: String {
        let (y, m, d) = civil
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let d = LocalDate(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a date: \(s)"))
        }
        self = d
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
