import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore
import KakuninRuntime

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The nightly job for one insurer: decide, issue, write the mailing files, audit, report.",
        discussion: """
            Safe to rerun: a completed run changes nothing but what an attempt stopped before (its auditors' report, its
            signed checkpoint); a crashed one is taken over and finished. Decides with the insurer's parameter version in
            force on the as-of date (kakunin insurer params set). Runs move forward in time: a run for an as-of date
            earlier than a completed or running run of the insurer (any job) is refused before anything is written.
            Exit status: 0 success; 11 success with held members; 12 refused: the run would go back in time;
            40 no parameters in force (or no insurer_name); 78 bad configuration; 69 database unreachable;
            75 run locked by another process (or a lock still held after --lock-wait); 1 internal error.
            """)

    @Option(help: "Insurer number (6 or 8 digits).", transform: InsurerNumber.argument) var insurer: InsurerNumber
    @Option(help: "Business date of the run, YYYY-MM-DD (default: today in Japan).") var asOf: String?
    @Option(help: "Folder for the mailing files: <out>/<insurer>/<as-of>/<job>/.") var out: String = "kakunin-out"
    @Option(help: "Job name: one run per insurer, as-of date and job.") var job: String = "nightly"
    @Flag(help: "Decide and report without issuing, recording or writing mail.") var dryRun = false
    @Flag(
        help:
            "Decide every member (a full run), not only those whose facts changed or whose review date came; the report checks that every decision an incremental night would carry forward equals the full run's."
    ) var full = false
    @Flag(help: "Accept an as-of date more than 366 days before or after today.") var allowFarDate = false
    @Flag(help: "Write the mailing files of this completed run again from the database into --out (a folder without them); audited.")
    var rebuildFiles = false
    @Flag(help: "No progress or log lines on stderr.") var quiet = false
    @Option(
        parsing: .unconditional,
        help: "Seconds to wait for another process's lock on this insurer before refusing (exit 75); 0 or more.",
        transform: { text in
            guard let v = Double(text), v >= 0, v.isFinite else {
                throw ValidationError("--lock-wait takes a number of seconds, 0 or more (got \"\(text)\"); e.g. --lock-wait 30")
            }
            return v
        })
    var lockWait: Double = 5
    @Option(
        help:
            "Folder of reviewed parameter files: its <insurer>.conf, when it differs from the version in force on the as-of date, is set as a new version from that date (audited) before the run. Never a default: without it the run uses the version in force."
    )
    var paramsDir: String?
    @Option(help: "Ed25519 private key (PEM) to sign an audit-log checkpoint at the end (default: $KAKUNIN_AUDIT_KEY).")
    var auditKey: String?
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            let date = try parseAsOf(asOf)
            if let paramsDir {
                let note = try ParameterVersions.adoptFile(
                    try database.connect(), insurer: insurer.text, asOf: date, directory: URL(fileURLWithPath: paramsDir),
                    person: counterPerson(), dryRun: dryRun)
                if !quiet { printError(note) }
            }
            var options = NightlyRun.Options(
                insurer: insurer.text, asOf: date, outDirectory: URL(fileURLWithPath: out),
                host: hostName(), codeVersion: KakuninVersion.string)
            options.job = job
            options.dryRun = dryRun
            options.full = full
            options.allowFarDate = allowFarDate
            options.rebuildFiles = rebuildFiles
            options.person = counterPerson()
            options.lockWait = lockWait
            options.auditKeyPath = auditKey ?? ProcessInfo.processInfo.environment["KAKUNIN_AUDIT_KEY"].flatMap { $0.isEmpty ? nil : $0 }
            let log = RunLog(quiet: quiet)
            // Check the database is reachable first, so the exit status says so.
            _ = try database.connect()
            let result = try NightlyRun(databaseURL: database.resolvedURL, log: log).execute(options)
            if let sha = result.rebuiltManifestSHA256 {
                print(
                    "Mailing files of run \(result.runID!) for insurer \(insurer) as of \(date) written again from the database (manifest sha256 \(sha))."
                )
            }
            if let at = result.alreadyCompleted {
                print("Run \(result.runID!) for insurer \(insurer) as of \(date) already completed at \(at); nothing changed.")
            }
            if let params = result.parameters { print("Parameters: \(params.source) (sha256 \(params.sha256))") }
            print(result.report.render(), terminator: "")
            if let dir = result.filesDirectory { print("Mailing files: \(dir.path)") }
            return result.exitStatus
        }
    }
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The run registry.", subcommands: [List.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recent runs, newest first; a running run whose lease has expired is shown as abandoned.")
        @Option(help: "Only this insurer.", transform: InsurerNumber.argument) var insurer: InsurerNumber?
        @Option(help: "How many.") var limit: Int = 20
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                let rows: [[String?]] = try RunListing.recent(db, insurer: insurer?.text, limit: limit).map {
                    [
                        String($0.runID), $0.insurer, $0.asOf, $0.job, $0.status, $0.phase, String($0.attempts), $0.started,
                        $0.finished ?? "",
                        $0.decisions ?? "", $0.certificates ?? "", $0.held ?? "",
                    ]
                }
                guard !rows.isEmpty else {
                    print(
                        insurer.map { "no runs yet for insurer \($0) (kakunin run --insurer \($0) --as-of YYYY-MM-DD starts one)" }
                            ?? "no runs yet (kakunin run --insurer N --as-of YYYY-MM-DD starts one)")
                    return .success
                }
                printTable(
                    [
                        "run", "insurer", "as_of", "job", "status", "phase", "tries", "started (JST)", "finished (JST)", "decisions",
                        "certs", "held",
                    ], rows)
                return .success
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run: registry entry, provenance and report.")
        @Argument(help: "Run id.") var runID: Int
        @Option(help: "Folder the run wrote its mailing files to.") var out: String = "kakunin-out"
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                guard let (run, fields) = try RunRecord.details(db, runID: runID) else {
                    throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
                }
                for (n, v) in fields { print("\(n.padding(toLength: 18, withPad: " ", startingAt: 0)) \(v)") }
                let dir = run.filesDirectory(under: URL(fileURLWithPath: out))
                print(try RunReportLoader.load(db, runID: runID, filesDirectory: dir).render(), terminator: "")
                return .success
            }
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export data as CSV.", subcommands: [Decisions.self])

    struct Decisions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Decisions of a run as CSV (SPEC.md 5): run_id, insurer_number, member_id, as_of, outcome, reasons, valid_from, valid_to, certificate_number."
        )
        @Option(name: .customLong("run"), help: "Run id.") var runID: Int?
        @Option(help: "Insurer number (with --as-of, instead of --run).", transform: InsurerNumber.argument) var insurer: InsurerNumber?
        @Option(help: "As-of date (with --insurer).") var asOf: String?
        @Option(help: "Job name (with --insurer and --as-of).") var job: String = "nightly"
        @Option(help: "Write to this file (mode 0600) instead of standard output.") var output: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                let id: Int
                if let runID {
                    id = runID
                } else if let insurer, let asOf {
                    guard let found = try RunRecord.find(db, insurer: insurer.text, asOf: try parseAsOf(asOf), job: job) else {
                        throw OperatorError(
                            .notFound, "no \(job) run for insurer \(insurer) as of \(asOf)", fix: "kakunin runs list shows the runs")
                    }
                    id = found
                } else {
                    throw OperatorError(.usage, "say which run: --run R, or --insurer N --as-of D")
                }
                try DecisionArchive.refuseIfArchived(db, runID: id)
                guard let run = try RunRecord.identity(db, runID: id) else {
                    throw OperatorError(.notFound, "no run \(id)", fix: "kakunin runs list shows the runs")
                }
                if let output {
                    try OwnerOnlyFile.publish(URL(fileURLWithPath: output)) { w in
                        try w.write(DecisionExport.header)
                        try DecisionExport.copy(db, runID: id, asOf: run.asOf) { try w.write($0) }
                    }
                } else {
                    let out = FileHandle.standardOutput
                    out.write(Data(DecisionExport.header.utf8))
                    var buffer = Data()
                    try DecisionExport.copy(db, runID: id, asOf: run.asOf) { chunk in
                        buffer.append(contentsOf: chunk)
                        if buffer.count > 1 << 16 {
                            out.write(buffer)
                            buffer.removeAll(keepingCapacity: true)
                        }
                    }
                    out.write(buffer)
                }
                return .success
            }
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A run's report for auditors: provenance, counts, reconciliation, held members, changes since the previous run.",
        discussion: "HTML is one self-contained file in Japanese, printable on A4; CSV and JSON list the member ids of the changes.")
    @Option(name: .customLong("run"), help: "Run id.") var runID: Int
    @Option(help: "text | html | csv | json") var format: String = "text"
    @Option(help: "Write to this file (mode 0600) instead of standard output.") var output: String?
    @Option(help: "Folder the run wrote its mailing files to (for the file reconciliation).") var out: String = "kakunin-out"
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            guard let f = AuditorReport.Format(rawValue: format) else {
                throw OperatorError(.usage, "unknown format \(format)", fix: "use text, html, csv or json")
            }
            let db = try database.connect()
            guard let run = try RunRecord.identity(db, runID: runID) else {
                throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
            }
            try DecisionArchive.refuseIfArchived(db, runID: runID)
            let dir = run.filesDirectory(under: URL(fileURLWithPath: out))
            let report = try AuditorReport.load(db, runID: runID, filesDirectory: dir)
            // Streamed: after a night when most members changed, the lists are most members.
            try emit(to: output) { try report.write(f, db, to: $0) }
            return .success
        }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Re-decide a past run from what it saw and compare with its stored decisions; exit 0 identical, 13 listing the differences.")
    @Option(name: .customLong("run"), help: "Run id.") var runID: Int
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        try runReporting {
            let db = try database.connect()
            try DecisionArchive.refuseIfArchived(db, runID: runID)
            let r = try KakuninBatch.Replay.run(db, runID: runID, codeVersion: KakuninVersion.string)
            print(r.render(), terminator: "")
            return r.identical ? .success : .checkFailed
        }
    }
}
