import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// The run report for auditors (SPEC.md 8, issue 11): the run, its parameters and provenance,
/// counts, every reconciliation check, held members by code, and the changes since the previous
/// run of the same insurer and job; as text, HTML (one self-contained file, A4, Japanese), CSV
/// and JSON (with member ids).
public struct AuditorReport: Sendable {
    public struct Change: Sendable {
        public let from: String
        public let to: String
        public let count: Int
    }

    public var base: RunReport
    public var runID: Int
    public var insurer = ""
    public var asOf = ""
    public var job = ""
    public var status = ""
    public var started = ""
    public var finished = ""
    /// The same two times in Japan time (the HTML report, for people).
    public var startedJST = ""
    public var finishedJST = ""
    public var seconds: Double?
    public var codeVersion = ""
    public var parametersSHA256 = ""
    public var parametersSource = ""
    public var parameters: [(String, String)] = []
    public var heldByCode: [(String, Int)] = []
    public var previousRunID: Int?
    public var previousAsOf: String?
    /// From → to outcome, counted over every member of either run ("(new)", "(gone)").
    public var matrix: [Change] = []
    /// The run is not a base run and the previous run is of its chain: the changes are read
    /// from the decisions written after the previous run only (InForceDelta).
    var changesOnly = false
    /// Members whose outcome changed (new and gone included), new members, gone members: from
    /// the matrix. Their ids are not held in memory (after a night when most members change,
    /// the first renewal for instance, they are nearly every member): the CSV and JSON forms
    /// stream them from the database (`write`).
    public var changedCount: Int { matrix.filter { $0.from != $0.to }.reduce(0) { $0 + $1.count } }
    public var newCount: Int { matrix.filter { $0.from == "(new)" }.reduce(0) { $0 + $1.count } }
    public var goneCount: Int { matrix.filter { $0.to == "(gone)" }.reduce(0) { $0 + $1.count } }

    /// `base`: the run's report when the caller has just loaded it (the run itself).
    public static func load(_ db: Connection, runID: Int, filesDirectory: URL, base: RunReport? = nil) throws -> AuditorReport {
        let base = try base ?? RunReport.load(db, runID: runID, filesDirectory: filesDirectory)
        var r = AuditorReport(base: base, runID: runID)
        guard
            let run = try db.query(
                """
                SELECT insurer_number, as_of::text, job, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                       coalesce(to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''),
                       extract(epoch FROM finished_at - started_at)::text, coalesce(code_version, ''), coalesce(params_sha256, ''),
                       coalesce(params_source, ''), to_char(started_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'),
                       coalesce(to_char(finished_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS'), '')
                FROM run WHERE run_id = $1
                """, [String(runID)]
            ).firstRow
        else {
            throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
        }
        (r.insurer, r.asOf, r.job, r.status) = (try run.text(0), try run.text(1), try run.text(2), try run.text(3))
        (r.started, r.finished) = (try run.text(4), try run.text(5))
        r.seconds = try run.optionalDouble(6)
        (r.codeVersion, r.parametersSHA256, r.parametersSource) = (try run.text(7), try run.text(8), try run.text(9))
        (r.startedJST, r.finishedJST) = (try run.text(10), try run.text(11))
        if let recorded = try ParameterVersions.recorded(db, runID: runID) {
            r.parameters = recorded.parameters.listing
        }
        // Held members by reason code: summed over schemes from the base report's one pass over
        // the run's decisions (no second scan), most frequent first, then by code.
        var held: [String: Int] = [:]
        for (outcome, reason, _, n) in base.byOutcomeReasonScheme where outcome == "held" { held[reason, default: 0] += n }
        r.heldByCode = held.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        if let prev = try db.query(
            """
            SELECT run_id, as_of::text FROM run
            WHERE insurer_number = $1 AND job = $2 AND status = 'completed' AND (as_of < $3 OR (as_of = $3 AND run_id < $4))
            ORDER BY as_of DESC, run_id DESC LIMIT 1
            """, [r.insurer, r.job, r.asOf, String(runID)]
        ).firstRow {
            let (previousRun, previousAsOf) = (try prev.int(0), try prev.text(1))
            r.previousRunID = previousRun
            r.previousAsOf = previousAsOf
            r.changesOnly = try InForceDelta.few(base) && InForceDelta.applies(db, runID: runID, since: previousRun)
            if r.changesOnly {
                r.matrix = try changesMatrix(
                    db, runID: runID, previousRun: previousRun, inForce: base.byOutcome,
                    known: base.changes?.since == previousRun ? base.changes?.fromTo : nil)
            } else {
                let params = [String(runID), r.asOf, String(previousRun), previousAsOf]
                r.matrix = try db.query(
                    """
                    SELECT coalesce(p.outcome, '(new)'), coalesce(c.outcome, '(gone)'), count(*)
                    FROM \(pair(run: "$1", asOf: "$2", previousRun: "$3", previousAsOf: "$4")) GROUP BY 1, 2 ORDER BY 1, 2
                    """, params
                ).typedRows.map { Change(from: try $0.text(0), to: try $0.text(1), count: try $0.int(2)) }
            }
        }
        return r
    }

