import Foundation
import KakuninAudit
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The run report (SPEC.md 5): counts by outcome × reason × scheme, and the reconciliation —
/// members read = decisions = sum of outcomes; certificates issued = mailing records = manifest
/// counts — each check marked pass or fail.
public struct RunReport: Sendable {
    public struct Check: Sendable {
        public let name: String
        public let pass: Bool
        public let detail: String
        /// The check and its figures as auditors read them (the HTML report, the console).
        public let japanese: String
        public let japaneseDetail: String
        /// Not applicable to this run (it passes; `detail` says why it was skipped).
        public let skipped: Bool

        init(name: String, pass: Bool, detail: String, japanese: String, japaneseDetail: String? = nil, skipped: Bool = false) {
            self.name = name
            self.pass = pass
            self.skipped = skipped
            self.detail = detail
            self.japanese = japanese
            // One form for staff: 4 ＝ 4, as the details written in Japanese put it.
            self.japaneseDetail = japaneseDetail ?? detail.replacingOccurrences(of: " = ", with: " ＝ ")
        }

        /// 一致 / 不一致, as the reports say pass and fail.
        public var japaneseResult: String { skipped ? "対象外" : pass ? "一致" : "不一致" }

        /// pass, FAIL or skip, as the text report and the CSV say it.
        public var result: String { skipped ? "skip" : pass ? "pass" : "FAIL" }
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
    /// Documents issued but not mailed: their records went to exceptions.csv (a character the
    /// vendor's encoding lacks, a control character, a field too long); staff hand them over.
    public var waiting = 0
    /// Envelopes and yen per mail class (from envelopes.csv; the manifest carries the same).
    public var postage: [(mailClass: String, envelopes: Int, yen: Int)] = []
    public var postageTotal: Int { postage.reduce(0) { $0 + $1.yen } }
    public var envelopes = 0

    public var allChecksPass: Bool { checks.allSatisfy(\.pass) }
    /// Issue 34: how the run was made. nil: a run made before incremental nights.
    public var carry: Carry?
    /// A report counted from what changed since an earlier run (InForceDelta): that run and the
    /// changed members' outcomes from → to, read with the counts (the auditors' matrix), and
    /// the members whose outcome changed when they are few (`InForceDelta.listedUpTo`; nil:
    /// more, the auditors' report reads them again as it writes them).
    var changes: (since: Int, fromTo: [(from: String, to: String, count: Int)], members: [InForceDelta.Change]?)?

    /// A full run, or an incremental night and what it carried forward.
    public struct Carry: Sendable {
        public var full = true
        public var reason = ""
        public var carriedForward = 0
        /// A full run: the decisions an incremental night would have carried forward, compared
        /// with those the run decided, and the members whose decisions differed (first 100).
        public var compared = 0
        public var mismatches = 0
        public var mismatchMembers: [String] = []
        /// The decisions this run wrote (its own rows in `decision`).
        public var decidedRows = 0
        /// The members whose facts the run read (nil: a run that read every member's).
        public var factsRead: Int?

        /// From the run's counts (CarryForward.counts), nil when it has none. `countRows`: count
        /// the run's decision rows here; a base run's report counts them in its pass over the
        /// same rows (`load` sets `decidedRows` from it) and skips this second scan.
        static func load(_ db: Connection, runID: Int, countRows: Bool = true) throws -> Carry? {
            guard
                let row = try db.query(
                    """
                    SELECT (counts->>'full_run')::boolean, counts->>'full_run_reason', (counts->>'carried_forward')::int,
                           (counts->>'carry_compared')::int, (counts->>'carry_mismatches')::int,
                           array_to_string(ARRAY(SELECT jsonb_array_elements_text(counts->'carry_mismatch_members')), ' '),
                           CASE WHEN $2 THEN (SELECT count(*) FROM decision d WHERE d.run_id = r.run_id AND d.as_of = r.as_of) END,
                           (counts->>'facts_read')::int
                    FROM run r WHERE run_id = $1 AND counts ? 'full_run'
                    """, [String(runID), countRows ? "true" : "false"]
                ).rows.first
            else { return nil }
            return Carry(
                full: row[0] == "t", reason: row[1] ?? "", carriedForward: Int(row[2] ?? "") ?? 0, compared: Int(row[3] ?? "") ?? 0,
                mismatches: Int(row[4] ?? "") ?? 0, mismatchMembers: (row[5] ?? "").split(separator: " ").map(String.init),
                decidedRows: Int(row[6] ?? "") ?? 0, factsRead: row[7].flatMap { Int($0) })
        }

