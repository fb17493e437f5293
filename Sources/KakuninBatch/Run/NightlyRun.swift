import Crypto
import Foundation
import KakuninCore
import KakuninStore
import KakuninRuntime
import KakuninAudit

/// `kakunin run`: decide → issue → mail → audit → report for one insurer on one as-of date.
///
/// Safe to rerun at any moment: everything the run changes in the database commits in one
/// transaction (phase `decided`); the mailing files are then written from that committed state
/// and published atomically (phase `completed`). A run killed before the commit left nothing
/// behind and is decided again; one killed after it only writes its files again, byte for byte
/// the same.
public final class NightlyRun {
    public struct Options: Sendable {
        public var insurer: String
        public var asOf: LocalDate
        public var job = "nightly"
        public var outDirectory: URL
        public var dryRun = false
        /// Seconds to wait for another process's lock on the run before refusing.
        public var lockWait = 5.0
        /// The parameters the run decides with: the version in force on the as-of date, or for a
        /// run already registered, the version it was registered with. Set by `execute` from the
        /// database, never by the caller.
        public internal(set) var parameters: LoadedParameters!
        public var host: String
        public var codeVersion: String
        /// Ed25519 private key (PEM) to sign a checkpoint of the audit log at the end of the run.
        public var auditKeyPath: String?
        /// An as-of date more than `farDays` from today is refused unless this is set.
        public var allowFarDate = false
        /// Today in Japan (the far-date bound is counted from it).
        public var today = NightlyRun.today
        /// Write the mailing files of the completed run again from the database, into a folder
        /// that does not hold any (`kakunin run … --rebuild-files`); `person` is audited.
        public var rebuildFiles = false
        public var person: String?

        public init(insurer: String, asOf: LocalDate, outDirectory: URL, host: String, codeVersion: String) {
            self.insurer = insurer
            self.asOf = asOf
            self.outDirectory = outDirectory
            self.host = host
            self.codeVersion = codeVersion
        }
    }

    public struct Result: Sendable {
        public var runID: Int?
        public var report: RunReport
        public var alreadyCompleted: String?
        public var resumed = false
        public var filesDirectory: URL?
        /// The parameters the run was made with (its recorded version).
        public var parameters: LoadedParameters?
        /// Set when this command wrote the files of a completed run again (`rebuildFiles`).
        public var rebuiltManifestSHA256: String?
        public var exitStatus: ExitStatus { report.allChecksPass ? (report.held > 0 ? .membersHeld : .success) : .checkFailed }
    }

    private let url: String?
    private let log: RunLog
    /// The report's reading of the staged mailing files, started once they are finished, on
    /// files it opened then: it goes on while the database commits, the folder is renamed into
    /// place and the report's counts are read from the database, and the report of those same
    /// files uses it.
    private var stagedFiles: Background<RunReport.FileFacts>?
    static let maxDecideTries = 5
    /// An as-of date further than this from today needs `allowFarDate` (SPEC.md 2.5).
    public static let farDays = 366
    /// Today in Japan, for the far-date bound; test hook: KAKUNIN_TODAY=YYYY-MM-DD (the test
    /// suites pin it, so that their runs of fixed dates stay within the bound in years to come).
    public static var today: LocalDate {
        ProcessInfo.processInfo.environment["KAKUNIN_TODAY"].flatMap { LocalDate($0) } ?? LocalDate.todayInJapan()
    }
    /// Insurers with at least this many members read their facts in two halves (see decideAndCommit).
    static let splitAbove = Int(ProcessInfo.processInfo.environment["KAKUNIN_SPLIT_ABOVE"] ?? "") ?? 100_000

    public init(databaseURL: String?, log: RunLog) {
        url = databaseURL
        self.log = log
    }

    public func execute(_ options: Options) throws -> Result {
        var o = options
        guard o.insurer.range(of: #"^[0-9]{6}([0-9]{2})?$"#, options: .regularExpression) != nil else {
            throw OperatorError(.usage, "insurer number \(o.insurer) is not 6 or 8 digits")
        }
        try Self.validateJob(o.job)
        // A rebuild writes what a run decided long ago as readily as yesterday's.
        if !o.rebuildFiles { try Self.requireNearDate(o) }
        let control = try Connection(url: url, applicationName: "kakunin-run")
        try Insurers.require(control, o.insurer)
        // No parameters in force (or no insurer_name): refused before anything is written.
        o.parameters = try ParameterVersions.inForce(control, insurer: o.insurer, on: o.asOf)
        if o.dryRun { return try dryRun(o, control) }
        try BatchLogin.requireBypassRLS(control)
        let registry = RunRegistry(db: control, host: o.host)
        do {
            if o.rebuildFiles { return try rebuildFiles(o, control: control, registry: registry) }
            // A folder that cannot take the files fails now, before anything is decided.
            try OwnerOnlyFile.makeDirectory(o.outDirectory)
            let (run, completedAt) = try registry.acquire(insurer: o.insurer, asOf: o.asOf, job: o.job,
                                                          codeVersion: o.codeVersion, lockWait: o.lockWait)
            // A run taken over or already completed goes on with the version it was registered with.
            o.parameters = try ParameterVersions.ofRun(control, runID: run.id)
            var result = try execute(o, control: control, registry: registry, run: run, completedAt: completedAt)
            result.parameters = o.parameters
            return result
        } catch let e as RunRegistry.Locked {
            throw OperatorError(.runLocked, e.message, fix: "wait for it to finish (kakunin runs list); a crashed run is taken over automatically")
        } catch let e as RunRegistry.BackDated {
            throw OperatorError(.runBackDated, e.message, fix: e.fix)
        } catch let e as RunRegistry.LockTimeout {
            throw OperatorError(.runLocked, e.message,
                                fix: "end that process (kakunin runs list shows the run; pg_terminate_backend(<connection>) ends a connection left behind) or let it finish, then run the same command again; --lock-wait sets how long to wait")
        } catch let e as RunRegistry.LostLock {
            throw OperatorError(.runLocked, "\(e); this process stopped without committing or publishing anything more",
                                fix: "kakunin runs list shows who holds the run now; if nobody does, run the same command again and it finishes the job")
        }
    }

