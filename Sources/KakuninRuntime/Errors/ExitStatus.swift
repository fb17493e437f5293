import Foundation

/// Exit statuses an operator can script against: the one list. README.md's table is this list
/// (`ExitStatus.markdownTable`; a test compares them) and `kakunin --help` prints it.
///
/// One status per condition, whichever command meets it: "no such run" is `notFound` in
/// `runs show`, `export`, `report`, `replay` and `explain` alike; a check that found a
/// difference is `checkFailed`, never `internalError`.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case success = 0
    /// Internal error: a bug or an unexpected condition; the message says what.
    case internalError = 1
    /// Import: the file loaded but some rows were rejected (see the rejects file).
    case rowsRejected = 10
    /// Run: completed, but some members are held (see the report).
    case membersHeld = 11
    /// Run: refused before anything was written, because it would go back in time: a completed
    /// or running issuing run of the insurer is for a later as-of date, or certificates were
    /// handed over at the counter on a later date than its as-of date.
    case runBackDated = 12
    /// A check found a difference: a run's reconciliation has a FAIL, a replay differs from the
    /// stored decisions, `audit verify` finds the log changed, a proof does not hold.
    case checkFailed = 13
    /// Import: the file was refused as a whole (wrong header, not UTF-8, Individual Number).
    case fileRefused = 20
    /// Audit: the latest stored checkpoint cannot be verified (forged or altered); no checkpoint
    /// is built on it.
    case checkpointUnverified = 30
    /// Audit: a proof was checked without the public key: unsigned, not verified.
    case proofUnsigned = 31
    /// Audit: the log no longer hashes to a checkpoint given (consistency proofs are refused).
    case logDiffers = 32
    /// db status: a function, view, trigger, policy or grant differs from what the migrations made.
    case schemaAltered = 33
    /// Run, counter issue, certificate print, explain: the insurer has no parameters in force on
    /// the date, or they lack insurer_name (set them with `kakunin insurer params set`).
    case noParameters = 40
    /// Usage error (bad arguments); also what the argument parser returns. An identifier of the
    /// wrong form (`--insurer` not 6 or 8 digits, `--member` not the feeds' member id) is a usage
    /// error, refused before the database is asked: the operator mistyped it.
    case usage = 64
    /// The action conflicts with the record's state (an application already decided, a
    /// duplicate application, a run not decided yet).
    case conflict = 65
    /// No such insurer, member, application, certificate or run in the database (a well-formed
    /// identifier the database does not know; a malformed one is `usage`).
    case notFound = 66
    /// Database unreachable.
    case databaseUnavailable = 69
    /// An output folder or file cannot be created (read-only, not a folder, not owner-only).
    case cannotCreate = 73
    /// Reading or writing a file failed (disk full, I/O error); a rerun finishes the job.
    case ioError = 74
    /// The run is locked by another live process, or this process lost the run's lock.
    case runLocked = 75
    /// The database role lacks the rights for this command.
    case noPermission = 77
    /// Bad configuration: parameter file, migrations or sql/ folder.
    case badConfiguration = 78

    /// What the status means, for the operator's table (README.md, `kakunin --help`).
    public var meaning: String {
        switch self {
        case .success: "success"
        case .internalError: "internal error: a bug or an unexpected condition (the message says what)"
        case .rowsRejected: "import: loaded, but some rows were rejected (listed in the rejects file)"
        case .membersHeld: "run: completed, some members held (listed in exceptions.csv)"
        case .runBackDated:
            "run refused before anything was written: it would go back in time (a completed or running run of the insurer, or a counter certificate, is of a later date); the message names it and the date to run for"
        case .checkFailed:
            "a check found a difference: a run's reconciliation has a FAIL, `replay` differs from the stored decisions, `audit verify` finds the log changed, `audit verify-proof` finds the proof invalid"
        case .fileRefused: "import: file refused as a whole; nothing stored"
        case .checkpointUnverified:
            "audit checkpoint: the latest stored checkpoint does not verify (not signed by this key, or its frontier does not hash to its signed root): nothing signed"
        case .proofUnsigned:
            "audit verify-proof without `--public-key`: the hashes hold but the proof is unsigned, not verified (`--path-only` to check the hashes alone)"
        case .logDiffers: "audit consistency: the log no longer hashes to a checkpoint given: no proof made (run `audit verify`)"
        case .schemaAltered:
            "db status: a function, view, trigger, policy or grant of the schema differs from what the migrations made (listed)"
        case .noParameters:
            "run, counter issue, certificate print, explain: the insurer has no parameters in force on the date, or they lack `insurer_name`; nothing was done"
        case .usage:
            "usage error: a bad option value, job name or date (wrong form, outside 1900–2099, an as-of date more than 366 days from today without `--allow-far-date`)"
        case .conflict:
            "the action conflicts with the record's state (application already decided, certificate already voided, run not decided yet)"
        case .notFound: "unknown insurer, member, application, certificate or run: nothing was done"
        case .databaseUnavailable: "database unreachable"
        case .cannotCreate:
            "an output folder cannot be used: not a folder, read-only, a shared sticky folder like /tmp, another user's folder others can enter"
        case .ioError: "writing failed (disk full, I/O error): free space and run again, nothing is lost or doubled"
        case .runLocked:
            "run locked by another live process, a lock still held after `--lock-wait` (named), or this process lost the run's lock and stopped"
        case .noPermission:
            "the database role lacks the rights (a staff login running `run`, a staff login not scoped to the insurer, a batch login without `BYPASSRLS`): the message names the fix"
        case .badConfiguration: "bad configuration (migrations edited, parameter file invalid: nothing stored)"
        }
    }

    /// The table README.md carries, one row per status in numeric order.
    public static var markdownTable: String {
        (["| status | meaning |", "|---|---|"] + allCases.map { "| \($0.rawValue) | \($0.meaning) |" })
            .joined(separator: "\n")
    }

    /// The same as plain text, for `kakunin --help`.
    public static var plainList: String {
        allCases.map {
            "  \(String($0.rawValue).padding(toLength: 4, withPad: " ", startingAt: 0))\($0.meaning.replacingOccurrences(of: "`", with: ""))"
        }
        .joined(separator: "\n")
    }
}

/// An error that tells the operator what happened and how to fix it, with its exit status.
public struct OperatorError: Error, CustomStringConvertible {
    public let status: ExitStatus
    public let message: String
    public let fix: String?
    /// The message and what to do, in Japanese, for the console's clerks (where the library
    /// says it itself; nil otherwise).
    public let japanese: String?

    public init(_ status: ExitStatus, _ message: String, fix: String? = nil, japanese: String? = nil) {
        self.status = status
        self.message = message
        self.fix = fix
        self.japanese = japanese
    }

    public var description: String { fix.map { "\(message)\n  fix: \($0)" } ?? message }
}