    /// The matrix of a run that is not a base run against an earlier run of its chain
    /// (InForceDelta): the members with a decision after the previous run, from → to, and every
    /// other member unchanged (the run's outcome counts, `inForce`, less those members).
    /// `known`: the changed members' from → to as the run's report read them with its counts.
    private static func changesMatrix(
        _ db: Connection, runID: Int, previousRun: Int, inForce: [(String, Int)], known: [(from: String, to: String, count: Int)]?
    ) throws -> [Change] {
        var counts: [String: Int] = [:]
        for (outcome, n) in inForce { counts["\(outcome)\t\(outcome)"] = n }
        let changed = try known ?? changedFromTo(db, runID: runID, previousRun: previousRun)
        for (from, to, n) in changed {
            counts["\(to)\t\(to)", default: 0] -= n
            counts["\(from)\t\(to)", default: 0] += n
        }
        return counts.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map {
            let k = $0.key.split(separator: "\t").map(String.init)
            return Change(from: k[0], to: k[1], count: $0.value)
        }
    }

    /// The members with a decision after the previous run: their outcomes from → to, counted.
    private static func changedFromTo(_ db: Connection, runID: Int, previousRun: Int) throws -> [(from: String, to: String, count: Int)] {
        let ctes = try InForceDelta.ctes(db, run: runID, since: previousRun)
        return try InForceDelta.read(db) {
            try db.query(
                """
                WITH \(ctes)
                SELECT coalesce(p.outcome, '(new)'), c.outcome, count(*) FROM chg c LEFT JOIN prv p USING (member_id) GROUP BY 1, 2
                """
            ).typedRows
        }.map { (try $0.text(0), try $0.text(1), try $0.int(2)) }
    }

    /// SQL: the decisions of this run (`c`) beside those of the previous one (`p`), one row per
    /// member of either; the arguments are parameter references or checked literals.
    private static func pair(run: String, asOf: String, previousRun: String, previousAsOf: String) -> String {
        """
        (SELECT member_id, outcome FROM decision_in_force(\(run)) WHERE as_of = \(asOf)) c
        FULL JOIN (SELECT member_id, outcome FROM decision_in_force(\(previousRun)) WHERE as_of = \(previousAsOf)) p USING (member_id)
        """
    }

