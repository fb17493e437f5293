import Foundation
import KakuninCore
import KakuninStore

/// The run report (SPEC.md 5): counts by outcome × reason × scheme, and the reconciliation —
/// members read = decisions = sum of outcomes; certificates issued = mailing records = manifest
/// counts — each check marked pass or fail.
public struct RunReport: Sendable {
    public struct Check: Sendable {
        public let name: String
        public let pass: Bool
        public let detail: String
    }

    public var runID: Int?
    public var insurerNumber = ""
    /// The insurer's name as its parameters gave it (insurer_name), nil when none was set.
    public var insurerName: String?
    public var membersRead = 0
    public var decisions = 0
    public var byOutcome: [(String, Int)] = []
    public var byOutcomeReasonScheme: [(outcome: String, reason: String, scheme: String, count: Int)] = []
    public var certificates = 0
    public var held = 0
    public var checks: [Check] = []
    public var files: [String: Int] = [:]

    public var allChecksPass: Bool { checks.allSatisfy(\.pass) }

    static func load(_ db: Connection, runID: Int, filesDirectory: URL) throws -> RunReport {
        var r = RunReport()
        r.runID = runID
        let id = String(runID)
        let run = try db.query("""
            SELECT r.as_of::text, coalesce((r.counts->>'members_read')::int, -1), r.insurer_number, i.insurer_name
            FROM run r JOIN insurer i USING (insurer_number) WHERE r.run_id = $1
            """, [id]).rows[0]
        r.insurerNumber = run[2]!
        r.insurerName = run[3]
        let asOf = run[0]!
        r.membersRead = Int(run[1]!)!
        try r.loadCounts(db, from: "decision", where: "run_id = \(runID) AND as_of = '\(asOf)'")
        r.certificates = Int(try db.query("SELECT count(*) FROM certificate WHERE run_id = $1", [id]).scalar!)!
        let notices = try db.query("SELECT kind, count(*) FROM notice WHERE run_id = $1 GROUP BY kind", [id]).rows
        func notice(_ k: String) -> Int { notices.first { $0[0] == k }.flatMap { Int($0[1]!) } ?? 0 }

        // What the files and the manifest say.
        let manifestURL = filesDirectory.appendingPathComponent(MailFiles.names.manifest)
        var manifest: [String: Int] = [:]
        if let data = try? Data(contentsOf: manifestURL), let m = try? JSONDecoder().decode(MailFiles.Manifest.self, from: data) {
            for f in m.files { manifest[f.name] = f.records }
        }
        for name in [MailFiles.names.certificates, MailFiles.names.eligibility, MailFiles.names.apply, MailFiles.names.exceptions] {
            r.files[name] = countRecords(filesDirectory.appendingPathComponent(name))
        }
        let sum = r.byOutcome.reduce(0) { $0 + $1.1 }
        // No member of the insurer holds two active certificates whose validity overlaps
        // (walks the by-member index: each certificate against the one before it).
        let overlap = try db.query("""
            SELECT count(DISTINCT member_id), coalesce(string_agg(DISTINCT member_id, ' ' ORDER BY member_id) FILTER (WHERE n <= 10), '')
            FROM (SELECT member_id, valid_from, lag(valid_to) OVER w AS previous_to, row_number() OVER () AS n
                  FROM certificate WHERE insurer_number = $1 AND status = 'active'
                  WINDOW w AS (PARTITION BY member_id ORDER BY valid_from)) c
            WHERE valid_from <= previous_to
            """, [run[2]!]).rows[0]
        let doubled = Int(overlap[0]!)!
        r.checks = [
            Check(name: "members read = decisions", pass: r.membersRead == r.decisions, detail: "\(r.membersRead) = \(r.decisions)"),
            Check(name: "decisions = sum of outcomes", pass: r.decisions == sum, detail: "\(r.decisions) = \(sum)"),
            Check(name: "no member holds two active certificates whose validity overlaps", pass: doubled == 0,
                  detail: doubled == 0 ? "0 members" : "\(doubled) members, e.g. \(overlap[1]!)"),
            reconcile("certificates issued = mailing records = manifest", r.certificates, r.files[MailFiles.names.certificates], manifest[MailFiles.names.certificates]),
            reconcile("eligibility notices = mailing records = manifest", notice("eligibility_notice"), r.files[MailFiles.names.eligibility], manifest[MailFiles.names.eligibility]),
            reconcile("application guidance notices = mailing records = manifest", notice("apply_notice"), r.files[MailFiles.names.apply], manifest[MailFiles.names.apply]),
            reconcile("held members = exceptions = manifest", r.held, r.files[MailFiles.names.exceptions], manifest[MailFiles.names.exceptions]),
        ]
        return r
    }