    /// An as-of date more than `farDays` before or after today (a mistyped year) is refused
    /// unless the operator says so (SPEC.md 2.5).
    static func requireNearDate(_ o: Options) throws {
        let distance = o.today.days(until: o.asOf)
        guard abs(distance) > farDays, !o.allowFarDate else { return }
        throw OperatorError(.usage, "as-of date \(o.asOf) is \(abs(distance)) days \(distance < 0 ? "before" : "after") today (\(o.today)): more than \(farDays) days away, which is usually a mistyped year",
                            fix: "check the year; if the date is meant, add --allow-far-date")
    }

    /// A job name becomes a folder name: a short name of letters, digits, '-' and '_'.
    public static func validateJob(_ job: String) throws {
        guard job.range(of: #"^[A-Za-z0-9_-]{1,40}$"#, options: .regularExpression) != nil else {
            throw OperatorError(.usage, "job name \"\(job.prefix(60))\" is not allowed: it names a folder of the mailing files",
                                fix: "use 1 to 40 letters, digits, '-' or '_' (e.g. nightly, catchup-2026-12)")
        }
    }

    /// Settings of a transaction that reads the facts query (each half's):
    /// - a streaming query gains nothing from JIT compilation but pays for it;
    /// - the hash tables and the sort fit in memory;
    /// - the query is built to hash-join every table once. Statistics that lag behind the
    ///   tables (a run added fewer rows than autoanalyze waits for, on top of years of voided
    ///   certificates) made the planner expect one row from a CTE and loop over it for every
    ///   member (figures in the Benchmarks article). A nested loop is never wanted here.
    private static func prepareFactsTransaction(_ db: Connection, parallelWorkers: Int) throws {
        try db.execute("SET LOCAL jit = off")
        try db.execute("SET LOCAL max_parallel_workers_per_gather = \(parallelWorkers)")
        try db.execute("SET LOCAL work_mem = '512MB'")
        try db.execute("SET LOCAL enable_nestloop = off")
    }

