/// Exit statuses an operator can script against (documented in README.md).
public enum ExitStatus: Int32, Sendable {
    case success = 0
    /// Internal error: a bug or an unexpected condition; the message says what.
    case internalError = 1
    /// Import: the file loaded but some rows were rejected (see the rejects file).
    case rowsRejected = 10
    /// Run: completed, but some members are held (see the report).
    case membersHeld = 11
    /// Run: refused before anything was written, because it would go back in time (SPEC.md
    /// 2.5): a completed or running issuing run of the insurer is for a later as-of date, or
    /// certificates were handed over at the counter on a later date than its as-of date.
    case runBackDated = 12
    /// Run, counter issue, certificate print, explain: the insurer has no parameters in force on
    /// the date, or they lack insurer_name (set them with `kakunin insurer params set`).
    case noParameters = 40
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
    /// Usage error (bad arguments); from the argument parser.
    case usage = 64
    /// The action conflicts with the record's state (an application already decided, a
    /// duplicate application).
    case conflict = 65
    /// No such insurer (or member, or run) in the database.
    case notFound = 66
    /// An output folder or file cannot be created (read-only, not a folder, not owner-only).
    case cannotCreate = 73
    /// Reading or writing a file failed (disk full, I/O error); a rerun finishes the job.
    case ioError = 74
    /// The database role lacks the rights for this command.
    case noPermission = 77
    /// Bad configuration: parameter file, migrations or sql/ folder.
    case badConfiguration = 78
    /// Database unreachable.
    case databaseUnavailable = 69
    /// The run is locked by another live process, or this process lost the run's lock.
    case runLocked = 75
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
