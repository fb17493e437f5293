/// One row of a finished statement, read column by column with the type the caller expects.
///
/// A read model says what it expects of each column (`text`, `int`, `optionalText`, …) instead
/// of force-unwrapping `rows[i][j]!`: a NULL where a value was expected, or a value that is not a
/// number, throws a `DatabaseError` (`protocolViolation`) naming the column and the statement,
/// never a crash of the whole process.
public struct ResultRow: Sendable {
    /// The row's values as the server sent them in text form; nil is NULL.
    public let values: [String?]
    let columns: [String]
    let statement: String?

    public init(_ values: [String?], columns: [String], statement: String? = nil) {
        self.values = values
        self.columns = columns
        self.statement = statement.map { String($0.prefix(200)) }
    }

    /// The value of column `i`, which must not be NULL.
    public func text(_ i: Int) throws -> String {
        guard let v = optionalText(i) else { throw problem(i, "is NULL where a value is expected") }
        return v
    }

    /// The value of column `i`; nil for NULL.
    public func optionalText(_ i: Int) -> String? { i < values.count ? values[i] : nil }

    /// The value of column `i` for a message: the text, or `NULL`.
    public func shown(_ i: Int) -> String { optionalText(i) ?? "NULL" }

    public func int(_ i: Int) throws -> Int { try parsed(i, "an integer") { Int($0) } }
    public func int64(_ i: Int) throws -> Int64 { try parsed(i, "an integer") { Int64($0) } }
    public func double(_ i: Int) throws -> Double { try parsed(i, "a number") { Double($0) } }
    /// A boolean column (`t` or `f`).
    public func bool(_ i: Int) throws -> Bool {
        try parsed(i, "a boolean (t or f)") { $0 == "t" ? true : $0 == "f" ? false : nil }
    }

    public func optionalInt(_ i: Int) throws -> Int? { try optionalParsed(i, "an integer") { Int($0) } }
    public func optionalInt64(_ i: Int) throws -> Int64? { try optionalParsed(i, "an integer") { Int64($0) } }
    public func optionalDouble(_ i: Int) throws -> Double? { try optionalParsed(i, "a number") { Double($0) } }

    /// Column `i` read by `parse` (a date, an enum's raw value, …), which must not be NULL and
    /// must parse; `what` names the type in the error.
    public func parsed<T>(_ i: Int, _ what: String, _ parse: (String) -> T?) throws -> T {
        let v = try text(i)
        guard let value = parse(v) else { throw problem(i, "is \"\(v.prefix(40))\", not \(what)") }
        return value
    }

    /// Like `parsed`, but NULL is nil.
    public func optionalParsed<T>(_ i: Int, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard optionalText(i) != nil else { return nil }
        return try parsed(i, what, parse)
    }

    /// The column's name as the statement gave it, with its position.
    func name(_ i: Int) -> String {
        i < columns.count ? "column \(i) (\(columns[i]))" : "column \(i) (the row has \(values.count))"
    }

    func problem(_ i: Int, _ what: String) -> DatabaseError {
        DatabaseError(kind: .protocolViolation, message: "\(name(i)) of the result \(what)", statement: statement)
    }
}

extension QueryResult {
    /// The rows, each read with the type its columns must have (`ResultRow`).
    public var typedRows: [ResultRow] { rows.map { ResultRow($0, columns: columns, statement: statement) } }

    /// The first row, typed; nil when there is none.
    public var firstRow: ResultRow? { rows.first.map { ResultRow($0, columns: columns, statement: statement) } }
}
