import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A synchronous connection to PostgreSQL through libpq.
///
/// Connects from the standard libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
/// PGPASSWORD) or from a connection URL. Every statement that takes a value takes it as a
/// parameter; every `PGresult` is freed before a call returns. Not thread-safe: one connection
/// per thread of work.
public final class Connection {
    private let conn: OpaquePointer

    /// - Parameter url: a libpq connection string or `postgresql://` URL; nil uses the PG* environment.
    public init(url: String? = nil, applicationName: String = "kakunin") throws {
        var conninfo = url ?? ""
        if !conninfo.contains("application_name") {
            if conninfo.hasPrefix("postgres") {
                conninfo += (conninfo.contains("?") ? "&" : "?") + "application_name=\(applicationName)"
            } else {
                conninfo += " application_name=\(applicationName)"
            }
        }
        guard let c = PQconnectdb(conninfo) else {
            throw DatabaseError(kind: .connection, message: "libpq could not allocate a connection")
        }
        if PQstatus(c) != CONNECTION_OK {
            let msg = PQerrorMessage(c).map { String(cString: $0).trimmingTrailingWhitespace() } ?? "unknown"
            PQfinish(c)
            throw DatabaseError(
                kind: .connection, message: msg,
                hint:
                    "Is the server running? Set PGHOST/PGPORT/PGDATABASE/PGUSER or pass --database-url. For the throwaway server: eval \"$(jobs/pg env)\" after jobs/pg start."
            )
        }
        conn = c
        try execute("SET client_encoding = 'UTF8'")
        try execute("SET DateStyle = 'ISO, YMD'")
        try execute("SET search_path = kakunin, public")
        try execute("SET client_min_messages = warning")
    }

    deinit { PQfinish(conn) }

    /// The server's backend process id (useful for leases and logs).
    public var backendPID: Int32 { PQbackendPID(conn) }

    public var isAlive: Bool { PQstatus(conn) == CONNECTION_OK }

    /// Inside a transaction block (BEGIN … COMMIT/ROLLBACK), failed or not.
    public var inTransaction: Bool { PQtransactionStatus(conn) != PQTRANS_IDLE }

    /// Runs one statement with text parameters and returns all rows.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws -> QueryResult {
        let result = try withParams(params) { types, values, count in
            PQexecParams(conn, sql, count, types, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
            return QueryResult(copying: result, statement: sql)
        default:
            throw DatabaseError(result: result, connection: conn, kind: .query, statement: sql)
        }
    }

    /// Runs a statement, ignoring rows.
    public func execute(_ sql: String, _ params: [String?] = []) throws {
        try query(sql, params)
    }

    /// Runs a script of several statements without parameters (migrations).
    public func executeScript(_ sql: String) throws {
        guard let result = PQexec(conn, sql) else {
            throw DatabaseError(result: nil, connection: conn, kind: .query, statement: sql)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            throw DatabaseError(result: result, connection: conn, kind: .query, statement: sql)
        }
    }

