/// Age under Japanese law (年齢計算ニ関スル法律): a person attains an age at the end of the day
/// before the birthday, i.e. on the day before it. Someone born on 29 February has the
/// anniversary on 1 March in a common year, so attains the age on 28 February.
public enum JapaneseAge {
    /// The `years`-th birthday anniversary (29 February → 1 March in a common year).
    public static func anniversary(of birth: LocalDate, years: Int) -> LocalDate {
        let (y, m, d) = birth.civil
        let ty = y + years
        if m == 2 && d == 29 && !LocalDate.isLeap(ty) { return LocalDate(year: ty, month: 3, day: 1)! }
        return LocalDate(year: ty, month: m, day: d)!
    }

    /// The day on which the person legally attains `years` of age.
    public static func attains(_ years: Int, bornOn birth: LocalDate) -> LocalDate {
        anniversary(of: birth, years: years).adding(days: -1)
    }

    /// Legal age on `date`.
    public static func age(on date: LocalDate, bornOn birth: LocalDate) -> Int {
        let (by, _, _) = birth.civil
        var years = date.year - by
        if years < 0 { return -1 }
        while years > 0 && attains(years, bornOn: birth) > date { years -= 1 }
        return years
    }
}
