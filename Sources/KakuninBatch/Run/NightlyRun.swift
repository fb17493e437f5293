import Crypto
import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

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
        /// Decide every member (`kakunin run --full`), whatever changed (issue 34).
        public var full = false

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
    static let maxDecideTries = 5
    /// An as-of date further than this from today needs `allowFarDate` (SPEC.md 2.5).
    public static let farDays = 366
    /// Today in Japan, for the far-date bound; test hook: KAKUNIN_TODAY=YYYY-MM-DD (the test
    /// suites pin it, so that their runs of fixed dates stay within the bound in years to come).
    public static var today: LocalDate {
        ProcessInfo.processInfo.environment["KAKUNIN_TODAY"].flatMap { LocalDate($0) } ?? LocalDate.todayInJapan()
    }
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
            let (run, completedAt) = try registry.acquire(
                insurer: o.insurer, asOf: o.asOf, job: o.job,
                codeVersion: o.codeVersion, lockWait: o.lockWait)
            // A run taken over or already completed goes on with the version it was registered with.
            o.parameters = try ParameterVersions.ofRun(control, runID: run.id)
            var result = try execute(o, control: control, registry: registry, run: run, completedAt: completedAt)
            result.parameters = o.parameters
            return result
        } catch let e as RunRegistry.Locked {
            throw OperatorError(
                .runLocked, e.message, fix: "wait for it to finish (kakunin runs list); a crashed run is taken over automatically")
        } catch let e as RunRegistry.BackDated {
            throw OperatorError(.runBackDated, e.message, fix: e.fix)
        } catch let e as RunRegistry.LockTimeout {
            throw OperatorError(
                .runLocked, e.message,
                fix:
                    "end that process (kakunin runs list shows the run; pg_terminate_backend(<connection>) ends a connection left behind) or let it finish, then run the same command again; --lock-wait sets how long to wait"
            )
        } catch let e as RunRegistry.LostLock {
            throw OperatorError(
                .runLocked, "\(e); this process stopped without committing or publishing anything more",
                fix: "kakunin runs list shows who holds the run now; if nobody does, run the same command again and it finishes the job")
        }
    }

    /// An as-of date more than `farDays` before or after today (a mistyped year) is refused
    /// unless the operator says so (SPEC.md 2.5).
    static func requireNearDate(_ o: Options) throws {
        let distance = o.today.days(until: o.asOf)
        guard abs(distance) > farDays, !o.allowFarDate else { return }
        throw OperatorError(
            .usage,
            "as-of date \(o.asOf) is \(abs(distance)) days \(distance < 0 ? "before" : "after") today (\(o.today)): more than \(farDays) days away, which is usually a mistyped year",
            fix: "check the year; if the date is meant, add --allow-far-date")
    }

    /// A job name becomes a folder name: a short name of letters, digits, '-' and '_'.
    public static func validateJob(_ job: String) throws {
        guard job.range(of: #"^[A-Za-z0-9_-]{1,40}$"#, options: .regularExpression) != nil else {
            throw OperatorError(
                .usage, "job name \"\(job.prefix(60))\" is not allowed: it names a folder of the mailing files",
                fix: "use 1 to 40 letters, digits, '-' or '_' (e.g. nightly, catchup-2026-12)")
        }
    }

    private func execute(
        _ o: Options, control: Connection, registry: RunRegistry, run: RunRegistry.Run, completedAt: String?
    ) throws -> Result {
        log.runID = run.id
        let dir = Self.folder(o)
        if let completedAt { return try finishAlreadyCompleted(o, control: control, run: run, dir: dir, completedAt: completedAt) }
        if run.resumed {
            log.event("registry", "taking over abandoned run \(run.id) (attempt \(run.attempts), phase \(run.phase.rawValue))")
        } else {
            log.event("registry", "run \(run.id) started for insurer \(o.insurer) as of \(o.asOf)", ["parameters": o.parameters.source])
        }
        try audit(
            control, "run_started", run.id, o,
            [
                "attempt": run.attempts, "phase": run.phase.rawValue,
                "parameters_sha256": o.parameters.sha256, "parameters_source": o.parameters.source,
                "code_version": o.codeVersion,
            ])
        // Files written from committed decisions use the parameters the run recorded (those it
        // decided with), as `--rebuild-files` does.
        let mail = MailSettings(
            run.phase == .decided ? try ParameterVersions.ofRun(control, runID: run.id).parameters : o.parameters.parameters)
        if o.parameters.parameters.usesDeprecatedMailClass {
            log.event(
                "parameters",
                "mail_class is deprecated: it sets both mail_class.certificate and mail_class.notice (now \(mail.certificateClass.rawValue) and \(mail.noticeClass.rawValue)); set those instead"
            )
        }
        let published = try publishFiles(o, control: control, registry: registry, run: run, dir: dir, mail: mail)
        defer { _ = published.earlySeal?.wait() }
        return try complete(o, control: control, registry: registry, run: run, dir: dir, published: published)
    }

    /// The folder of the run's mailing files: `<out>/<insurer>/<as-of>/<job>`.
    static func folder(_ o: Options) -> URL {
        o.outDirectory.appendingPathComponent(o.insurer).appendingPathComponent(o.asOf.description).appendingPathComponent(o.job)
    }

    /// A run completed before: only what an attempt stopped before is finished.
    private func finishAlreadyCompleted(
        _ o: Options, control: Connection, run: RunRegistry.Run, dir: URL, completedAt: String
    ) throws -> Result {
        log.event("registry", "run \(run.id) already completed at \(completedAt); finishing only what an attempt stopped before")
        let report = try RunReport.load(control, runID: run.id, filesDirectory: dir)
        try finishCompleted(control, runID: run.id, dir: dir, base: report, o)
        var r = Result(runID: run.id, report: report)
        r.alreadyCompleted = completedAt
        r.filesDirectory = dir
        return r
    }

    /// The run's published mailing files, the report's reading of them (still going on, when
    /// this attempt staged them) and the early seal of the audit log (when it committed).
    private struct PublishedFiles {
        let files: (manifestSHA256: String, manifest: MailFiles.Manifest)
        let stagedFiles: Background<RunReport.FileFacts>?
        let earlySeal: Background<Bool>?
    }

    /// The publish step: the run's mailing files decided and committed now, or written again
    /// from the decisions an earlier attempt committed, and renamed into place; or those an
    /// earlier attempt published.
    private func publishFiles(
        _ o: Options, control: Connection, registry: RunRegistry, run: RunRegistry.Run, dir: URL,
        mail: MailSettings
    ) throws -> PublishedFiles {
        if let published = try MailFiles.published(in: dir, runID: run.id) {
            // Files are published only after the decisions commit: a run still deciding cannot
            // have any. These are another database's (a restored or new one numbering its runs
            // from 1 again): never adopted, never overwritten.
            guard run.phase == .decided else {
                throw OperatorError(
                    .badConfiguration,
                    "\(dir.path) already holds mailing files of a run \(run.id) that this database has not decided: they come from another database or an earlier installation",
                    fix: "move that folder away (or pass another --out) and run again; kakunin never adopts or overwrites published files")
            }
            log.event("files", "already published by an earlier attempt: \(dir.path)")
            return PublishedFiles(files: published, stagedFiles: nil, earlySeal: nil)
        }
        var staging = try MailStaging(dir: dir, runID: run.id, attempt: run.attempts, settings: mail)
        var stagedFiles: Background<RunReport.FileFacts>?
        do {
            var earlySeal: Background<Bool>?
            if run.phase == .deciding {
                stagedFiles = try decideWithRetries(o, registry: registry, run: run, dir: dir, mail: mail, staging: &staging)
                CrashPoint.hit("after-commit")
                earlySeal = sealInBackground()
            } else {
                log.event("files", "decisions were committed by an earlier attempt; writing the files again from them")
                try writeFilesFromDatabase(control, o, runID: run.id, into: staging)
            }
            try registry.heartbeat(runID: run.id, force: true)
            // The report's reading of the files goes on (they are open) while their folder
            // is renamed into place and the report's counts are read from the database.
            let files = try staging.publish(log: log)
            return PublishedFiles(files: files, stagedFiles: stagedFiles, earlySeal: earlySeal)
        } catch {
            _ = stagedFiles?.wait()
            staging.discard()
            throw error
        }
    }

    /// Decides and commits, again from a new snapshot while counter work overlaps the run.
    /// Deciding again is rare (a counter issue for one of the run's members during the run)
    /// and cheap next to a wrong second certificate.
    private func decideWithRetries(
        _ o: Options, registry: RunRegistry, run: RunRegistry.Run, dir: URL, mail: MailSettings,
        staging: inout MailStaging
    ) throws -> Background<RunReport.FileFacts> {
        var tries = 1
        while true {
            do {
                return try decideAndCommit(o, runID: run.id, registry: registry, staging: staging).stagedFiles!
            } catch let clash as CounterClash where tries < Self.maxDecideTries {
                log.event(
                    "decide",
                    clash.members.isEmpty
                        ? "a certificate or application this run changes was changed at the counter during the run; deciding again"
                        : "members \(clash.members.prefix(10).joined(separator: ", ")) were issued a certificate at the counter during the run; deciding again",
                    ["members": clash.members.count])
                staging.discard()
                tries += 1
                staging = try MailStaging(dir: dir, runID: run.id, attempt: run.attempts, settings: mail)
            } catch let clash as CounterClash {
                throw OperatorError(
                    .runLocked,
                    "counter issues kept overlapping this run (\(tries) tries; last: members \(clash.members.prefix(10).joined(separator: ", ")))",
                    fix: "run the same command again when the counter is quieter: nothing was committed")
            }
        }
    }

    /// The run's last steps once its files are published: the report, the run marked complete,
    /// the auditors' report, then the seal of the audit log or a signed checkpoint.
    private func complete(
        _ o: Options, control: Connection, registry: RunRegistry, run: RunRegistry.Run, dir: URL,
        published: PublishedFiles
    ) throws -> Result {
        let files = published.files
        let url = url
        let report = try RunReport.load(
            control, runID: run.id, filesDirectory: dir, files: published.stagedFiles,
            beside: { try? Connection(url: url, applicationName: "kakunin-run-report") })
        try audit(
            control, "run_completed", run.id, o,
            [
                "manifest_sha256": files.manifestSHA256, "checks_pass": report.allChecksPass,
                "decisions": report.decisions, "certificates": report.certificates,
            ])
        try registry.complete(runID: run.id, counts: report.countsJSON())
        log.event(
            "complete", "run \(run.id) completed",
            ["decisions": report.decisions, "certificates": report.certificates, "held": report.held])
        CrashPoint.hit("completed")
        // The auditors' report beside the mailing files, as HTML (people) and JSON (tools).
        try publishAuditorReport(control, runID: run.id, dir: dir, base: report)
        // The run's events and certificates take their places in the audit log; with a key,
        // a signed checkpoint is written beside the mailing files.
        _ = published.earlySeal?.wait()
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
        var report = try decideAndCommit(o, runID: nil, registry: nil, staging: nil).dryRunReport!
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
            log.event(
                "files",
                "the mailing files of run \(runID) are not in \(dir.path); kakunin run --rebuild-files writes them again from the database")
        }
        if let keyPath = o.auditKeyPath {
            guard published, !FileManager.default.fileExists(atPath: dir.appendingPathComponent(Self.checkpointName).path) else { return }
            log.event(
                "audit", "the signed checkpoint of run \(runID) was missing (an attempt stopped after completing the run): signing one")
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
            throw OperatorError(
                .notFound,
                "insurer \(o.insurer) has no completed \(o.job) run as of \(o.asOf): only a completed run's files can be rebuilt",
                fix:
                    "kakunin runs list --insurer \(o.insurer) shows the runs; an unfinished run is finished by running it again without --rebuild-files"
            )
        }
        log.runID = run.id
        let dir = Self.folder(o)
        let present = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        guard present.isEmpty else {
            throw OperatorError(
                .badConfiguration,
                "\(dir.path) already holds \(present.count) file(s) (\(present.prefix(5).joined(separator: ", "))): kakunin never overwrites published files",
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
        try audit(
            control, "run_files_rebuilt", run.id, o,
            [
                "person": o.person ?? "", "job": o.job, "manifest_sha256": files.manifestSHA256,
                "files": files.manifest.files.map(\.name),
            ])
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

    /// What deciding produced: a dry run's report, or (a run) its committed decisions with the
    /// report's reading of the staged files, going on on a thread of its own.
    private enum Decided {
        case dryRun(RunReport)
        case committed(stagedFiles: Background<RunReport.FileFacts>)

        var dryRunReport: RunReport? { if case .dryRun(let r) = self { r } else { nil } }
        var stagedFiles: Background<RunReport.FileFacts>? { if case .committed(let f) = self { f } else { nil } }
    }

    /// Streams every member's facts out (COPY TO, in envelope order: FactsSource), decides and
    /// numbers the certificates (DecisionEncoder, CertificateNumbers), streams the decisions
    /// straight into `decision` (COPY FROM) on a second connection (StreamWriter) and writes the
    /// mailing records to `staging` (StreamMailer); the certificates, notices and the
    /// applications they fulfil wait in spool files until the stream ends. Then everything is
    /// issued, recorded and committed in that one transaction (IssueTransaction). Without
    /// `staging` (a dry run) the decisions go to a temporary table, are reported and rolled back.
    private func decideAndCommit(_ o: Options, runID: Int?, registry: RunRegistry?, staging: MailStaging?) throws -> Decided {
        let reader = try Connection(url: url, applicationName: "kakunin-run-read")
        let writer = try Connection(url: url, applicationName: "kakunin-run-write")
        try openWriter(writer, o, issuing: runID != nil, registry: registry)
        var facts = try FactsSource(
            reader: reader, insurer: o.insurer, asOf: o.asOf,
            delivery: o.parameters.parameters.employeeDelivery)
        // What every row of a table has in common: run, insurer, as-of date (the last columns).
        let common = Array("\t\(runID ?? 0)\t\(o.insurer)\t\(o.asOf.description)\n".utf8)
        let spool = try staging.map { try RunSpools(directory: $0.staging) }
        let person = PersonColumns(memberID: 0, scheme: 1, birthDate: 2, mail: MemberFactsQuery.mailColumnsStart)
        // The mailing records, spools and the digest of the certificates the run issues (number,
        // member, kind, validity, one line each in number order, which is the stream's order,
        // as the run_decided event records it) are written on a thread of their own.
        var mailer: StreamMailer?
        if let staging, let spool {
            mailer = StreamMailer(
                staging: staging, certificates: spool.certificates, notices: spool.notices, changes: spool.changes,
                person: person, asOf: o.asOf, common: common)
        }
        defer { mailer?.stop() }
        // The kept decisions travel with the facts: planned before the read starts.
        var carry = try planCarry(reader, o, runID: runID)
        facts.carryKept(of: carry.keptRun)
        try facts.restrict(to: carry.candidates, url: url)
        // One number for each member read at most (an incremental night: its candidates).
        var numbers = try CertificateNumbers(runID: runID, registry: registry, reader: reader, insurer: o.insurer, count: facts.readCount)
        try facts.splitIfLarge(url: url, log: log)
        log.event("decide", "deciding \(facts.total) members", ["members": facts.total])
        let encoder = DecisionEncoder(parameters: o.parameters.parameters, runID: runID, insurer: o.insurer, asOf: o.asOf)
        let w = try Self.streamWriter(writer, dryRun: runID == nil, spool: spool)
        defer { w.stop() }
        let read = try streamDecisions(facts, encoder, &numbers, &carry, to: w, mailer: mailer, runID: runID, registry: registry)
        carry.carriedWithoutReading(facts.total - read)
        // The mailing thread has written the last rows; the writer's thread sends what the
        // spools still hold after the last decisions.
        let issued = try mailer?.finish()
        if let spool {
            try spool.certificates.complete()
            try spool.notices.complete()
        }
        // The writer's thread sends what is left (the rows held for member order among it)
        // while the files are finished and their reading for the report begins.
        try w.endInput()
        let stagedFiles = try runID.flatMap { r in try staging.map { try finishFiles($0, runID: r, registry: registry, o) } }
        do {
            let streamed = try w.finish()
            try facts.commit()
            log.endProgress()
            log.event(
                "decide", "decided \(facts.total - carry.carried) members, carried \(carry.carried) forward (facts read: \(read))",
                ["members": facts.total, "facts_read": read, "carried_forward": carry.carried])
            guard let runID, let spool, let stagedFiles else {
                let report = try RunReport.fromStage(writer, membersRead: facts.total)
                try writer.execute("ROLLBACK")
                return .dryRun(report)
            }
            try IssueTransaction(writer: writer, registry: registry, runID: runID, insurer: o.insurer, log: log).commit(
                .init(
                    membersRead: facts.total, issued: issued, factsSnapshot: facts.snapshot, numbers: numbers, changes: spool.changes,
                    switches: w.switches, sentDuringStream: streamed.sentDuringStream, heldForMemberOrder: streamed.held,
                    sortedRuns: streamed.runs,
                    carry: carry.counts(parameters: o.parameters, codeVersion: o.codeVersion, runID: runID, factsRead: read)),
                parameters: o.parameters, codeVersion: o.codeVersion, host: o.host)
            return .committed(stagedFiles: stagedFiles)
        } catch {
            _ = stagedFiles?.wait()
            throw error
        }
    }

    /// A run's files finished (once it is known to be still this process's: a run taken over
    /// stops here) and opened, then read on a thread of their own for the report: the
    /// folder can be published meanwhile.
    private func finishFiles(
        _ staging: MailStaging, runID: Int, registry: RunRegistry?, _ o: Options
    ) throws -> Background<
        RunReport.FileFacts
    > {
        try registry?.heartbeat(runID: runID, force: true)
        try staging.finish(insurer: o.insurer, asOf: o.asOf)
        let staged = RunReport.FileFacts.open(staging.staging)
        return Background { RunReport.FileFacts.read(staged) }
    }

    /// The decisions go to the writer connection's own thread, which also sends the spooled
    /// certificates and notices as they grow (StreamWriter): the server takes them while the
    /// stream runs instead of after it.
    private static func streamWriter(_ writer: Connection, dryRun: Bool, spool: RunSpools?) throws -> StreamWriter {
        try StreamWriter(
            db: writer, decisionsSQL: decisionsCopy(into: dryRun ? "pg_temp.rd" : "decision"),
            sides: spool.map {
                [
                    (sql: RunSpools.certificatesCopy, spool: $0.certificates, inOrder: nil),
                    (sql: RunSpools.noticesCopy, spool: $0.notices, inOrder: $0.noticesInOrder),
                ]
            } ?? [],
            decisionsInOrder: spool?.decisionsInOrder, switchBytes: switchBytes)
    }

    /// Full run or incremental night (CarryForward.plan), logged; a dry run decides everyone.
    private func planCarry(_ reader: Connection, _ o: Options, runID: Int?) throws -> CarryForward {
        let carry =
            try runID.map {
                try CarryForward.plan(
                    reader, runID: $0, insurer: o.insurer, asOf: o.asOf, parameters: o.parameters,
                    codeVersion: o.codeVersion, askedFull: o.full)
            } ?? .dryRun(asOf: o.asOf)
        log.event(
            "decide",
            carry.full
                ? "full run: \(carry.why)"
                : "incremental night: reading the members whose facts can have changed or whose review date has come",
            ["full_run": carry.full])
        return carry
    }

    /// The decide and number steps over the stream: each member's decision to the writer's
    /// thread and, in a run, with its facts row to the mailing thread. Returns the members read.
    private func streamDecisions(
        _ facts: FactsSource, _ encoder: DecisionEncoder, _ numbers: inout CertificateNumbers,
        _ carry: inout CarryForward, to w: StreamWriter, mailer: StreamMailer?, runID: Int?, registry: RunRegistry?
    ) throws -> Int {
        var row = CopyRow()
        var read = 0
        let total = facts.total
        try facts.stream { chunk in
            if read == 0 { log.event("decide", "first member's facts arrived (the facts query has joined and sorted)") }
            row.load(chunk)
            read += 1
            // An incremental night carries the decision in force forward (no row, nothing to mail).
            let digest = CarryForward.digest(row)
            if try !carry.carries(row, digest: digest) {
                let decided = try encoder.decide(row, digest: digest, numbers: &numbers)
                // A full run that is not a base run stores only what differs from the decision in force.
                let kept = try carry.check(
                    row, digest: digest, decided.decision, reasons: decided.reasons.array,
                    issues: decided.number != nil || decided.printedChange != nil)
                if !kept { try encoder.write(row, decided, to: w) }
                if !kept, let mailer {
                    // The row itself goes to the mailing thread; the next one loads into a row
                    // it has finished with (no copy, no allocation per member).
                    try mailer.add(
                        StreamMailer.Item(
                            row: row, decision: decided.decision, number: decided.number, kind: decided.kind))
                    row = mailer.recycledRow()
                }
            }
            if let runID { try registry?.heartbeat(runID: runID) }
            log.progress(read, of: total)
            CrashPoint.hit("decide:\(read)")
            TestPause.hit("decide:\(read)")
        }
        return read
    }

    /// The decisions' COPY, in binary form, into `decision` or (a dry run) the temporary table.
    private static func decisionsCopy(into target: String) -> String {
        """
        COPY \(target) (member_id, scheme, outcome, reasons, s_date, valid_from, valid_to, certificate_number, facts,
                         next_review_on, facts_digest, run_id, insurer_number, as_of) FROM STDIN (FORMAT binary)
        """
    }

    /// The writer's connection, before the facts are read: until the insurer's row is locked,
    /// every lock wait ends after --lock-wait (a process of an abandoned run may still hold
    /// them): LockTimeout names who holds it.
    private func openWriter(_ writer: Connection, _ o: Options, issuing: Bool, registry: RunRegistry?) throws {
        if let registry { try registry.boundLockWaits(writer, local: false) }
        do {
            // The month's partition, in its own short transaction so that creating it does not
            // hold a lock on `decision` for the length of the run.
            if issuing { _ = try writer.query("SELECT ensure_decision_partition($1)", [o.asOf.description]) }
            try lockInsurerRow(writer, o, issuing: issuing)
        } catch let e as DatabaseError where e.sqlState == "55P03" {
            if let registry {
                throw try registry.lockTimeout(insurer: o.insurer, waitingFor: "the insurer's row (or the decisions' partition)")
            }
            throw e
        }
        if registry != nil { _ = try writer.query("SELECT set_config('lock_timeout', '0', false)") }
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

    /// The writer's thread sends the spooled certificates and notices during the stream each
    /// time one spool has grown by this many bytes (KAKUNIN_SWITCH_BYTES: for measurements; a
    /// value larger than the spools sends them all after the stream, as before).
    static let switchBytes = Int(ProcessInfo.processInfo.environment["KAKUNIN_SWITCH_BYTES"] ?? "") ?? 1 << 18

    private func audit(_ db: Connection, _ action: String, _ runID: Int, _ o: Options, _ details: [String: Any]) throws {
        var details = details
        details["host"] = o.host
        try AuditLog.append(db, action, insurer: o.insurer, run: runID, details: details)
    }
}

/// Reason sets as the bytes the run writes: `{A,B}` for the COPY into a text[] column and
/// `A;B` for the mailing files. At most a few hundred distinct sets occur in a run.
struct ReasonTextCache {
    /// A class: handing one on costs one retain, not one per array.
    final class Text: Sendable {
        /// `{A,B}`: the text form of the array (the spools for certificates and notices).
        let array: [UInt8]
        /// The array as a binary COPY field (the decisions).
        let arrayField: [UInt8]
        let list: [UInt8]

        init(array: [UInt8], arrayField: [UInt8], list: [UInt8]) {
            self.array = array
            self.arrayField = arrayField
            self.list = list
        }
    }
    private var cache: [UInt32: Text] = [:]
    /// The last set asked for: members in a row often share their reasons (no hashing then).
    private var last: (bits: UInt32, text: Text)?

    mutating func text(_ reasons: ReasonSet) -> Text {
        if let last, last.bits == reasons.bits { return last.text }
        let t = cache[reasons.bits] ?? make(reasons)
        last = (reasons.bits, t)
        return t
    }

    private mutating func make(_ reasons: ReasonSet) -> Text {
        let codes = reasons.sorted.map(\.rawValue)
        let t = Text(
            array: Array("{\(codes.joined(separator: ","))}".utf8), arrayField: CopyBinary.Writer.textArrayField(codes),
            list: Array(codes.joined(separator: ";").utf8))
        cache[reasons.bits] = t
        return t
    }
}

extension CopyText {
    /// `YYYY-MM-DD`, or `\N`.
    static func appendDate(_ d: LocalDate?, to out: inout [UInt8]) {
        guard let d else {
            appendNull(to: &out)
            return
        }
        let (y, m, day) = d.civil
        func two(_ n: Int) {
            out.append(UInt8(48 + n / 10))
            out.append(UInt8(48 + n % 10))
        }
        two(y / 100)
        two(y % 100)
        out.append(UInt8(ascii: "-"))
        two(m)
        out.append(UInt8(ascii: "-"))
        two(day)
    }

    static func appendInt(_ n: Int64?, to out: inout [UInt8]) {
        guard let n else {
            appendNull(to: &out)
            return
        }
        LetterBatch.appendDigits(n, to: &out)
    }
}