    /// Streams the members whose outcome changed since the previous run, `(member, from, to)`,
    /// ordered by member id, or (`grouped`) first the changed, then the gone, then the new
    /// members, each by member id; nothing when there is no previous run. The members the run's
    /// report read with its counts (InForceDelta.listed) are not read again.
    func forEachChange(_ db: Connection, grouped: Bool = false, _ body: (String, String, String) throws -> Void) throws {
        guard let previousRunID, let previousAsOf else { return }
        if changesOnly, let known = base.changes, known.since == previousRunID, let members = known.members {
            let group = { (c: InForceDelta.Change) in c.from == "(new)" ? 2 : c.to == "(gone)" ? 1 : 0 }
            // Member ids in byte order, as the database's "C" collation sorts them.
            let sorted = members.sorted {
                grouped && group($0) != group($1) ? group($0) < group($1) : $0.member.utf8.lexicographicallyPrecedes($1.member.utf8)
            }
            for c in sorted { try body(c.member, c.from, c.to) }
            return
        }
        // Values the report read from the run table (a run id, dates, outcome names): numbers
        // and ISO dates only, checked here, as COPY takes no parameters.
        guard LocalDate(stored: asOf) != nil, LocalDate(stored: previousAsOf) != nil else {
            throw OperatorError(.internalError, "run \(runID): unexpected as-of dates \(asOf), \(previousAsOf)")
        }
        var row = CopyRow()
        // A run that is not a base run: only the members with a decision after the previous run can have changed.
        let from =
            changesOnly
            ? "chg c LEFT JOIN prv p USING (member_id)"
            : Self.pair(run: String(runID), asOf: "'\(asOf)'", previousRun: String(previousRunID), previousAsOf: "'\(previousAsOf)'")
        let with = changesOnly ? "WITH \(try InForceDelta.ctes(db, run: runID, since: previousRunID))" : ""
        let group = grouped ? "CASE WHEN p.outcome IS NULL THEN 2 WHEN c.outcome IS NULL THEN 1 ELSE 0 END, " : ""
        let sql = """
            COPY (\(with)
                  SELECT member_id, coalesce(p.outcome, '(new)'), coalesce(c.outcome, '(gone)')
                  FROM \(from)
                  WHERE p.outcome IS DISTINCT FROM c.outcome
                  ORDER BY \(group)member_id) TO STDOUT
            """
        func copy() throws {
            try db.copyOut(sql) { chunk in
                row.load(chunk)
                try body(row.string(0) ?? "", row.string(1) ?? "", row.string(2) ?? "")
            }
        }
        if changesOnly { try InForceDelta.read(db, copy) } else { try copy() }
    }

    /// Writes the report in `format` through `sink` in pieces of about 64 KiB: the CSV and JSON
    /// forms stream the changed members from the database, so memory does not grow with them.
    public func write(_ format: Format, _ db: Connection, to sink: (String) throws -> Void) throws {
        var buffer = ""
        func put(_ s: String) throws {
            buffer += s
            if buffer.utf8.count >= 1 << 16 {
                try sink(buffer)
                buffer = ""
            }
        }
        switch format {
        case .text: try put(renderText())
        case .html: try put(renderHTML())
        case .csv: try writeCSV(db, put)
        case .json: try writeJSON(db, put)
        }
        if !buffer.isEmpty { try sink(buffer) }
    }

    // MARK: - Text

    public func renderText() -> String {
        var s = "Run \(runID) — insurer \(insurer) \(base.insurerName ?? "(no insurer_name)"), as of \(asOf), job \(job), \(status)\n"
        s +=
            "Started \(started) UTC, finished \(finished.isEmpty ? "-" : finished + " UTC")\(seconds.map { String(format: " (%.1f s)", $0) } ?? "")\n"
        s += "Code version \(codeVersion); parameters \(parametersSource) (sha256 \(parametersSHA256))\n"
        s += base.render()
        if !heldByCode.isEmpty {
            s += "Held members by code:\n"
            for (c, n) in heldByCode { s += "  \(c.padding(toLength: 33, withPad: " ", startingAt: 0)) \(n)\n" }
        }
        s += "Postage by class: \(base.envelopes) envelopes, \(base.postageTotal) yen\n"
        for p in base.postage {
            s += "  \(p.mailClass.padding(toLength: 22, withPad: " ", startingAt: 0)) \(p.envelopes) envelopes  \(p.yen) yen\n"
        }
        if base.waiting > 0 {
            s += "Documents issued but waiting for staff (not in the vendor's files; see exceptions.csv): \(base.waiting)\n"
        }
        if let previousRunID {
            s += "Changes since run \(previousRunID) (as of \(previousAsOf ?? "")): from → to\n"
            for c in matrix {
                s +=
                    "  \(c.from.padding(toLength: 22, withPad: " ", startingAt: 0)) → \(c.to.padding(toLength: 22, withPad: " ", startingAt: 0)) \(c.count)\n"
            }
            s += "  members whose outcome changed: \(changedCount) (new \(newCount), gone \(goneCount)); ids in the CSV and JSON forms\n"
        } else {
            s += "Changes: no earlier completed run of this insurer and job\n"
        }
        return s
    }

    // MARK: - JSON

