import KakuninCore
import KakuninStore

extension ResultRow {
    /// A `date` column (`YYYY-MM-DD`, as the connection's DateStyle sends it), which must not be NULL.
    public func date(_ i: Int) throws -> LocalDate { try parsed(i, "a date") { LocalDate(stored: $0) } }

    /// A `date` column; nil for NULL.
    public func optionalDate(_ i: Int) throws -> LocalDate? { try optionalParsed(i, "a date") { LocalDate(stored: $0) } }
}