    private func execute(_ o: Options, control: Connection, registry: RunRegistry, run: RunRegistry.Run, completedAt: String?) throws -> Result {
        log.runID = run.id
        let dir = o.outDirectory.appendingPathComponent(o.insurer).appendingPathComponent(o.asOf.description).appendingPathComponent(o.job)
        if let completedAt {
            log.event("registry", "run \(run.id) already completed at \(completedAt); finishing only what an attempt stopped before")
            let report = try RunReport.load(control, runID: run.id, filesDirectory: dir)
            try finishCompleted(control, runID: run.id, dir: dir, base: report, o)
            var r = Result(runID: run.id, report: report)
            r.alreadyCompleted = completedAt
            r.filesDirectory = dir
            return r
        }
        if run.resumed { log.event("registry", "taking over abandoned run \(run.id) (attempt \(run.attempts), phase \(run.phase.rawValue))") }
        else { log.event("registry", "run \(run.id) started for insurer \(o.insurer) as of \(o.asOf)", ["parameters": o.parameters.source]) }
        try audit(control, "run_started", run.id, o, ["attempt": run.attempts, "phase": run.phase.rawValue,
                                                     "parameters_sha256": o.parameters.sha256, "parameters_source": o.parameters.source,
                                                     "code_version": o.codeVersion])
        // Files written from committed decisions use the parameters the run recorded (those it
        // decided with), as `--rebuild-files` does.
        let mail = MailSettings(run.phase == .decided ? try ParameterVersions.ofRun(control, runID: run.id).parameters : o.parameters.parameters)
        if o.parameters.parameters.usesDeprecatedMailClass {
            log.event("parameters", "mail_class is deprecated: it sets both mail_class.certificate and mail_class.notice (now \(mail.certificateClass.rawValue) and \(mail.noticeClass.rawValue)); set those instead")
        }
        let files: (manifestSHA256: String, manifest: MailFiles.Manifest)
        var earlySeal: Background<Bool>?
        if let published = try MailFiles.published(in: dir, runID: run.id) {
            // Files are published only after the decisions commit: a run still deciding cannot
            // have any. These are another database's (a restored or new one numbering its runs
            // from 1 again): never adopted, never overwritten.
            guard run.phase == .decided else {
                throw OperatorError(.badConfiguration,
                                    "\(dir.path) already holds mailing files of a run \(run.id) that this database has not decided: they come from another database or an earlier installation",
                                    fix: "move that folder away (or pass another --out) and run again; kakunin never adopts or overwrites published files")
            }
            log.event("files", "already published by an earlier attempt: \(dir.path)")
            files = published
        } else {
            var staging = try MailStaging(dir: dir, runID: run.id, attempt: run.attempts, settings: mail)
            do {
                if run.phase == .deciding {
                    // Deciding again is rare (a counter issue for one of the run's members during
                    // the run) and cheap next to a wrong second certificate.
                    var tries = 1
                    while true {
                        do {
                            try decideAndCommit(o, runID: run.id, registry: registry, staging: staging)
                            break
                        } catch let clash as CounterClash where tries < Self.maxDecideTries {
                            _ = stagedFiles?.wait()
                            stagedFiles = nil
                            log.event("decide", clash.members.isEmpty ? "a certificate or application this run changes was changed at the counter during the run; deciding again"
                                          : "members \(clash.members.prefix(10).joined(separator: ", ")) were issued a certificate at the counter during the run; deciding again",
                                      ["members": clash.members.count])
                            staging.discard()
                            tries += 1
                            staging = try MailStaging(dir: dir, runID: run.id, attempt: run.attempts, settings: mail)
                        } catch let clash as CounterClash {
                            throw OperatorError(.runLocked, "counter issues kept overlapping this run (\(tries) tries; last: members \(clash.members.prefix(10).joined(separator: ", ")))",
                                                fix: "run the same command again when the counter is quieter: nothing was committed")
                        }
                    }
                    CrashPoint.hit("after-commit")
                    earlySeal = sealInBackground()
                } else {
                    log.event("files", "decisions were committed by an earlier attempt; writing the files again from them")
                    try writeFilesFromDatabase(control, o, runID: run.id, into: staging)
                }
                try registry.heartbeat(runID: run.id, force: true)
                // The report's reading of the files goes on (they are open) while their folder
                // is renamed into place and the report's counts are read from the database.
                files = try staging.publish(log: log)
            } catch {
                _ = stagedFiles?.wait()
                stagedFiles = nil
                staging.discard()
                throw error
            }
        }
        defer { _ = earlySeal?.wait() }
        let report = try RunReport.load(control, runID: run.id, filesDirectory: dir, files: stagedFiles)
        stagedFiles = nil
        try audit(control, "run_completed", run.id, o, ["manifest_sha256": files.manifestSHA256, "checks_pass": report.allChecksPass,
                                                       "decisions": report.decisions, "certificates": report.certificates])
        try registry.complete(runID: run.id, counts: report.countsJSON())
        log.event("complete", "run \(run.id) completed", ["decisions": report.decisions, "certificates": report.certificates, "held": report.held])
        CrashPoint.hit("completed")
        // The auditors' report beside the mailing files, as HTML (people) and JSON (tools).
        try publishAuditorReport(control, runID: run.id, dir: dir, base: report)
        // The run's events and certificates take their places in the audit log; with a key,
        // a signed checkpoint is written beside the mailing files.
        _ = earlySeal?.wait()
        if let keyPath = o.auditKeyPath {
            try publishCheckpoint(control, keyPath: keyPath, dir: dir)
        } else {
            let size = try AuditLog.seal(control)
            log.event("audit", "audit log sealed: \(size) entries (no --audit-key: no checkpoint)", ["log_size": size])
        }
        var r = Result(runID: run.id, report: report)
        r.resumed = run.resumed
        r.filesDirectory = dir
        return r
    }

    /// Seals what the commit added to the audit log (the run_decided event and one entry per
    /// certificate: the larger part of the seal) on a connection of its own, while the report
    /// is checked; the seal or checkpoint at the end then adds only the last events. Should it
    /// fail, that final seal does the whole work, as before.
    private func sealInBackground() -> Background<Bool> {
        let url = url
        return Background {
            guard let db = try? Connection(url: url, applicationName: "kakunin-run-seal") else { return false }
            return (try? AuditLog.seal(db)) != nil
        }
    }

    private func dryRun(_ o: Options, _ control: Connection) throws -> Result {
        log.event("dry-run", "deciding without issuing or writing mail")
        var report = try decideAndCommit(o, runID: nil, registry: nil, staging: nil)!
        report.insurerNumber = o.insurer
        report.insurerName = o.parameters.parameters.insurerName
        var r = Result(runID: nil, report: report)
        r.parameters = o.parameters
        return r
    }

    static let auditorReportNames = ["report.html", "report.json"]
    static let checkpointName = "checkpoint.txt"

    /// The mailing files of a run whose decisions are committed, written from the database into
    /// `staging` (not yet published): after a crash between commit and publish, and for
    /// `--rebuild-files`.
    private func writeFilesFromDatabase(_ control: Connection, _ o: Options, runID: Int, into staging: MailStaging) throws {
        try MailFiles.rebuild(db: control, insurer: o.insurer, runID: runID, asOf: o.asOf, into: staging)
        try staging.finish(insurer: o.insurer, asOf: o.asOf)
    }