    /// For --dry-run: the same counts from the staged decisions, nothing written.
    static func fromStage(_ db: Connection, membersRead: Int) throws -> RunReport {
        var r = RunReport()
        r.membersRead = membersRead
        try r.loadCounts(db, from: "pg_temp.rd", where: "true")
        r.certificates = r.byOutcome.filter { ["issue", "renew", "issue_on_application"].contains($0.0) }.reduce(0) { $0 + $1.1 }
        let sum = r.byOutcome.reduce(0) { $0 + $1.1 }
        r.checks = [
            Check(name: "members read = decisions", pass: r.membersRead == r.decisions, detail: "\(r.membersRead) = \(r.decisions)"),
            Check(name: "decisions = sum of outcomes", pass: r.decisions == sum, detail: "\(r.decisions) = \(sum)"),
        ]
        return r
    }

    /// One pass over the decisions: counts by outcome, scheme and reason set, folded here into
    /// the totals, the outcome counts and outcome × reason × scheme.
    private mutating func loadCounts(_ db: Connection, from source: String, where condition: String) throws {
        let groups = try db.query("""
            SELECT outcome, scheme, array_to_string(reasons, ','), count(*) FROM \(source) WHERE \(condition) GROUP BY 1, 2, 3
            """).rows
        var outcomes: [String: Int] = [:]
        var detail: [String: Int] = [:]
        decisions = 0
        for g in groups {
            let (outcome, scheme, n) = (g[0]!, g[1]!, Int(g[3]!)!)
            decisions += n
            outcomes[outcome, default: 0] += n
            for reason in (g[2] ?? "").split(separator: ",") { detail["\(outcome)\t\(reason)\t\(scheme)", default: 0] += n }
        }
        byOutcome = outcomes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        byOutcomeReasonScheme = detail.sorted { $0.key < $1.key }.map {
            let k = $0.key.split(separator: "\t").map(String.init)
            return (k[0], k[1], k[2], $0.value)
        }
        held = outcomes["held"] ?? 0
    }

    private static func reconcile(_ name: String, _ db: Int, _ file: Int?, _ manifest: Int?) -> Check {
        Check(name: name, pass: file == db && manifest == db,
              detail: "\(db) = \(file.map(String.init) ?? "missing file") = \(manifest.map(String.init) ?? "missing manifest")")
    }

    private static func countRecords(_ url: URL) -> Int? {
        guard let reader = try? CSVReader(path: url.path), let n = try? reader.countRecords() else { return nil }
        return max(n - 1, 0)
    }

    public func render() -> String {
        var s = runID.map { "Run \($0) report\n" } ?? "Dry run report (nothing issued, no files written)\n"
        s += "Insurer: \(insurerNumber) \(insurerName ?? "")\n"
        if insurerName == nil {
            s += "warning: no insurer_name in the insurer's parameter file: certificates and notices carry no 保険者名称; set insurer_name in jobs/insurers/\(insurerNumber.isEmpty ? "<insurer>" : insurerNumber).conf\n"
        }
        s += "Outcomes:\n"
        for (o, n) in byOutcome { s += "  \(o.padding(toLength: 22, withPad: " ", startingAt: 0)) \(n)\n" }
        s += "By outcome × reason × scheme:\n"
        for row in byOutcomeReasonScheme {
            s += "  \(row.outcome.padding(toLength: 22, withPad: " ", startingAt: 0)) \(row.reason.padding(toLength: 33, withPad: " ", startingAt: 0)) \(row.scheme.padding(toLength: 9, withPad: " ", startingAt: 0)) \(row.count)\n"
        }
        s += "Reconciliation:\n"
        for c in checks { s += "  [\(c.pass ? "pass" : "FAIL")] \(c.name): \(c.detail)\n" }
        if held > 0 { s += "\(held) members held: see exceptions.csv; they are decided again next run.\n" }
        return s
    }

    func countsJSON() -> String {
        var obj: [String: Any] = ["members_read": membersRead, "decisions": decisions, "certificates": certificates, "held": held,
                                  "insurer_name": insurerName ?? NSNull()]
        obj["outcomes"] = Dictionary(uniqueKeysWithValues: byOutcome)
        obj["checks_pass"] = allChecksPass
        return json(obj)
    }
}

/// Loads a finished run's report (for `kakunin runs show`).
public enum RunReportLoader {
    public static func load(_ db: Connection, runID: Int, filesDirectory: URL) throws -> RunReport {
        try RunReport.load(db, runID: runID, filesDirectory: filesDirectory)
    }
}
