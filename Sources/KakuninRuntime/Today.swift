import Foundation
import KakuninCore

extension LocalDate {
    /// Today's date in Japan (the insurers' business day), whatever the machine's zone.
    public static func todayInJapan(_ now: Date = Date()) -> LocalDate {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "Asia/Tokyo")!
        let c = cal.dateComponents([.year, .month, .day], from: now)
        return LocalDate(year: c.year!, month: c.month!, day: c.day!)!
    }
}