    /// Seals the audit log and signs a checkpoint of it, beside the run's mailing files.
    private func publishCheckpoint(_ control: Connection, keyPath: String, dir: URL) throws {
        let key = try AuditKeys.privateKey(pem: try AuditKeys.load(keyPath), file: keyPath)
        let cp = try AuditLog.checkpoint(control, key: key)
        try OwnerOnlyFile.publish(dir.appendingPathComponent(Self.checkpointName)) { try $0.write(cp.text) }
        log.event("audit", "checkpoint signed: \(cp.size) log entries", ["log_size": cp.size])
    }

    /// A run is marked complete before its last steps (the auditors' report, then the seal and
    /// the signed checkpoint): an attempt killed in between leaves them undone. A rerun of the
    /// completed run does them then, beside that run's own published files only; a folder
    /// without them is said to be missing (`--rebuild-files` writes it again).
    private func finishCompleted(_ control: Connection, runID: Int, dir: URL, base: RunReport, _ o: Options) throws {
        let published = try MailFiles.published(in: dir, runID: runID) != nil
        if published {
            try completeAuditorReport(control, runID: runID, dir: dir, base: base)
        } else {
            log.event("files", "the mailing files of run \(runID) are not in \(dir.path); kakunin run --rebuild-files writes them again from the database")
        }
        if let keyPath = o.auditKeyPath {
            guard published, !FileManager.default.fileExists(atPath: dir.appendingPathComponent(Self.checkpointName).path) else { return }
            log.event("audit", "the signed checkpoint of run \(runID) was missing (an attempt stopped after completing the run): signing one")
            try publishCheckpoint(control, keyPath: keyPath, dir: dir)
        } else {
            // The run's last events, unsealed if an attempt stopped before its seal.
            try AuditLog.seal(control)
        }
    }

    /// `kakunin run … --rebuild-files`: the mailing files of a completed run written again from
    /// the database, by the path a rerun after a crash between commit and publish takes, with
    /// the parameters the run recorded, so they are byte for byte the originals. Only into a
    /// folder that holds no files (published files are never overwritten); audited with the
    /// person who asked.
    private func rebuildFiles(_ o: Options, control: Connection, registry: RunRegistry) throws -> Result {
        try registry.lock(insurer: o.insurer, lockWait: o.lockWait)
        guard let run = try registry.completedRun(insurer: o.insurer, asOf: o.asOf, job: o.job) else {
            throw OperatorError(.notFound, "insurer \(o.insurer) has no completed \(o.job) run as of \(o.asOf): only a completed run's files can be rebuilt",
                                fix: "kakunin runs list --insurer \(o.insurer) shows the runs; an unfinished run is finished by running it again without --rebuild-files")
        }
        log.runID = run.id
        let dir = o.outDirectory.appendingPathComponent(o.insurer).appendingPathComponent(o.asOf.description).appendingPathComponent(o.job)
        let present = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        guard present.isEmpty else {
            throw OperatorError(.badConfiguration, "\(dir.path) already holds \(present.count) file(s) (\(present.prefix(5).joined(separator: ", "))): kakunin never overwrites published files",
                                fix: "move that folder away (or pass another --out) and rebuild again")
        }
        let parameters = try ParameterVersions.ofRun(control, runID: run.id)
        let staging = try MailStaging(dir: dir, runID: run.id, attempt: run.attempts + 1, settings: MailSettings(parameters.parameters))
        let files: (manifestSHA256: String, manifest: MailFiles.Manifest)
        do {
            try writeFilesFromDatabase(control, o, runID: run.id, into: staging)
            files = try staging.publish(log: log)
        } catch {
            staging.discard()
            throw error
        }
        try audit(control, "run_files_rebuilt", run.id, o, ["person": o.person ?? "", "job": o.job, "manifest_sha256": files.manifestSHA256,
                                                           "files": files.manifest.files.map(\.name)])
        let report = try RunReport.load(control, runID: run.id, filesDirectory: dir)
        try finishCompleted(control, runID: run.id, dir: dir, base: report, o)
        var r = Result(runID: run.id, report: report)
        r.filesDirectory = dir
        r.rebuiltManifestSHA256 = files.manifestSHA256
        return r
    }

    /// The auditors' report beside the mailing files, as HTML (people) and JSON (tools).
    private func publishAuditorReport(_ control: Connection, runID: Int, dir: URL, base: RunReport) throws {
        let full = try AuditorReport.load(control, runID: runID, filesDirectory: dir, base: base)
        let trends = try RunTrends.load(control, insurer: full.insurer, limit: 30, upTo: runID)
        try OwnerOnlyFile.publish(dir.appendingPathComponent("report.html")) {
            try $0.write(full.renderHTML(trends: trends.html(heading: "最近の夜間処理（30 回まで）", tableOpen: true)))
        }
        try OwnerOnlyFile.publish(dir.appendingPathComponent("report.json")) { w in try full.write(.json, control) { try w.write($0) } }
    }