    /// Runs `body` inside BEGIN … COMMIT; rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if PQtransactionStatus(conn) != PQTRANS_IDLE { try? execute("ROLLBACK") }
            throw error
        }
    }

    // MARK: COPY

    /// Streams data into `COPY … FROM STDIN`. `body` receives a writer to push bytes through;
    /// returns the number of rows the server loaded.
    @discardableResult
    public func copyIn(_ sql: String, _ body: (CopyInWriter) throws -> Void) throws -> Int {
        let writer = try startCopyIn(sql)
        do {
            try body(writer)
        } catch {
            abortCopyIn()
            throw error
        }
        return try endCopyIn(writer, sql)
    }

    /// Starts `COPY … FROM STDIN` for a caller that ends it itself (`endCopyIn`, or
    /// `abortCopyIn` on failure): several COPYs can then take turns on the connection.
    public func startCopyIn(_ sql: String) throws -> CopyInWriter {
        try startCopy(sql, expecting: PGRES_COPY_IN)
        return CopyInWriter(conn: conn)
    }

    /// Sends what `writer` still holds and ends its COPY; returns the rows the server loaded.
    @discardableResult
    public func endCopyIn(_ writer: CopyInWriter, _ sql: String) throws -> Int {
        do {
            try writer.flush()
        } catch {
            abortCopyIn()
            throw error
        }
        guard PQputCopyEnd(conn, nil) == 1 else {
            throw DatabaseError(result: nil, connection: conn, kind: .copy, statement: sql)
        }
        return try finishCommand(sql)
    }

    /// Ends the COPY in progress as failed (its rows are not loaded, the transaction fails).
    /// The server logs the reason: a fixed text, never the caller's error (which may quote
    /// data, and whose length the protocol limits).
    public func abortCopyIn() {
        _ = PQputCopyEnd(conn, "COPY aborted by the client")
        drainResults()
    }

    /// Streams `COPY … TO STDOUT`; `body` is called with each chunk the server sends (one row
    /// per chunk in text format). Returns the number of rows.
    @discardableResult
    public func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try startCopy(sql, expecting: PGRES_COPY_OUT)
        return try receiveCopyOut(sql, body)
    }

    /// Sends `COPY … TO STDOUT` and returns at once, without waiting for the server's answer
    /// (which comes only with the first rows, after a sort: the whole query): the server
    /// computes while the caller does other work; `receiveCopyOut` then reads the rows.
    public func beginCopyOut(_ sql: String) throws {
        guard PQsendQuery(conn, sql) == 1 else { throw DatabaseError(result: nil, connection: conn, kind: .copy, statement: sql) }
        copyOutSent = true
    }

    private var copyOutSent = false

    /// Reads the rows of a COPY begun with `beginCopyOut` (or started by `copyOut`). If `body`
    /// fails, the server's work is cancelled, the rest of the stream discarded and its error thrown.
    @discardableResult
    public func receiveCopyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let rows = try copyOutRows(sql)
        do {
            while let row = try rows.next() { try body(row) }
        } catch {
            rows.abandon()
            throw error
        }
        return rows.count
    }

    /// The rows of a COPY begun with `beginCopyOut`, one at a time: for a caller that reads two
    /// COPYs at once and takes the next row from either (FactsSource's merge).
    public func copyOutRows(_ sql: String) throws -> CopyOutRows {
        try awaitCopyOut(sql)
        return CopyOutRows(self, sql)
    }

    /// The server's answer to a COPY sent by `beginCopyOut` (its first rows follow it).
    private func awaitCopyOut(_ sql: String) throws {
        guard copyOutSent else { return }
        copyOutSent = false
        guard let result = PQgetResult(conn) else { throw DatabaseError(result: nil, connection: conn, kind: .copy, statement: sql) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_OUT else {
            let error = DatabaseError(result: result, connection: conn, kind: .copy, statement: sql)
            while let more = PQgetResult(conn) { PQclear(more) }
            throw error
        }
    }

    /// One row of a COPY in progress into `buffer` (freed by the caller with `PQfreemem`); its
    /// length, -1 at the end, -2 on an error.
    fileprivate func copyData(_ buffer: inout UnsafeMutablePointer<CChar>?) -> Int32 { PQgetCopyData(conn, &buffer, 0) }

    fileprivate func copyError(_ sql: String) -> DatabaseError { DatabaseError(result: nil, connection: conn, kind: .copy, statement: sql) }

    /// Asks the server to cancel the statement in progress (best effort).
    public func cancel() {
        guard let c = PQgetCancel(conn) else { return }
        var buf = [CChar](repeating: 0, count: 256)
        _ = PQcancel(c, &buf, 256)
        PQfreeCancel(c)
    }

    private func startCopy(_ sql: String, expecting: ExecStatusType) throws {
        guard let result = PQexec(conn, sql) else {
            throw DatabaseError(result: nil, connection: conn, kind: .copy, statement: sql)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == expecting else {
            throw DatabaseError(result: result, connection: conn, kind: .copy, statement: sql)
        }
    }

    fileprivate func finishCommand(_ sql: String) throws -> Int {
        var failure: DatabaseError?
        var rows = 0
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                rows = Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if failure == nil {
                failure = DatabaseError(result: result, connection: conn, kind: .copy, statement: sql)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return rows
    }

    private func drainResults() {
        while let result = PQgetResult(conn) { PQclear(result) }
    }

    private func withParams(
        _ params: [String?],
        _ body: (UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, Int32) -> OpaquePointer?
    ) throws -> OpaquePointer {
        // Keep C strings alive for the duration of the call.
        let cStrings: [UnsafeMutablePointer<CChar>?] = params.map { $0.map { strdup($0) } ?? nil }
        defer { for p in cStrings { free(p) } }
        let values: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
        let result = values.withUnsafeBufferPointer { vp in
            body(nil, params.isEmpty ? nil : vp.baseAddress, Int32(params.count))
        }
        guard let result else {
            throw DatabaseError(result: nil, connection: conn, kind: .query, statement: nil)
        }
        return result
    }
}

/// Pushes bytes into a running `COPY … FROM STDIN`, buffering to 256 KiB per call to libpq.
public final class CopyInWriter {
    private let conn: OpaquePointer
    private var buffer: [UInt8] = []
    private let limit = 1 << 15

    init(conn: OpaquePointer) {
        self.conn = conn
        buffer.reserveCapacity(limit + 4096)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= limit { try flush() }
    }

    public func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= limit { try flush() }
    }

    public func write(_ string: String) throws {
        var s = string
        try s.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// Appends one row in COPY text format, escaping each field; nil is `\N`.
    public func writeRow(_ fields: [String?]) throws {
        CopyText.appendRow(fields, to: &buffer)
        if buffer.count >= limit { try flush() }
    }

    /// Direct access for encoders that append already-escaped bytes.
    public func withBuffer(_ body: (inout [UInt8]) -> Void) throws {
        body(&buffer)
        if buffer.count >= limit { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        let ok = buffer.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        guard ok == 1 else {
            throw DatabaseError(result: nil, connection: conn, kind: .copy, statement: "COPY data")
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// The rows of a finished statement, copied out of the `PGresult` (which is then freed).
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    /// Rows affected for INSERT/UPDATE/DELETE.
    public let affectedRows: Int
    /// The statement, shortened (for the errors of `typedRows`); never parameter values.
    let statement: String?

    init(copying result: OpaquePointer, statement: String?) {
        self.statement = statement.map { String($0.prefix(200)) }
        let nf = PQnfields(result)
        let nt = PQntuples(result)
        columns = (0..<nf).map { String(cString: PQfname(result, $0)) }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(nt))
        for r in 0..<nt {
            rows.append(
                (0..<nf).map { c in
                    PQgetisnull(result, r, c) == 1 ? nil : String(cString: PQgetvalue(result, r, c))
                })
        }
        self.rows = rows
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// The first column of the first row, or nil.
    public var scalar: String? { rows.first?.first ?? nil }

    public func column(_ name: String) -> Int? { columns.firstIndex(of: name) }
}

/// The rows of a COPY … TO STDOUT read one at a time (`Connection.copyOutRows`). A row is valid
/// until the next call; the last call (nil) ends the command and reports its error, if any.
public final class CopyOutRows {
    private let connection: Connection
    private let sql: String
    private var buffer: UnsafeMutablePointer<CChar>?
    private var ended = false
    /// The number of rows the command reports, once `next` has returned nil.
    public private(set) var count = 0

    fileprivate init(_ connection: Connection, _ sql: String) {
        self.connection = connection
        self.sql = sql
    }

    deinit { if let buffer { PQfreemem(buffer) } }

    /// The next row, or nil once the COPY has ended.
    public func next() throws -> UnsafeRawBufferPointer? {
        if let b = buffer {
            PQfreemem(b)
            buffer = nil
        }
        guard !ended else { return nil }
        let n = connection.copyData(&buffer)
        if n > 0, let buffer { return UnsafeRawBufferPointer(start: buffer, count: Int(n)) }
        ended = true
        guard n == -1 else { throw connection.copyError(sql) }
        count = try connection.finishCommand(sql)
        return nil
    }

    /// Stops reading before the end (the caller failed): the server's work is cancelled and
    /// the rest of the stream discarded, so that the connection can be used (or rolled back).
    public func abandon() {
        guard !ended else { return }
        connection.cancel()
        // "canceling statement due to user request": the error this asked for.
        do { while try next() != nil {} } catch {}
    }
}
