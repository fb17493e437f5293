import CLibPQ

/// An error from PostgreSQL or from talking to it: what failed, the server's SQLSTATE, message
/// and detail when the server sent them, and a hint on how to fix it.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// Could not connect (server down, wrong socket, bad credentials).
        case connection
        /// The server rejected a statement.
        case query
        /// COPY protocol failure.
        case copy
        /// The result did not have the shape the caller expected.
        case protocolViolation
    }

    public var kind: Kind
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The statement that failed, shortened; never parameter values.
    public var statement: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil,
        hint: String? = nil, statement: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.statement = statement
    }

    /// Builds an error from a failed result (the result is not freed here).
    init(result: OpaquePointer?, connection: OpaquePointer?, kind: Kind, statement: String?) {
        func field(_ code: Int32) -> String? {
            guard let result, let p = PQresultErrorField(result, code) else { return nil }
            return String(cString: p)
        }
        var message = field(Int32(UInt8(ascii: "M")))
        if message == nil, let connection, let p = PQerrorMessage(connection) {
            message = String(cString: p).trimmingTrailingWhitespace()
        }
        // A connection that dropped mid-statement is a connection failure, whatever the caller was doing.
        let lost = connection.map { PQstatus($0) == CONNECTION_BAD } ?? false
        self.init(
            kind: lost ? .connection : kind,
            sqlState: field(Int32(UInt8(ascii: "C"))),
            message: message ?? "unknown error",
            detail: field(Int32(UInt8(ascii: "D"))),
            hint: field(Int32(UInt8(ascii: "H"))),
            statement: statement.map { String($0.prefix(200)) })
    }

    /// True for SQLSTATE class 08 (connection exception) and for failures to connect.
    public var isConnectionFailure: Bool {
        kind == .connection || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01"
    }

    public var description: String {
        var s = "database error"
        if let sqlState { s += " [SQLSTATE \(sqlState)]" }
        s += ": \(message)"
        if let detail { s += "\n  detail: \(detail)" }
        if let hint { s += "\n  hint: \(hint)" }
        if let statement { s += "\n  statement: \(statement)" }
        return s
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