        /// Every member of the insurer is accounted for: members = decided (the run's own
        /// decision rows) + carried forward (read and found unchanged, or not read at all: an
        /// incremental night reads its candidates only).
        func checks(membersRead: Int, decisions: Int) -> [Check] {
            let read = factsRead ?? membersRead
            let how =
                full
                ? " (full run: \(reason))"
                : " (incremental night: facts of \(read) read, \(membersRead - read) members not read, carried forward)"
            var checks = [
                Check(
                    name: "members = decided + carried forward", pass: membersRead == decidedRows + carriedForward,
                    detail: "\(membersRead) = \(decidedRows) + \(carriedForward)\(how)",
                    japanese: "加入者数 ＝ 今回の判定数 ＋ 前回からの引継ぎ数（読み込まなかった方を含む）",
                    japaneseDetail:
                        "\(membersRead) ＝ \(decidedRows) ＋ \(carriedForward)\(full ? "（全件判定）" : "（差分判定：\(read) 人の事実を読込、\(membersRead - read) 人は読み込まずに引継ぎ）")"
                )
            ]
            if full {
                let shown = mismatchMembers.joined(separator: " ")
                checks.append(
                    Check(
                        name: "every decision an incremental night would carry forward = the full run's decision", pass: mismatches == 0,
                        detail: mismatches == 0
                            ? "\(compared) compared, all equal" : "\(mismatches) of \(compared) differ: members \(shown)",
                        japanese: "差分判定で引き継ぐはずの判定 ＝ 全件判定の結果",
                        japaneseDetail: mismatches == 0 ? "\(compared) 件を比較、すべて一致" : "\(compared) 件中 \(mismatches) 件が不一致：加入者 \(shown)"))
            }
            return checks
        }
    }