    /// The JSON form. The three lists of members (`changes.changed`, `gone_members`,
    /// `new_members`) are streamed into the document where JSONSerialization put a placeholder.
    private func writeJSON(_ db: Connection, _ put: (String) throws -> Void) throws {
        var obj: [String: Any] = [
            "run_id": runID, "insurer_number": insurer, "insurer_name": base.insurerName ?? NSNull(), "as_of": asOf, "job": job,
            "status": status, "started_at": started, "finished_at": finished, "seconds": seconds ?? NSNull(),
            "code_version": codeVersion, "parameters_sha256": parametersSHA256, "parameters_source": parametersSource,
            "parameters": Dictionary(uniqueKeysWithValues: parameters),
            "members_read": base.membersRead, "decisions": base.decisions, "certificates": base.certificates, "held": base.held,
            "outcomes": Dictionary(uniqueKeysWithValues: base.byOutcome),
            "by_outcome_reason_scheme": base.byOutcomeReasonScheme.map {
                ["outcome": $0.outcome, "reason": $0.reason, "scheme": $0.scheme, "count": $0.count]
            },
            "checks": base.checks.map { ["name": $0.name, "pass": $0.pass, "detail": $0.detail] },
            "all_checks_pass": base.allChecksPass,
            "held_by_code": heldByCode.map { ["code": $0.0, "count": $0.1] },
            "postage": [
                "envelopes": base.envelopes, "total_yen": base.postageTotal,
                "by_class": base.postage.map { ["mail_class": $0.mailClass, "envelopes": $0.envelopes, "yen": $0.yen] },
            ] as [String: Any],
            "waiting_for_staff": base.waiting,
        ]
        // The lists in the order of their sorted keys; a placeholder no value can hold.
        let token = "kakunin-list-\(UUID().uuidString)"
        if let previousRunID {
            obj["changes"] =
                [
                    "previous_run_id": previousRunID, "previous_as_of": previousAsOf ?? "",
                    "matrix": matrix.map { ["from": $0.from, "to": $0.to, "count": $0.count] },
                    "changed": "\(token)-0", "gone_members": "\(token)-1", "new_members": "\(token)-2",
                ] as [String: Any]
        } else {
            obj["changes"] = NSNull()
        }
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        let text = String(decoding: data, as: UTF8.self) + "\n"
        guard previousRunID != nil else { return try put(text) }
        var pieces: [Substring] = []
        var rest = Substring(text)
        for i in 0..<3 {
            guard let r = rest.range(of: "\"\(token)-\(i)\"") else {
                throw OperatorError(.internalError, "the report's JSON lost its list of members (\(i))")
            }
            pieces.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        pieces.append(rest)
        var list = -1
        var first = true
        func open(_ g: Int) throws {
            while list < g {
                if list >= 0 { try put("\n]") }
                list += 1
                try put(String(pieces[list]) + "[")
                first = true
            }
        }
        try forEachChange(db, grouped: true) { member, from, to in
            let g = from == "(new)" ? 2 : to == "(gone)" ? 1 : 0
            try open(g)
            try put(first ? "\n" : ",\n")
            first = false
            try put(g == 0 ? "{\"from\":\(Self.json(from)),\"member_id\":\(Self.json(member)),\"to\":\(Self.json(to))}" : Self.json(member))
        }
        try open(2)
        try put("\n]" + String(pieces[3]))
    }

    /// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
    static func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += "\\u00" + String(u.value >> 4, radix: 16) + String(u.value & 15, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    // MARK: - CSV

    /// One fact per line: `section,a,b,c,value`; the changed members streamed at the end.
    private func writeCSV(_ db: Connection, _ put: (String) throws -> Void) throws {
        var s = "section,a,b,c,value\n"
        func line(_ f: [String]) { s += CSVField.line(f) }
        for (k, v) in [
            ("run_id", String(runID)), ("insurer_number", insurer), ("insurer_name", base.insurerName ?? ""), ("as_of", asOf),
            ("job", job), ("status", status), ("code_version", codeVersion), ("parameters_sha256", parametersSHA256),
        ] {
            line(["run", k, "", "", v])
        }
        for (k, v) in parameters { line(["parameter", k, "", "", v]) }
        for (o, n) in base.byOutcome { line(["outcome", o, "", "", String(n)]) }
        for r in base.byOutcomeReasonScheme { line(["outcome_reason_scheme", r.outcome, r.reason, r.scheme, String(r.count)]) }
        for c in base.checks { line(["check", c.name, c.result, "", c.detail]) }
        for p in base.postage { line(["postage", p.mailClass, String(p.envelopes), "", String(p.yen)]) }
        line(["postage_total", "", String(base.envelopes), "", String(base.postageTotal)])
        line(["waiting_for_staff", "", "", "", String(base.waiting)])
        for (c, n) in heldByCode { line(["held", c, "", "", String(n)]) }
        for c in matrix { line(["change_count", c.from, c.to, "", String(c.count)]) }
        try put(s)
        try forEachChange(db) { member, from, to in try put(CSVField.line(["change", from, to, "", member])) }
    }

    // MARK: - HTML

    static func escape(_ s: String) -> String { HTML.escape(s) }

    /// One self-contained file: inline style, no script, no external asset; printable on A4.
    /// What a count in the report stands for: the members behind it (the console's drill-down).
    public enum Drill: Sendable, Equatable {
        case outcome(String)
        case outcomeReasonScheme(outcome: String, reason: String, scheme: String)
        case held(reason: String)
        case change(from: String, to: String)
    }

    public struct DrilledMember: Sendable {
        public let member: String
        public let outcome: String
        public let reasons: String
        public let scheme: String
        public let previousOutcome: String?
    }

    /// The members behind one count of run `runID`'s report, by member id, `limit` from `offset`.
    public static func members(_ db: Connection, runID: Int, _ drill: Drill, offset: Int, limit: Int) throws -> [DrilledMember] {
        guard let run = try db.query("SELECT insurer_number, as_of::text, job FROM run WHERE run_id = $1", [String(runID)]).firstRow
        else {
            throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
        }
        var params: [String?] = [String(runID), try run.text(1), String(limit), String(offset)]
        let base = """
            SELECT d.member_id, d.outcome, array_to_string(d.reasons, ';'), d.scheme, NULL::text FROM decision_in_force($1) d
            WHERE d.as_of = $2
            """
        let sql: String
        switch drill {
        case .outcome(let o):
            params.append(o)
            sql = "\(base) AND d.outcome = $5"
        case .outcomeReasonScheme(let o, let r, let sc):
            params += [o, r, sc]
            sql = "\(base) AND d.outcome = $5 AND $6 = ANY (d.reasons) AND d.scheme = $7"
        case .held(let r):
            params.append(r)
            sql = "\(base) AND d.outcome = 'held' AND $5 = ANY (d.reasons)"
        case .change(let from, let to):
            guard
                let prev = try db.query(
                    """
                    SELECT run_id::text, as_of::text FROM run
                    WHERE insurer_number = $1 AND job = $2 AND status = 'completed' AND (as_of < $3 OR (as_of = $3 AND run_id < $4))
                    ORDER BY as_of DESC, run_id DESC LIMIT 1
                    """, [try run.text(0), try run.text(2), try run.text(1), String(runID)]
                ).firstRow
            else { return [] }
            params += [try prev.text(0), try prev.text(1), from, to]
            sql = """
                SELECT member_id, coalesce(c.outcome, '(gone)'), coalesce(c.reasons, p.reasons), coalesce(c.scheme, p.scheme), coalesce(p.outcome, '(new)')
                FROM (SELECT member_id, outcome, array_to_string(reasons, ';') AS reasons, scheme FROM decision_in_force($1) WHERE as_of = $2) c
                FULL JOIN (SELECT member_id, outcome, array_to_string(reasons, ';') AS reasons, scheme FROM decision_in_force($5) WHERE as_of = $6) p
                USING (member_id)
                WHERE coalesce(p.outcome, '(new)') = $7 AND coalesce(c.outcome, '(gone)') = $8
                """
        }
        return try db.query("\(sql) ORDER BY 1 LIMIT $3 OFFSET $4", params).typedRows.map {
            DrilledMember(
                member: try $0.text(0), outcome: try $0.text(1), reasons: $0.optionalText(2) ?? "", scheme: $0.optionalText(3) ?? "",
                previousOutcome: $0.optionalText(4))
        }
    }

    /// The report as one HTML page. `link`, when given, makes every count a link to the members
    /// behind it (the console); without it the file stands alone (kakunin report --format html).
    public enum Format: String, CaseIterable, Sendable { case text, html, csv, json }
}
