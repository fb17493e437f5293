import Crypto
import Foundation
import KakuninCore
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
        public var parameters: LoadedParameters
        public var host: String
        public var codeVersion: String

        public init(insurer: String, asOf: LocalDate, outDirectory: URL, parameters: LoadedParameters, host: String, codeVersion: String) {
            self.insurer = insurer
            self.asOf = asOf
            self.outDirectory = outDirectory
            self.parameters = parameters
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
        public var exitStatus: ExitStatus { report.allChecksPass ? (report.held > 0 ? .membersHeld : .success) : .internalError }
    }

    private let url: String?
    private let log: RunLog

    public init(databaseURL: String?, log: RunLog) {
        url = databaseURL
        self.log = log
    }

    public func execute(_ o: Options) throws -> Result {
        guard o.insurer.range(of: #"^[0-9]{6}([0-9]{2})?$"#, options: .regularExpression) != nil else {
            throw OperatorError(.usage, "insurer number \(o.insurer) is not 6 or 8 digits")
        }
        let control = try Connection(url: url, applicationName: "kakunin-run")
        if o.dryRun { return try dryRun(o, control) }

        let registry = RunRegistry(db: control, host: o.host)
        let (run, completedAt): (RunRegistry.Run, String?)
        do {
            (run, completedAt) = try registry.acquire(insurer: o.insurer, asOf: o.asOf, job: o.job,
                                                       codeVersion: o.codeVersion, parameters: o.parameters, lockWait: o.lockWait)
        } catch let e as RunRegistry.Locked {
            throw OperatorError(.runLocked, e.message, fix: "wait for it to finish (kakunin runs list); a crashed run is taken over automatically")
        }
        log.runID = run.id
        let dir = o.outDirectory.appendingPathComponent(o.insurer).appendingPathComponent(o.asOf.description).appendingPathComponent(o.job)
        if let completedAt {
            log.event("registry", "run \(run.id) already completed at \(completedAt); nothing to do")
            var r = Result(runID: run.id, report: try RunReport.load(control, runID: run.id, filesDirectory: dir))
            r.alreadyCompleted = completedAt
            r.filesDirectory = dir
            return r
        }
        if run.resumed { log.event("registry", "taking over abandoned run \(run.id) (attempt \(run.attempts), phase \(run.phase.rawValue))") }
        else { log.event("registry", "run \(run.id) started for insurer \(o.insurer) as of \(o.asOf)", ["parameters": o.parameters.source]) }
        try audit(control, "run_started", run.id, o, ["attempt": run.attempts, "phase": run.phase.rawValue,
                                                     "parameters_sha256": o.parameters.sha256, "parameters_source": o.parameters.source,
                                                     "code_version": o.codeVersion])
        if run.phase == .deciding {
            try decideAndCommit(o, runID: run.id, registry: registry, dryRun: false)
            CrashPoint.hit("after-commit")
        } else {
            log.event("decide", "decisions were committed by an earlier attempt; writing the files again")
        }
        try registry.heartbeat(runID: run.id, force: true)
        let files = try MailFiles(db: control, insurer: o.insurer, runID: run.id, asOf: o.asOf, parameters: o.parameters.parameters)
            .publish(to: dir, log: log)
        let report = try RunReport.load(control, runID: run.id, filesDirectory: dir)
        try audit(control, "run_completed", run.id, o, ["manifest_sha256": files.manifestSHA256, "checks_pass": report.allChecksPass,
                                                       "decisions": report.decisions, "certificates": report.certificates])
        try registry.complete(runID: run.id, counts: report.countsJSON())
        log.event("complete", "run \(run.id) completed", ["decisions": report.decisions, "certificates": report.certificates, "held": report.held])
        var r = Result(runID: run.id, report: report)
        r.resumed = run.resumed
        r.filesDirectory = dir
        return r
    }

    private func dryRun(_ o: Options, _ control: Connection) throws -> Result {
        log.event("dry-run", "deciding without issuing or writing mail")
        let report = try decideAndCommit(o, runID: nil, registry: nil, dryRun: true)
        return Result(runID: nil, report: report!)
    }

    /// Streams every member's facts out (COPY TO), decides, streams decisions in (COPY FROM) on a
    /// second connection, then issues, records and commits in one transaction.
    @discardableResult
    private func decideAndCommit(_ o: Options, runID: Int?, registry: RunRegistry?, dryRun: Bool) throws -> RunReport? {
        let reader = try Connection(url: url, applicationName: "kakunin-run-read")
        let writer = try Connection(url: url, applicationName: "kakunin-run-write")
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        // A streaming query gains nothing from JIT compilation but pays ~0.5 s for it.
        try reader.execute("SET LOCAL jit = off")
        let total = Int(try reader.query("SELECT count(*) FROM member WHERE insurer_number = $1", [o.insurer]).scalar!)!
        try writer.execute("BEGIN")
        try writer.execute("SET LOCAL work_mem = '256MB'")
        try writer.execute("SET LOCAL jit = off")
        try writer.execute("""
            CREATE TEMP TABLE rd (member_id text COLLATE "C", scheme text, outcome text, reasons text[], s_date date,
                valid_from date, valid_to date, application_id bigint, replaces bigint, records_on bigint, special boolean,
                details text) ON COMMIT DROP
            """)
        let policy = Policy(parameters: o.parameters.parameters)
        let asOf = o.asOf
        var parser = CopyTextParser()
        var read = 0
        let factsSQL = MemberFactsQuery.sql(oneMember: false)
            .replacingOccurrences(of: "$1", with: "'\(o.insurer)'")      // validated: digits only
            .replacingOccurrences(of: "$2", with: "'\(asOf)'::date")      // a LocalDate
        log.event("decide", "deciding \(total) members", ["members": total])
        try writer.copyIn("COPY rd FROM STDIN") { w in
            try reader.copyOut("COPY (\(factsSQL)) TO STDOUT") { chunk in
                let row = parser.parseRow(chunk)
                let (memberID, facts, details) = try MemberFactsQuery.facts(row)
                let d = policy.decide(facts, asOf: asOf)
                try w.writeRow([memberID, facts.scheme.rawValue, d.outcome.rawValue, "{" + d.reasons.joined.replacingOccurrences(of: ";", with: ",") + "}",
                                d.s?.description, d.validFrom?.description, d.validTo?.description, d.applicationID.map(String.init),
                                d.replacesCertificate.map(String.init), d.recordsConsiderationOn.map(String.init),
                                d.specialConsideration ? "t" : "f", details])
                read += 1
                if let runID { try registry?.heartbeat(runID: runID) }
                log.progress(read, of: total)
                CrashPoint.hit("decide:\(read)")
            }
        }
        try reader.execute("COMMIT")
        // Temporary tables have no statistics until analysed; without them the joins below
        // would be planned as nested loops over every pair of members.
        try writer.execute("ANALYZE pg_temp.rd")
        log.endProgress()
        log.event("decide", "decided \(read) members", ["members": read])

        if dryRun {
            let report = try RunReport.fromStage(writer, membersRead: read)
            try writer.execute("ROLLBACK")
            return report
        }
        guard let runID else { return nil }
        let id = String(runID), insurer = o.insurer, date = asOf.description
        let next = try writer.query("SELECT next_certificate_number FROM insurer WHERE insurer_number = $1 FOR UPDATE", [insurer]).scalar!
        try writer.execute("""
            CREATE TEMP TABLE issued ON COMMIT DROP AS
            SELECT member_id, $1::bigint + row_number() OVER (ORDER BY member_id) - 1 AS certificate_number
            FROM rd WHERE outcome IN ('issue', 'renew', 'issue_on_application') AND valid_from IS NOT NULL
            """, [next])
        try writer.execute("ANALYZE pg_temp.issued")
        try writer.execute("UPDATE insurer SET next_certificate_number = $2::bigint + (SELECT count(*) FROM issued) WHERE insurer_number = $1",
                           [insurer, next])
        try writer.execute("""
            INSERT INTO certificate (insurer_number, certificate_number, member_id, run_id, kind, reasons, valid_from, valid_to,
                                     issued_on, replaces_certificate_number, application_id, special_consideration)
            SELECT $1, i.certificate_number, r.member_id, $2, CASE WHEN r.replaces IS NOT NULL THEN 'reissue' ELSE r.outcome END,
                   r.reasons, r.valid_from, r.valid_to, $3, r.replaces, r.application_id, r.special
            FROM rd r JOIN issued i USING (member_id)
            """, [insurer, id, date])
        try writer.execute("""
            UPDATE certificate c SET status = 'voided', voided_on = $2, void_reason = 'replaced by certificate ' || i.certificate_number
            FROM rd r JOIN issued i USING (member_id)
            WHERE c.insurer_number = $1 AND c.certificate_number = r.replaces AND c.status = 'active'
            """, [insurer, date])
        try writer.execute("""
            UPDATE certificate c SET special_consideration = true, consideration_ended_on = NULL
            FROM rd r WHERE c.insurer_number = $1 AND c.certificate_number = r.records_on
            """, [insurer])
        try writer.execute("""
            UPDATE application a SET fulfilled_run_id = $1, fulfilled_certificate_number = i.certificate_number, fulfilled_on = $2, updated_at = now()
            FROM rd r LEFT JOIN issued i USING (member_id)
            WHERE a.application_id = r.application_id AND r.outcome <> 'held'
            """, [id, date])
        try writer.execute("""
            INSERT INTO notice (insurer_number, member_id, kind, run_id, sent_on, details, reasons)
            SELECT $1, member_id, outcome, $2, $3, CASE WHEN outcome = 'eligibility_notice' THEN details END, reasons
            FROM rd WHERE outcome IN ('eligibility_notice', 'apply_notice')
            """, [insurer, id, date])
        let partition = try writer.query("SELECT ensure_decision_partition($1)", [date]).scalar!
        try writer.execute("""
            INSERT INTO decision (run_id, insurer_number, member_id, as_of, scheme, outcome, reasons, s_date, valid_from, valid_to, certificate_number)
            SELECT $2, $1, r.member_id, $3, r.scheme, r.outcome, r.reasons, r.s_date, r.valid_from, r.valid_to, i.certificate_number
            FROM rd r LEFT JOIN issued i USING (member_id)
            """, [insurer, id, date])
        let digest = try writer.query("""
            SELECT count(*), coalesce(encode(sha256(convert_to(string_agg(concat_ws(',', certificate_number, member_id, kind, valid_from, valid_to),
                   E'\\n' ORDER BY certificate_number), 'UTF8')), 'hex'), '')
            FROM certificate WHERE insurer_number = $1 AND run_id = $2
            """, [insurer, id]).rows[0]
        try writer.execute("""
            INSERT INTO audit_event (action, host, insurer_number, run_id, details, prev_hash, hash)
            VALUES ('run_decided', $1, $2, $3, $4::jsonb, '', '')
            """, [o.host, insurer, id, json(["members_read": read, "certificates_issued": Int(digest[0]!)!, "certificates_sha256": digest[1]!,
                                             "parameters_sha256": o.parameters.sha256, "code_version": o.codeVersion])])
        // Fresh statistics for what the run just added: the mail files and the report join these
        // tables, and autovacuum has not seen the new rows yet.
        try writer.execute("ANALYZE certificate, notice, application, \(partition)")
        CrashPoint.hit("before-commit")
        try writer.execute("UPDATE run SET phase = 'decided', counts = jsonb_build_object('members_read', $2::int) WHERE run_id = $1",
                           [id, String(read)])
        try writer.execute("COMMIT")
        log.event("issue", "committed decisions, \(digest[0]!) certificates, notices and audit events")
        return nil
    }

    private func audit(_ db: Connection, _ action: String, _ runID: Int, _ o: Options, _ details: [String: Any]) throws {
        try db.execute("""
            INSERT INTO audit_event (action, host, insurer_number, run_id, details, prev_hash, hash)
            VALUES ($1, $2, $3, $4, $5::jsonb, '', '')
            """, [action, o.host, o.insurer, String(runID), json(details)])
    }
}

func json(_ obj: [String: Any]) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}