    /// A run is marked complete before its auditors' report is written: an attempt killed in
    /// between leaves the mailing files without it (and perhaps a half-written hidden copy).
    /// A rerun of the completed run writes it then, beside that run's own published files only.
    private func completeAuditorReport(_ control: Connection, runID: Int, dir: URL, base: RunReport) throws {
        let fm = FileManager.default
        guard try MailFiles.published(in: dir, runID: runID) != nil else { return }
        let missing = Self.auditorReportNames.contains { !fm.fileExists(atPath: dir.appendingPathComponent($0).path) }
        guard missing else { return }
        for name in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
        where Self.auditorReportNames.contains(where: { name.hasPrefix(".\($0).") }) {
            try? fm.removeItem(at: dir.appendingPathComponent(name))
        }
        log.event("files", "the auditors' report of run \(runID) was missing (an attempt stopped after completing the run): writing it")
        try publishAuditorReport(control, runID: runID, dir: dir, base: base)
    }

    /// Streams every member's facts out (COPY TO, in envelope order), decides, numbers the
    /// certificates, streams the decisions straight into `decision` (COPY FROM) on a second
    /// connection and writes the mailing records to `staging`; the certificates, notices and
    /// the applications they fulfil wait in spool files until the stream ends. Then everything
    /// is issued, recorded and committed in that one transaction. Without `staging` (a dry run)
    /// the decisions go to a temporary table, are reported and rolled back.
    @discardableResult
    private func decideAndCommit(_ o: Options, runID: Int?, registry: RunRegistry?, staging: MailStaging?) throws -> RunReport? {
        let reader = try Connection(url: url, applicationName: "kakunin-run-read")
        let writer = try Connection(url: url, applicationName: "kakunin-run-write")
        let insurer = o.insurer, asOf = o.asOf, date = asOf.description
        // Until the insurer's row is locked below, every lock wait ends after --lock-wait (a
        // process of an abandoned run may still hold them): LockTimeout names who holds it.
        if let registry { try registry.boundLockWaits(writer, local: false) }
        do {
            // The month's partition, in its own short transaction so that creating it does not
            // hold a lock on `decision` for the length of the run.
            if runID != nil { _ = try writer.query("SELECT ensure_decision_partition($1)", [date]) }
            try lockInsurerRow(writer, o, issuing: runID != nil)
        } catch let e as DatabaseError where e.sqlState == "55P03" {
            if let registry { throw try registry.lockTimeout(insurer: insurer, waitingFor: "the insurer's row (or the decisions' partition)") }
            throw e
        }
        if registry != nil { _ = try writer.query("SELECT set_config('lock_timeout', '0', false)") }
        let target = runID == nil ? "pg_temp.rd" : "decision"
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        // One parallel worker halves the time before the first row while this process and the
        // writer are still idle (the second half's connection, when there is one, runs beside it).
        try Self.prepareFactsTransaction(reader, parallelWorkers: 1)
        let factsSnapshot = try reader.query("SELECT pg_current_snapshot()::text").scalar!
        let total = Int(try reader.query("SELECT count(*) FROM member WHERE insurer_number = $1", [insurer]).scalar!)!
        // Certificates are numbered in the order of the stream (envelope, member) from a block
        // of numbers reserved for this run: the counter can issue meanwhile without waiting.
        let block: (from: Int64, to: Int64)
        if let runID, let registry {
            block = try registry.reserveNumbers(runID: runID, insurer: insurer, count: total)
        } else {
            let next = Int64(try reader.query("SELECT next_number FROM certificate_counter WHERE insurer_number = $1", [insurer]).scalar ?? "1") ?? 1
            block = (next, next + Int64(total))
        }
        var nextNumber = block.from
        // What every row of a table has in common: run, insurer, as-of date (the last columns).
        let common = Array("\t\(runID ?? 0)\t\(insurer)\t\(date)\n".utf8)
        let spool = try staging.map { try Spools(directory: $0.staging) }
        let policy = Policy(parameters: o.parameters.parameters)
        let insurerName = o.parameters.parameters.insurerName
        var row = CopyRow()
        var reasonText = ReasonTextCache()
        let person = PersonColumns(memberID: 0, scheme: 1, birthDate: 2, mail: MemberFactsQuery.mailColumnsStart)
        var read = 0
        // The mailing records, spools and the digest of the certificates the run issues (number,
        // member, kind, validity, one line each in number order, which is the stream's order,
        // as the run_decided event records it) are written on a thread of their own.
        var mailer: StreamMailer?
        if let staging, let spool {
            mailer = StreamMailer(staging: staging, certificates: spool.certificates, notices: spool.notices, changes: spool.changes,
                                  person: person, asOf: asOf, common: common)
        }
        defer { mailer?.stop() }
        func factsSQL(_ range: String = "") -> String {
            MemberFactsQuery.sql(oneMember: false, range: range)
                .replacingOccurrences(of: "$1", with: "'\(insurer)'")        // validated: digits only
                .replacingOccurrences(of: "$2", with: "'\(asOf)'::date")      // a LocalDate
        }
        // The facts query joins and sorts the whole insurer before its first row: alone, it
        // would keep the client and the writer waiting. A large insurer is read in two halves
        // of envelope-key order, the second on a connection of its own in the same snapshot,
        // started now: the server sorts it on the other core while this process takes the
        // first. Concatenated they are the same stream (the boundary only splits the work).
        var second: (connection: Connection, sql: String)?
        var firstSQL = factsSQL()
        // The boundary is the median key of a sample of about 5,000 of the insurer's members
        // (pages of the table, so the cost does not grow with the insurer as reading every key
        // did; figures in the Benchmarks article).
        let samplePercent = min(100, max(0.5, 5_000 * 100 / Double(max(total, 1))))
        if total >= Self.splitAbove, let boundary = try reader.query("""
            SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY k) FROM (
                SELECT \(MemberFactsQuery.envelopeKey) COLLATE "C" AS k FROM member TABLESAMPLE SYSTEM (\(samplePercent)) REPEATABLE (1)
                WHERE insurer_number = $1) s
            """, [insurer]).scalar {
            let literal = "'" + boundary.replacingOccurrences(of: "'", with: "''") + "'"
            let other = try Connection(url: url, applicationName: "kakunin-run-read")
            let snapshot = try reader.query("SELECT pg_export_snapshot()").scalar!
            try other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try other.execute("SET TRANSACTION SNAPSHOT '\(snapshot)'")
            try Self.prepareFactsTransaction(other, parallelWorkers: 0)
            let sql = factsSQL("COLLATE \"C\" >= \(literal)")
            try other.beginCopyOut("COPY (\(sql)) TO STDOUT")
            second = (other, sql)
            firstSQL = factsSQL("COLLATE \"C\" < \(literal)")
            log.event("decide", "reading the facts in two halves of envelope order, the second on its own connection")
        }
        log.event("decide", "deciding \(total) members", ["members": total])
        // The decisions go in COPY's binary form: the server parses no dates, reason arrays or
        // facts text (a third less of its time for this COPY). What every row ends with: run,
        // insurer, as-of date; each outcome's field.
        var commonField: [UInt8] = []
        let insurerField = CopyBinary.Writer.textField(insurer)
        CopyBinary.Writer.append(to: &commonField, size: 12 + insurerField.count + 8) { w in
            w.int8(Int64(runID ?? 0))
            insurerField.withUnsafeBytes { w.raw($0) }
            w.date(daysSince1970: asOf.dayNumber)
        }
        let outcomeFields = Dictionary(uniqueKeysWithValues: Outcome.allCases.map { ($0, CopyBinary.Writer.textField($0.rawValue)) })
        // The decisions go to the writer connection's own thread, which also sends the spooled
        // certificates and notices as they grow (StreamWriter): the server takes them while the
        // stream runs instead of after it.
        let decisionsSQL = """
            COPY \(target) (member_id, scheme, outcome, reasons, s_date, valid_from, valid_to, certificate_number, facts,
                             run_id, insurer_number, as_of) FROM STDIN (FORMAT binary)
            """
        let w = try StreamWriter(db: writer, decisionsSQL: decisionsSQL,
                                 sides: spool.map { [(sql: Self.certificatesCopy, spool: $0.certificates), (sql: Self.noticesCopy, spool: $0.notices)] } ?? [],
                                 switchBytes: Self.switchBytes)
        defer { w.stop() }
        func consume(_ chunk: UnsafeRawBufferPointer) throws {
            if read == 0 { log.event("decide", "first member's facts arrived (the facts query has joined and sorted)") }
            row.load(chunk)
            let memberFacts = try MemberFactsQuery.facts(row, insurerName: insurerName)
            let d = policy.decide(memberFacts, asOf: asOf)
            let printedChange = memberFacts.latestCertificate?.printedChange
            let reasons = reasonText.text(d.reasons)
            var number: Int64?
            var kind = d.outcome.rawValue
            if d.outcome.issuesCertificate, d.validFrom != nil {
                number = nextNumber
                nextNumber += 1
                if d.replacesCertificate != nil { kind = "reissue" }
            }
            let outcome = outcomeFields[d.outcome]!
            let facts = MemberFactsQuery.replayFactsFieldSize(row, printedChange: printedChange)
            let s = d.s?.dayNumber, from = d.validFrom?.dayNumber, to = d.validTo?.dayNumber
            let size = 2 + 8 + row.length(0) + row.length(1) + outcome.count + reasons.arrayField.count
                + CopyBinary.Writer.dateSize(s) + CopyBinary.Writer.dateSize(from) + CopyBinary.Writer.dateSize(to)
                + (number == nil ? 4 : 12) + facts + commonField.count
            try w.withBuffer { b in
                CopyBinary.Writer.append(to: &b, size: size) { f in
                    f.int16(12)
                    row.withField(0) { f.bytes(UnsafeRawBufferPointer($0)) }
                    row.withField(1) { f.bytes(UnsafeRawBufferPointer($0)) }
                    outcome.withUnsafeBytes { f.raw($0) }
                    reasons.arrayField.withUnsafeBytes { f.raw($0) }
                    f.date(s)
                    f.date(from)
                    f.date(to)
                    f.int8(number)
                    MemberFactsQuery.writeReplayFacts(row, printedChange: printedChange, fieldSize: facts, to: &f)
                    commonField.withUnsafeBytes { f.raw($0) }
                }
            }
            if let mailer {
                // The row itself goes to the mailing thread; the next one loads into a row
                // it has finished with (no copy, no allocation per member).
                try mailer.add(StreamMailer.Item(row: row, decision: d, reasons: reasons, number: number, kind: kind))
                row = mailer.recycledRow()
            }
            read += 1
            if let runID { try registry?.heartbeat(runID: runID) }
            log.progress(read, of: total)
            CrashPoint.hit("decide:\(read)")
            TestPause.hit("decide:\(read)")
        }
        try reader.copyOut("COPY (\(firstSQL)) TO STDOUT", consume)
        if let second { try second.connection.receiveCopyOut("COPY (\(second.sql)) TO STDOUT", consume) }
        // The mailing thread has written the last rows; the writer's thread sends what the
        // spools still hold after the last decisions.
        let issued = try mailer?.finish()
        if let spool {
            try spool.certificates.complete()
            try spool.notices.complete()
        }
        let streamed = try w.finish()
        try reader.execute("COMMIT")
        if let second { try second.connection.execute("COMMIT") }
        log.endProgress()
        log.event("decide", "decided \(read) members", ["members": read])

        guard let runID, let staging, let spool else {
            let report = try RunReport.fromStage(writer, membersRead: read)
            try writer.execute("ROLLBACK")
            return report
        }
        // Still the run's holder? (The stream may have been quicker than a heartbeat.)
        try registry?.heartbeat(runID: runID, force: true)
        try staging.finish(insurer: insurer, asOf: asOf)
        // Opened now, read on a thread of its own: the folder can be published meanwhile.
        let staged = RunReport.FileFacts.open(staging.staging)
        stagedFiles = Background { RunReport.FileFacts.read(staged) }
        let id = String(runID)

        // Computed as the certificates streamed (the same text the database would aggregate:
        // concat_ws(',', certificate_number, member_id, kind, valid_from, valid_to), lines joined
        // by newlines in number order); an empty run has the empty digest "".
        let digest: [String?] = [String(issued?.count ?? 0), issued?.sha256 ?? ""]
        // Sealed, this event is followed in the log by one entry per certificate issued.
        try AuditLog.append(writer, "run_decided", insurer: insurer, run: runID, details: [
            "members_read": read, "certificates_issued": Int(digest[0]!)!, "certificates_sha256": digest[1]!,
            "parameters_sha256": o.parameters.sha256, "code_version": o.codeVersion, "host": o.host])
        CrashPoint.hit("before-commit")
        TestPause.hit("before-commit")
        // A certificate handed over at the counter since the snapshot, for a member this run
        // issues to, would make two. From here to the commit the run holds the insurer's issue
        // lock (a counter issue holds it for its whole short transaction): the changes to
        // existing rows below and the check cannot interleave with a counter issue, and the
        // counter waits at most for this last part of the run.
        try writer.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [IssueLock.key(insurer)])
        if spool.changes.rows > 0 {
            try writer.execute("""
                CREATE TEMP TABLE run_change (certificate_number bigint, application_id bigint, replaces bigint, records_on bigint)
                ON COMMIT DROP
                """)
            try writer.copyIn("COPY pg_temp.run_change FROM STDIN") { try spool.changes.send(to: $0) }
            // Temporary tables have no statistics until analysed; without them the joins
            // below could be planned as nested loops over every pair of rows.
            try writer.execute("ANALYZE pg_temp.run_change")
            // Applied by the database (sql/020), which checks that each change names a certificate
            // of this run and finds its row as the snapshot saw it; one changed meanwhile (a
            // certificate voided or an application fulfilled at the counter) makes the run decide
            // again from a new snapshot, like a counter certificate that overlaps.
            do {
                _ = try writer.query("SELECT run_apply_changes($1)", [id])
            } catch let e as DatabaseError where e.sqlState == "40001" {
                try writer.execute("ROLLBACK")
                throw CounterClash(members: [])
            }
        }
        // No ANALYZE of the permanent tables here (its cost grows with the members; see the
        // Benchmarks article): autovacuum analyses what the run added.
        let clashes = try writer.query("""
            SELECT r.member_id, k.certificate_number FROM certificate k
            JOIN certificate r ON r.insurer_number = k.insurer_number AND r.member_id = k.member_id AND r.run_id = $2
            WHERE k.insurer_number = $1 AND k.run_id IS NULL AND k.status = 'active'
              AND k.valid_from <= r.valid_to AND r.valid_from <= k.valid_to
            ORDER BY 1
            """, [insurer, id]).rows
        if !clashes.isEmpty {
            try writer.execute("ROLLBACK")
            throw CounterClash(members: clashes.map { $0[0]! })
        }
        // The numbers the run did not use go back with its commit (the issue lock is held: no
        // counter issue takes one meanwhile).
        try RunRegistry.returnUnusedNumbers(writer, runID: runID, block: block, next: nextNumber)
        // The commit is fenced: it happens only while the run row still names this process.
        // The snapshot is kept with the run: a rebuild of its files takes the members as it saw
        // them (MailFiles.rebuild).
        // A process that lost its lock and was taken over finds 0 rows and rolls back.
        try registry?.heartbeat(runID: runID, force: true)
        let fenced = try writer.query("""
            UPDATE run SET phase = 'decided', counts = jsonb_build_object('members_read', $2::int), facts_snapshot = $4::pg_snapshot
            WHERE run_id = $1 AND lease_owner = $3 AND phase = 'deciding'
            """, [id, String(read), registry?.owner, factsSnapshot]).affectedRows
        guard fenced == 1 else {
            try writer.execute("ROLLBACK")
            throw RunRegistry.LostLock(runID: runID, cause: "another process has taken the run over")
        }
        try writer.execute("COMMIT")
        CrashPoint.hit("committed")
        log.event("issue", "committed decisions, \(digest[0]!) certificates, notices and audit events",
                  ["sent_during_stream": ["rounds": w.switches, "certificates_bytes": streamed.sentDuringStream.first ?? 0,
                                         "notices_bytes": streamed.sentDuringStream.last ?? 0]])
        return nil
    }

    /// Opens the writer's transaction. The insurer's row is locked (FOR NO KEY UPDATE) before the
    /// facts are read: an import of applications (FOR SHARE) that began before has committed by
    /// then, so the snapshot includes it, and one that begins later waits for this commit.
    /// Counter work takes no lock on the row (its foreign keys take KEY SHARE, which this lock
    /// lets through). A dry run issues nothing and does not wait: its decisions go to a
    /// temporary table instead.
    private func lockInsurerRow(_ writer: Connection, _ o: Options, issuing: Bool) throws {
        // Temporary tables live in the session's local buffers (8 MB by default); a dry run's
        // decisions fit in memory with room to spare. Must be set before the first temp table.
        try writer.execute("SET temp_buffers = '1GB'")
        try writer.execute("BEGIN")
        try writer.execute("SET LOCAL work_mem = '256MB'")
        try writer.execute("SET LOCAL jit = off")
        if issuing {
            _ = try writer.query("SELECT 1 FROM insurer WHERE insurer_number = $1 FOR NO KEY UPDATE", [o.insurer])
        } else {
            try writer.execute("CREATE TEMP TABLE rd (LIKE decision) ON COMMIT DROP")
        }
    }

    static let certificatesCopy = """
        COPY certificate (certificate_number, member_id, kind, reasons, valid_from, valid_to, replaces_certificate_number,
                          application_id, special_consideration, mail_exception, printed_snapshot, run_id, insurer_number, issued_on) FROM STDIN
        """
    static let noticesCopy = "COPY notice (member_id, kind, reasons, details, mail_exception, valid_from, valid_to, run_id, insurer_number, sent_on) FROM STDIN"
    /// The writer's thread sends the spooled certificates and notices during the stream each
    /// time one spool has grown by this many bytes (KAKUNIN_SWITCH_BYTES: for measurements; a
    /// value larger than the spools sends them all after the stream, as before).
    static let switchBytes = Int(ProcessInfo.processInfo.environment["KAKUNIN_SWITCH_BYTES"] ?? "") ?? 1 << 18

    /// Certificates were handed over at the counter, while the run decided, to members the run
    /// was about to issue to: it decides again from a snapshot that includes them.
    struct CounterClash: Error {
        let members: [String]
    }

    /// The rows a run adds to tables other than `decision`, spooled while the decisions stream.
    private struct Spools {
        let certificates: CopySpool
        let notices: CopySpool
        let changes: CopySpool

        init(directory: URL) throws {
            certificates = try CopySpool(directory: directory, label: "certificates")
            notices = try CopySpool(directory: directory, label: "notices")
            changes = try CopySpool(directory: directory, label: "application and certificate changes")
        }
    }

    private func audit(_ db: Connection, _ action: String, _ runID: Int, _ o: Options, _ details: [String: Any]) throws {
        var details = details
        details["host"] = o.host
        try AuditLog.append(db, action, insurer: o.insurer, run: runID, details: details)
    }
}