    /// `files`: the files' side, already being read (the run reads its staged files, which it
    /// publishes by renaming them, while the database commits); otherwise it is read here, on
    /// a thread of its own while the database counts.
    /// `beside`: opens a second connection, on which the decisions and documents are counted
    /// while this one runs the overlap and certificate-coverage checks (nil, or no connection:
    /// all of them here, one after the other).
    static func load(
        _ db: Connection, runID: Int, filesDirectory: URL, files: Background<FileFacts>? = nil,
        beside: (@Sendable () -> Connection?)? = nil
    ) throws -> RunReport {
        let pending = files ?? Background { FileFacts.read(filesDirectory) }
        defer { _ = pending.wait() }
        var r = RunReport()
        r.runID = runID
        let id = String(runID)
        let run = try db.query(
            """
            SELECT r.as_of::text, coalesce((r.counts->>'members_read')::int, -1), r.insurer_number,
                   coalesce((r.counts->>'base_run_id')::bigint, r.run_id) = r.run_id
            FROM run r WHERE r.run_id = $1
            """, [id]
        ).firstRow
        guard let run else { throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs") }
        r.insurerNumber = try run.text(2)
        // The name the run was made with, whatever was set later.
        r.insurerName = try ParameterVersions.recorded(db, runID: runID)?.parameters.insurerName
        let asOf = try run.text(0)
        r.membersRead = try run.int(1)
        let full = try run.bool(3)
        r.carry = try Carry.load(db, runID: runID, countRows: !full)
        let since = full || !InForceDelta.few(r) ? nil : try InForceDelta.since(db, runID: runID)
        // The counts on the second connection (when there is one) while this one checks overlaps
        // and the audit log's coverage.
        let counting = Tally.Counting(runID: runID, asOf: asOf, full: full, since: since)
        let sofar = r
        let side = beside.map { open in Background { Result { try open().map { try counting.count($0, sofar) } } } }
        defer { _ = side?.wait() }
        // What the files and the manifest say.
        let manifestURL = filesDirectory.appendingPathComponent(MailFiles.names.manifest)
        var manifest: [String: Int] = [:]
        var manifestPostage: [MailFiles.PostageLine]?
        var manifestEnvelopes: Int?
        var lettersOff = false
        if let data = try? Data(contentsOf: manifestURL), let m = try? JSONDecoder().decode(MailFiles.Manifest.self, from: data) {
            for f in m.files { manifest[f.name] = f.records }
            manifestPostage = m.postage
            manifestEnvelopes = m.envelopes
            lettersOff = m.member_letters == "off"
        }
        let overlap = try overlaps(db, insurer: r.insurerNumber, asOf: asOf, run: id, since: since?.runID)
        let doubled = try overlap.int(0)
        let logged = try AuditLog.certificateCoverage(db, insurer: r.insurerNumber, run: runID)
        let tally = try side?.wait().get() ?? counting.count(db, r)
        r = tally.report
        func issued(_ k: String) -> (all: Int, waiting: Int) { tally.byKind[k] ?? (0, 0) }
        // The files' side last: the database has answered every query meanwhile.
        let read = files?.wait() ?? pending.wait()
        r.files = read.records
        let excepted = read.excepted
        let walk = read.walk
        r.envelopes = walk.envelopes
        r.postage = walk.postage.sorted { $0.key < $1.key }.map { ($0.key, $0.value.envelopes, $0.value.yen) }
        let fromManifest = (manifestPostage ?? []).sorted { $0.mail_class < $1.mail_class }.map {
            "\($0.mail_class) \($0.envelopes) \($0.yen)"
        }
        let fromFile = r.postage.map { "\($0.mailClass) \($0.envelopes) \($0.yen)" }
        let sum = r.byOutcome.reduce(0) { $0 + $1.1 }
        r.checks =
            [
                Check(
                    name: "members read = decisions", pass: r.membersRead == r.decisions, detail: "\(r.membersRead) = \(r.decisions)",
                    japanese: "読み込んだ加入者数 ＝ 判定数"),
                Check(
                    name: "decisions = sum of outcomes", pass: r.decisions == sum, detail: "\(r.decisions) = \(sum)",
                    japanese: "判定数 ＝ 結果別件数の合計"),
            ] + (r.carry?.checks(membersRead: r.membersRead, decisions: r.decisions) ?? []) + [
                Check(
                    name: "no member holds two active certificates whose validity overlaps on or after the as-of date", pass: doubled == 0,
                    detail: doubled == 0 ? "0 members" : "\(doubled) members, e.g. \(overlap.shown(1))",
                    japanese: "基準日以降に有効期間が重なる有効な確認書を二枚持つ方はいない",
                    japaneseDetail: doubled == 0 ? "0 人" : "\(doubled) 人（例：\(overlap.shown(1))）"),
                Check(
                    name: "every certificate of the run is in the audit log or waits for its next seal", pass: logged.outside == 0,
                    detail: "\(logged.certificates) = \(logged.logged) in the log + \(logged.pending) waiting"
                        + (logged.outside == 0 ? "" : " (\(logged.outside) outside the log)"),
                    japanese: "この実行の確認書はすべて監査ログにある（または次の封印待ち）",
                    japaneseDetail: "\(logged.certificates) ＝ ログ \(logged.logged) ＋ 封印待ち \(logged.pending)"
                        + (logged.outside == 0 ? "" : "（ログ外 \(logged.outside)）")),
                mailed(
                    "certificates", issued("certificate"), excepted["certificate"] ?? 0, r.files[MailFiles.names.certificates],
                    manifest[MailFiles.names.certificates]),
                mailed(
                    "eligibility notices", issued("eligibility_notice"), excepted["eligibility_notice"] ?? 0,
                    r.files[MailFiles.names.eligibility],
                    manifest[MailFiles.names.eligibility]),
                mailed(
                    "application guidance notices", issued("apply_notice"), excepted["apply_notice"] ?? 0, r.files[MailFiles.names.apply],
                    manifest[MailFiles.names.apply]),
                Check(
                    name: "held members = held rows of exceptions.csv", pass: r.held == (excepted[""] ?? 0),
                    detail: "\(r.held) = \(excepted[""] ?? 0)", japanese: "保留の人数 ＝ 例外ファイルの保留の行数"),
                Check(
                    name: "exceptions.csv = manifest",
                    pass: r.files[MailFiles.names.exceptions] != nil
                        && r.files[MailFiles.names.exceptions] == manifest[MailFiles.names.exceptions],
                    detail:
                        "\(r.files[MailFiles.names.exceptions].map(String.init) ?? "missing file") = \(manifest[MailFiles.names.exceptions].map(String.init) ?? "missing manifest") rows",
                    japanese: "例外ファイルの行数 ＝ 送付目録の記載",
                    japaneseDetail:
                        "\(r.files[MailFiles.names.exceptions].map(String.init) ?? "ファイルなし") ＝ \(manifest[MailFiles.names.exceptions].map(String.init) ?? "目録なし") 行"
                ),
                Check(
                    name: "every document is in exactly one envelope, every envelope's counts and members match its documents",
                    pass: walk.problems.isEmpty
                        && walk.documents == (r.files[MailFiles.names.certificates] ?? 0) + (r.files[MailFiles.names.eligibility] ?? 0)
                            + (r.files[MailFiles.names.apply] ?? 0)
                        && manifestEnvelopes == walk.envelopes && manifest[MailFiles.names.envelopes] == walk.envelopes,
                    detail: walk.problems.isEmpty
                        ? "\(walk.envelopes) envelopes (manifest \(manifestEnvelopes.map(String.init) ?? "missing")), \(walk.documents) documents"
                        : walk.problems.joined(separator: "; "),
                    japanese: "どの書類もちょうど一つの封筒に入り、封筒ごとの件数と宛先が書類と一致する",
                    japaneseDetail: walk.problems.isEmpty
                        ? "封筒 \(walk.envelopes)（目録 \(manifestEnvelopes.map(String.init) ?? "なし")）、書類 \(walk.documents)"
                        : "不一致 \(walk.problems.count) 件（詳細は文字版の報告書）"),
                lettersOff
                    ? Check(
                        name: "one member letter per mailed document", pass: true,
                        detail: "skipped: member_letters = off for this run (the insurer encloses its own leaflets), no inserts.csv",
                        japanese: "郵送する書類ごとに説明の手紙が一通", japaneseDetail: "対象外：この保険者は説明の手紙を同封しない設定（member_letters = off）",
                        skipped: true)
                    : Check(
                        name:
                            "one member letter per mailed document (inserts.csv, by envelope and member; every paragraph id in letter_paragraphs.csv) = manifest",
                        pass: walk.inserts == walk.documents && manifest[InsertFiles.csvName] == walk.inserts
                            && walk.letterProblems.isEmpty,
                        detail:
                            "\(walk.inserts.map(String.init) ?? "no inserts.csv") letters, \(walk.documents) documents, manifest \(manifest[InsertFiles.csvName].map(String.init) ?? "missing")"
                            + walk.letterProblems.map { "; \($0)" }.joined(),
                        japanese: "郵送する書類ごとに説明の手紙が一通（手紙ファイル ＝ 送付目録）",
                        japaneseDetail:
                            "手紙 \(walk.inserts.map(String.init) ?? "なし")、書類 \(walk.documents)、目録 \(manifest[InsertFiles.csvName].map(String.init) ?? "なし")"
                    ),
                Check(
                    name: "postage: envelopes.csv = manifest", pass: fromFile == fromManifest,
                    detail: "\(fromFile.joined(separator: ", ")) = \(fromManifest.joined(separator: ", "))",
                    japanese: "郵便料金：封筒ファイル ＝ 送付目録",
                    japaneseDetail: r.postage.map {
                        "\(InsurerParameters.MailClass(rawValue: $0.mailClass)?.japanese ?? $0.mailClass) 封筒 \($0.envelopes)・\(StaffNumber.grouped($0.yen)) 円"
                    }
                    .joined(separator: "、") + (fromFile == fromManifest ? "（目録と一致）" : "（目録と不一致）")),
            ]
        return r
    }

    /// The report's counts: the decisions (by outcome, reason and scheme) and the documents the
    /// run issued, by kind (all, and those waiting for staff), on one connection.
    struct Tally: Sendable {
        var report: RunReport
        var byKind: [String: (all: Int, waiting: Int)] = [:]

        struct Counting: Sendable {
            let runID: Int
            let asOf: String
            let full: Bool
            let since: (runID: Int, counts: String)?

            /// `base`: the report read so far (run, insurer, carry), counted into.
            func count(_ db: Connection, _ base: RunReport) throws -> Tally {
                TestPause.hit("report:counts")
                var r = base
                // Every member's decision in force: decided by this run or carried forward (issue 34).
                // A run that is its own base (a base run, or one made before issue 34) carries nothing
                // forward: its decisions in force are its own rows, counted without the function's
                // sort of every decision by member (0.7 s against 2.9 s at 511,330 members).
                // An incremental night (or a full run that is not a base run) counts what changed since
                // an earlier run of its chain whose counts are kept (InForceDelta), without reading
                // every member's decision in force.
                if try since.map({ try r.loadCounts(db, runID: runID, since: $0) }) != true {
                    try r.loadCounts(
                        db, from: full ? "decision" : "decision_in_force(\(runID))",
                        where: full ? "as_of = '\(asOf)' AND run_id = \(runID)" : "as_of = '\(asOf)'")
                }
                // A base run's decisions in force are its own rows: the pass above counted them.
                if full { r.carry?.decidedRows = r.decisions }
                var t = Tally(report: r)
                // Documents by kind: all issued, and those waiting (not in the vendor's file).
                let docs = try db.query(
                    """
                    SELECT 'certificate', count(*), count(mail_exception) FROM certificate c
                    WHERE c.insurer_number = $2 AND c.run_id = $1 AND \(RunRegistry.inBlock("c", run: "$1"))
                    UNION ALL SELECT kind, count(*), count(mail_exception) FROM notice WHERE run_id = $1 GROUP BY kind
                    """, [String(runID), r.insurerNumber]
                ).typedRows
                for d in docs { t.byKind[try d.text(0)] = (try d.int(1), try d.int(2)) }
                t.report.certificates = t.byKind["certificate"]?.all ?? 0
                t.report.waiting = t.byKind.values.reduce(0) { $0 + $1.waiting }
                return t
            }
        }
    }

    /// The report's check that no member of the insurer holds two active certificates whose
    /// validity overlaps on or after the as-of date: the members who do (how many, the first ten).
    ///
    /// Each certificate is compared with the one before it, by member. Two
    /// certificates that overlap there both end on or after it: the certificates that ended
    /// before are history (an overlap among them is in the past, and was reported by the runs
    /// of its time), and leaving them out keeps the check proportional to the certificates in
    /// force rather than to every year issued (measured: the Benchmarks article of the
    /// documentation, "Measurements behind the code").
    /// An incremental night that reads what changed since an earlier run of its chain
    /// (`since`) whose checks all passed checks the members with a certificate written or
    /// changed after that run's snapshot only: two certificates that overlap and were both
    /// there before were both active then with a later end, and that run's check found none.
    /// A full run checks every member.
    private static func overlaps(_ db: Connection, insurer: String, asOf: String, run: String, since: Int?) throws -> ResultRow {
        // The since-run's snapshot, read first and passed as a value: compared with a column
        // of the run table, every certificate was read once more for each process of a parallel scan.
        let sinceSnapshot = try since.flatMap { s in
            try db.query(
                """
                SELECT p.facts_snapshot::text FROM run p, run r
                WHERE p.run_id = $1 AND r.run_id = $2 AND p.counts->>'checks_pass' = 'true' AND r.counts->>'full_run' = 'false'
                """,
                [String(s), run]
            ).firstRow?.optionalText(0)
        }
        // The members whose certificates changed are found by one read of the stamps; their
        // certificates are then read by the member's index.
        let source =
            sinceSnapshot == nil
            ? "certificate WHERE insurer_number = $1 AND status = 'active' AND valid_to >= $2::date"
            : """
            (SELECT DISTINCT member_id FROM certificate
             WHERE insurer_number = $1 AND changed_xact >= pg_snapshot_xmin($3::pg_snapshot)
               AND NOT pg_visible_in_snapshot(changed_xact, $3::pg_snapshot)) ch
            JOIN certificate USING (member_id)
            WHERE insurer_number = $1 AND status = 'active' AND valid_to >= $2::date
            """
        return try db.query(
            """
            SELECT count(DISTINCT member_id), coalesce(string_agg(DISTINCT member_id, ' ' ORDER BY member_id) FILTER (WHERE n <= 10), '')
            FROM (SELECT member_id, valid_from, lag(valid_to) OVER w AS previous_to, row_number() OVER () AS n
                  FROM \(source)
                  WINDOW w AS (PARTITION BY member_id ORDER BY valid_from)) c
            WHERE valid_from <= previous_to
            """, sinceSnapshot.map { [insurer, asOf, $0] } ?? [insurer, asOf]
        ).typedRows[0]
    }

    /// For --dry-run: the same counts from the staged decisions, nothing written.
    static func fromStage(_ db: Connection, membersRead: Int) throws -> RunReport {
        var r = RunReport()
        r.membersRead = membersRead
        try r.loadCounts(db, from: "pg_temp.rd", where: "true")
        r.certificates = r.byOutcome.filter { ["issue", "renew", "issue_on_application"].contains($0.0) }.reduce(0) { $0 + $1.1 }
        let sum = r.byOutcome.reduce(0) { $0 + $1.1 }
        r.checks = [
            Check(
                name: "members read = decisions", pass: r.membersRead == r.decisions, detail: "\(r.membersRead) = \(r.decisions)",
                japanese: "読み込んだ加入者数 ＝ 判定数"),
            Check(
                name: "decisions = sum of outcomes", pass: r.decisions == sum, detail: "\(r.decisions) = \(sum)",
                japanese: "判定数 ＝ 結果別件数の合計"),
        ]
        return r
    }

    /// One pass over the decisions: counts by outcome, scheme and reason set, folded here into
    /// the totals, the outcome counts and outcome × reason × scheme.
    private mutating func loadCounts(_ db: Connection, from source: String, where condition: String) throws {
        // Grouped by the reason array, written as text once per group rather than once per row
        // (about a fifth less time at 511,330 decisions); groups whose texts coincide are summed by `fold`.
        let sql = """
            SELECT outcome, scheme, array_to_string(reasons, ','), n
            FROM (SELECT outcome, scheme, reasons, count(*) AS n FROM \(source) WHERE \(condition) GROUP BY 1, 2, 3) g
            """
        // Right after a run its decisions have no statistics yet (autovacuum analyses them
        // later): the planner expects a handful of rows and sorts them all to group them, on
        // disk (see the Benchmarks article). The few dozen groups are counted in a hash table.
        let groups =
            try db.inTransaction
            ? db.query(sql).typedRows
            : db.transaction {
                try db.execute("SET LOCAL enable_sort = off")
                return try db.query(sql).typedRows
            }
        try fold(groups, outcomes: [:], detail: [:])
    }

    /// An incremental night (not a base run): the counts of an earlier completed run of its
    /// chain (InForceDelta.since, kept in that run's row) plus what changed since, read from
    /// the decisions written after it: nothing is read per member that did not change.
    private mutating func loadCounts(_ db: Connection, runID: Int, since: (runID: Int, counts: String)) throws -> Bool {
        guard let kept = try? JSONSerialization.jsonObject(with: Data(since.counts.utf8)) as? [String: Any],
            let outcomes = kept["outcomes"] as? [String: Int], let detail = kept["in_force_detail"] as? [[Any]]
        else { return false }
        var start: [String: Int] = [:]
        for d in detail {
            guard d.count == 4, let o = d[0] as? String, let reason = d[1] as? String, let scheme = d[2] as? String, let n = d[3] as? Int
            else { return false }
            start["\(o)\t\(reason)\t\(scheme)"] = n
        }
        let ctes = try InForceDelta.ctes(db, run: runID, since: since.runID)
        let groups = try InForceDelta.read(db) {
            try db.query(
                """
                WITH \(ctes)
                SELECT outcome, scheme, array_to_string(reasons, ','), sum(n)::bigint, 'counts'
                FROM (SELECT outcome, scheme, reasons, 1 AS n FROM chg UNION ALL SELECT outcome, scheme, reasons, -1 FROM prv) t
                GROUP BY 1, 2, 3
                UNION ALL
                SELECT coalesce(p.outcome, '(new)'), c.outcome, NULL, count(*), 'from-to' FROM chg c LEFT JOIN prv p USING (member_id) GROUP BY 1, 2
                UNION ALL
                \(InForceDelta.listedChanges)
                """
            ).typedRows
        }
        try fold(groups.filter { $0.optionalText(4) == "counts" }, outcomes: outcomes, detail: start)
        changes = (
            since.runID,
            try groups.filter { $0.optionalText(4) == "from-to" }.map { (try $0.text(0), try $0.text(1), try $0.int(3)) },
            try InForceDelta.listed(groups.filter { $0.optionalText(4) == "member" })
        )
        return true
    }

    /// Adds counted groups (outcome, scheme, reason set, n; n < 0 takes away) to `outcomes` and
    /// `detail` (outcome, reason, scheme joined by tabs) and keeps the totals.
    private mutating func fold(_ groups: [ResultRow], outcomes start: [String: Int], detail startDetail: [String: Int]) throws {
        var outcomes = start
        var detail = startDetail
        for g in groups {
            let (outcome, scheme, n) = (try g.text(0), try g.text(1), try g.int(3))
            outcomes[outcome, default: 0] += n
            for reason in (g.optionalText(2) ?? "").split(separator: ",") { detail["\(outcome)\t\(reason)\t\(scheme)", default: 0] += n }
        }
        decisions = outcomes.values.reduce(0, +)
        byOutcome = outcomes.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        byOutcomeReasonScheme = detail.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map {
            let k = $0.key.split(separator: "\t").map(String.init)
            return (k[0], k[1], k[2], $0.value)
        }
        held = outcomes["held"] ?? 0
    }

    /// Issued = mailed (vendor file, manifest) + waiting (the database and exceptions.csv agree).
    private static func mailed(_ name: String, _ db: (all: Int, waiting: Int), _ excepted: Int, _ file: Int?, _ manifest: Int?) -> Check {
        let document =
            ["certificates": "資格確認書", "eligibility notices": "資格情報のお知らせ", "application guidance notices": "申請勧奨通知"][name] ?? name
        return Check(
            name: "\(name) issued = mailing records + waiting for staff = manifest + exceptions",
            pass: file == db.all - db.waiting && manifest == file && excepted == db.waiting,
            detail:
                "\(db.all) = \(file.map(String.init) ?? "missing file") + \(db.waiting) (manifest \(manifest.map(String.init) ?? "missing"), exceptions.csv \(excepted))",
            japanese: "\(document)：作成数 ＝ 送付ファイルの件数 ＋ 職員対応待ち（目録・例外ファイルと一致）",
            japaneseDetail:
                "\(db.all) ＝ \(file.map(String.init) ?? "ファイルなし") ＋ \(db.waiting)（目録 \(manifest.map(String.init) ?? "なし")、例外 \(excepted)）")
    }

    /// Documents in exceptions.csv by kind (rows of one document are consecutive), held rows
    /// (no document) under "".
    fileprivate static func countExceptions(_ reader: CSVReader?) -> [String: Int] {
        guard let reader else { return [:] }
        var counts: [String: Int] = [:]
        var header: [String] = []
        var last = ""
        try? reader.forEachRecord { r in
            if header.isEmpty {
                header = (0..<r.count).map { r.string($0) }
                return true
            }
            guard let m = header.firstIndex(of: "member_id"), let d = header.firstIndex(of: "document"), r.count == header.count else {
                return true
            }
            let key = r.string(d) + "\t" + r.string(m)
            if r.string(d).isEmpty || key != last { counts[r.string(d), default: 0] += 1 }
            last = key
            return true
        }
        return counts
    }

    /// What the report reads from the mailing files: records per file, the exceptions by
    /// document, and the envelope walk.
    struct FileFacts: Sendable {
        var records: [String: Int] = [:]
        var excepted: [String: Int] = [:]
        var walk = EnvelopeCheck()

        static func read(_ dir: URL) -> FileFacts { read(open(dir)) }

        /// The files, open: the run reads its staged files while it publishes them (renames
        /// their folder).
        struct Opened: @unchecked Sendable {  // safe: handed whole to the one thread that reads the files (Background)
            let counted: [(name: String, reader: CSVReader?)]
            let exceptions: CSVReader?
            let walk: Result<EnvelopeCheck.Files, Error>
        }

        static func open(_ dir: URL) -> Opened {
            let names = MailFiles.names
            return Opened(
                counted: [names.certificates, names.eligibility, names.apply, names.envelopes, names.exceptions].map {
                    ($0, try? CSVReader(path: dir.appendingPathComponent($0).path))
                },
                exceptions: try? CSVReader(path: dir.appendingPathComponent(names.exceptions).path),
                walk: EnvelopeCheck.open(dir))
        }

        /// The records are counted on a thread of their own while the envelopes are walked.
        static func read(_ opened: Opened) -> FileFacts {
            let counting = Background { () -> (records: [String: Int], excepted: [String: Int]) in
                var records: [String: Int] = [:]
                for (name, reader) in opened.counted { records[name] = countRecords(reader) }
                return (records, countExceptions(opened.exceptions))
            }
            var f = FileFacts()
            f.walk = EnvelopeCheck.run(opened.walk)
            (f.records, f.excepted) = counting.wait()
            return f
        }
    }

    fileprivate static func countRecords(_ reader: CSVReader?) -> Int? {
        guard let reader, let n = try? reader.countRecords() else { return nil }
        return max(n - 1, 0)
    }

    public func render() -> String {
        var s = runID.map { "Run \($0) report\n" } ?? "Dry run report (nothing issued, no files written)\n"
        s += "Insurer: \(insurerNumber) \(insurerName ?? "")\n"
        if insurerName == nil {
            s += "warning: this run's parameters had no insurer_name: its certificates and notices carry no 保険者名称\n"
        }
        s += "Outcomes:\n"
        for (o, n) in byOutcome { s += "  \(o.padding(toLength: 22, withPad: " ", startingAt: 0)) \(n)\n" }
        s += "By outcome × reason × scheme:\n"
        for row in byOutcomeReasonScheme {
            s +=
                "  \(row.outcome.padding(toLength: 22, withPad: " ", startingAt: 0)) \(row.reason.padding(toLength: 33, withPad: " ", startingAt: 0)) \(row.scheme.padding(toLength: 9, withPad: " ", startingAt: 0)) \(row.count)\n"
        }
        s += "Reconciliation:\n"
        for c in checks { s += "  [\(c.result)] \(c.name): \(c.detail)\n" }
        if !postage.isEmpty || envelopes > 0 {
            s += "Postage: \(envelopes) envelopes, \(postageTotal) yen\n"
            for p in postage {
                s += "  \(p.mailClass.padding(toLength: 22, withPad: " ", startingAt: 0)) \(p.envelopes) envelopes  \(p.yen) yen\n"
            }
        }
        if held > 0 { s += "\(held) members held: see exceptions.csv; they are decided again next run.\n" }
        if waiting > 0 {
            s +=
                "\(waiting) documents issued but not mailed (their records are in exceptions.csv): hand them over at the counter or correct the record.\n"
        }
        return s
    }

    func countsJSON() -> String {
        var obj: [String: Any] = [
            "members_read": membersRead, "decisions": decisions, "certificates": certificates, "held": held,
            "waiting": waiting, "envelopes": envelopes, "postage_yen": postageTotal,
            "insurer_name": insurerName ?? NSNull(),
        ]
        obj["outcomes"] = Dictionary(uniqueKeysWithValues: byOutcome)
        // The counts of the decisions in force, which the next nights' reports start from (InForceDelta).
        obj["in_force_detail"] = byOutcomeReasonScheme.map { [$0.outcome, $0.reason, $0.scheme, $0.count] as [Any] }
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
