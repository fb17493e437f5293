import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore

enum KakuninVersion {
    static let string = "0.1.0"
}

/// Options every command that talks to PostgreSQL takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string or postgresql:// URL (default: the PG* environment).")
    var url: String?

    /// The connection string in force (nil: the PG* environment).
    var resolvedURL: String? { url ?? ProcessInfo.processInfo.environment["KAKUNIN_DATABASE_URL"] }

    func connect() throws -> Connection {
        do {
            return try Connection(url: resolvedURL)
        } catch let e as DatabaseError {
            throw OperatorError(
                .databaseUnavailable, "cannot connect to PostgreSQL: \(e.message)",
                fix: e.hint)
        }
    }
}

extension Identifier {
    /// An option's text as this identifier: checked once here, by the feeds' rule for the
    /// column, and carried typed from then on. A malformed value is a usage error (exit 64,
    /// like a malformed date), said with the rule; a well-formed one the database does not know
    /// is "not found" (66) where the command looks it up.
    static func argument(_ text: String) throws -> Self {
        guard let value = Self(text) else {
            throw ValidationError("\(Self.problem(text) ?? "malformed") (got \"\(text)\")")
        }
        return value
    }
}

/// Runs a command body, printing errors for the operator and exiting with the documented status.
func runReporting(_ body: () throws -> ExitStatus) throws {
    let status: ExitStatus
    do {
        status = try body()
    } catch let e as OperatorError {
        printError("kakunin: \(e)")
        status = e.status
    } catch let e as DatabaseError where e.sqlState == "42501" {
        printError("kakunin: \(e.message)\n  fix: \(permissionFix)")
        status = .noPermission
    } catch let e as DatabaseError {
        printError("kakunin: \(e)")
        status = e.isConnectionFailure ? .databaseUnavailable : .internalError
    } catch let e as FileWriteError {
        printError("kakunin: \(e)")
        status = e.isIOError ? .ioError : .cannotCreate
    } catch let e as MigrationError {
        printError("kakunin: \(e)")
        status = .badConfiguration
    } catch let e as FileReadError {
        printError("kakunin: \(e)")
        status = .fileRefused
    } catch {
        printError("kakunin: internal error: \(error)")
        status = .internalError
    }
    if status != .success { throw ExitCode(status.rawValue) }
}

/// What to do when the database role lacks a right (SQLSTATE 42501).
let permissionFix = """
    connect as a login role granted the kakunin group role this command needs: kakunin_batch for \
    import and run, kakunin_staff for counter work, kakunin_auditor to read (a DBA runs e.g. \
    GRANT kakunin_batch TO <login>;), or pass --database-url for such a role
    """

func printError(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

func hostName() -> String {
    ProcessInfo.processInfo.hostName
}

/// Prints a header and rows as tab-separated lines (NULL as empty), for operators and scripts.
func printTable(_ header: [String], _ rows: [[String?]]) {
    print(header.joined(separator: "\t"))
    for r in rows { print(r.map { $0 ?? "" }.joined(separator: "\t")) }
}

/// Writes a command's text to `output` (owner-only, atomically) or to standard output.
func emit(_ text: String, to output: String?) throws {
    try emit(to: output) { try $0(text) }
}

/// The same for text produced in pieces: `produce` hands each piece to the sink it is given.
func emit(to output: String?, _ produce: ((String) throws -> Void) throws -> Void) throws {
    if let output {
        try OwnerOnlyFile.publish(URL(fileURLWithPath: output)) { w in try produce { try w.write($0) } }
    } else {
        try produce { print($0, terminator: "") }
    }
}