/// Reason sets as the bytes the run writes: `{A,B}` for the COPY into a text[] column and
/// `A;B` for the mailing files. At most a few hundred distinct sets occur in a run.
struct ReasonTextCache {
    struct Text {
        /// `{A,B}`: the text form of the array (the spools for certificates and notices).
        let array: [UInt8]
        /// The array as a binary COPY field (the decisions).
        let arrayField: [UInt8]
        let list: [UInt8]
    }
    private var cache: [UInt32: Text] = [:]

    mutating func text(_ reasons: ReasonSet) -> Text {
        if let t = cache[reasons.bits] { return t }
        let codes = reasons.sorted.map(\.rawValue)
        let t = Text(array: Array("{\(codes.joined(separator: ","))}".utf8), arrayField: CopyBinary.Writer.textArrayField(codes),
                     list: Array(codes.joined(separator: ";").utf8))
        cache[reasons.bits] = t
        return t
    }
}

extension CopyText {
    /// `YYYY-MM-DD`, or `\N`.
    static func appendDate(_ d: LocalDate?, to out: inout [UInt8]) {
        guard let d else { appendNull(to: &out); return }
        let (y, m, day) = d.civil
        func two(_ n: Int) { out.append(UInt8(48 + n / 10)); out.append(UInt8(48 + n % 10)) }
        two(y / 100)
        two(y % 100)
        out.append(UInt8(ascii: "-"))
        two(m)
        out.append(UInt8(ascii: "-"))
        two(day)
    }

    static func appendInt(_ n: Int64?, to out: inout [UInt8]) {
        guard let n else { appendNull(to: &out); return }
        out.append(contentsOf: String(n).utf8)
    }
}
