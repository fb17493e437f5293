import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// One version of an insurer's parameters (SPEC.md 2.6): effective from a date until the next
/// version's date, never edited (sql/022_parameter_versions.sql).
/// A parameters' source (`parameter version N of insurer X, effective from D`) as staff read
/// it: `パラメータ 第N版（D から有効）`; any other source (a file) as it is.
public func parameterSourceJapanese(_ source: String) -> String {
    let words = source.split(separator: " ")
    guard source.hasPrefix("parameter version "), words.count >= 8, let n = Int(words[2]), let d = words.last else { return source }
    return "パラメータ 第\(n)版（\(JapaneseEra.withWestern(String(d))) から有効）"
}

public struct ParameterVersion: Sendable {
    public let id: Int
    public let insurer: String
    public let effectiveFrom: LocalDate
    /// The `key = value` lines the SHA-256 is of.
    public let listing: String
    public let sha256: String
    public let source: String
    public let setByLogin: String
    public let setByPerson: String
    public let setAt: String
    /// What the operator should know about the file just set (e.g. a deprecated parameter).
    public var notes: [String] = []

    /// The version as the parameters a decision is made with.
    public func loaded() throws -> LoadedParameters {
        let p = try ParameterFile.parse(listing, file: "parameter version \(id)")
        return LoadedParameters(
            parameters: p, source: "parameter version \(id) of insurer \(insurer), effective from \(effectiveFrom)",
            sha256: sha256, versionID: id)
    }

    public var json: [String: Any] {
        [
            "version_id": id, "insurer_number": insurer, "effective_from": effectiveFrom.description, "sha256": sha256,
            "source": source, "set_by_login": setByLogin, "set_by_person": setByPerson, "set_at": setAt,
            "parameters": Dictionary(
                uniqueKeysWithValues: listing.split(separator: "\n").map { line -> (String, String) in
                    let kv = line.split(separator: " = ", maxSplits: 1)
                    return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
                }),
        ]
    }
}

/// An insurer as `kakunin insurer list` shows it.
public struct InsurerSummary: Sendable {
    public let insurer: String
    /// insurer_name of the version in force today; nil without one.
    public let nameInForce: String?
    public let versionInForce: Int?
    public let members: Int
    public let latestRun: String?
}

/// Reads and writes the insurers' parameter versions. Every decision's parameters come from here.
public enum ParameterVersions {
    static let columns = """
        version_id::text, insurer_number, effective_from::text, listing, listing_sha256, source, set_by_login, set_by_person,
        to_char(set_at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS') || ' JST'
        """

    static func version(_ r: ResultRow) throws -> ParameterVersion {
        ParameterVersion(
            id: try r.int(0), insurer: try r.text(1), effectiveFrom: try r.date(2), listing: try r.text(3), sha256: try r.text(4),
            source: try r.text(5), setByLogin: try r.text(6), setByPerson: try r.text(7), setAt: try r.text(8))
    }

    /// Validates a parameter file exactly as a run always did (file, line, parameter, fix; exit 78)
    /// and, for a version effective from `from`, its own effective_from/effective_to.
    public static func validate(text: String, file: String, from: LocalDate) throws -> InsurerParameters {
        let p: InsurerParameters
        do {
            p = try ParameterFile.parse(text, file: file)
            try ParameterFile.validate(p, for: from, file: file)
            try ParameterFile.validateVersion(p, from: from, file: file)
        } catch let e as ParameterError {
            throw OperatorError(
                .badConfiguration, "bad parameter file: \(e.file)\(e.line.map { ":\($0)" } ?? ""): \(e.parameter ?? ""): \(e.problem)",
                fix: e.fix)
        }
        guard let name = p.insurerName, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw OperatorError(
                .badConfiguration,
                "bad parameter file: \(file): insurer_name: missing: it is printed on every certificate and notice as 保険者名称",
                fix: "add a line insurer_name = <the insurer's name> (jobs/insurers/example.conf lists every parameter)")
        }
        return p
    }

    /// Writes a new version effective from `from` (audited with `person`); a version on the same
    /// date is refused (exit 65): versions are never edited.
    public static func set(
        _ db: Connection, insurer: String, from: LocalDate, text: String, file: String, person: String
    ) throws -> ParameterVersion {
        try Insurers.require(db, insurer)
        guard (LocalDate("1900-01-01")!...LocalDate("2099-12-31")!).contains(from) else {
            throw OperatorError(.usage, "--from \(from) is not in 1900–2099", fix: "give the date the parameters apply from, YYYY-MM-DD")
        }
        let p = try validate(text: text, file: file, from: from)
        if let existing = try history(db, insurer: insurer).first(where: { $0.effectiveFrom == from }) {
            throw OperatorError(
                .conflict,
                "insurer \(insurer) already has parameters effective from \(from) (version \(existing.id), set by \(existing.setByPerson) at \(existing.setAt)); versions are never edited, nothing was changed",
                fix: "to change the parameters, set a new version from a later date (--from), e.g. the first as-of date it should apply to")
        }
        let listing = LoadedParameters.canonicalListing(p)
        let id = try db.transaction {
            try db.query(
                "SELECT insurer_parameters_set($1, $2::date, $3, $4, $5)",
                [insurer, from.description, listing, file, person]
            ).scalar!
        }
        var v = try history(db, insurer: insurer).first { $0.id == Int(id)! }!
        if p.usesDeprecatedMailClass {
            v.notes.append(
                "note: mail_class is deprecated: it sets both kinds; the version records mail_class.certificate = \(p.mailClassCertificate.rawValue) and mail_class.notice = \(p.mailClassNotice.rawValue): set those instead"
            )
        }
        return v
    }

    /// `kakunin run --params-dir DIR`: DIR/<insurer>.conf, when there, is validated and, when it
    /// differs from the version in force on `asOf`, set as a new version from `asOf` (audited,
    /// as `set`). Without the file the version in force is used, and the answer says so. A dry
    /// run records nothing: a file that differs is refused. Returns a line for the operator.
    public static func adoptFile(
        _ db: Connection, insurer: String, asOf: LocalDate, directory: URL, person: String,
        dryRun: Bool
    ) throws -> String {
        let url = directory.appendingPathComponent("\(insurer).conf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            return "parameters: no \(url.path); the run uses the version in force on \(asOf)"
        }
        guard let text = String(data: try Data(contentsOf: url), encoding: .utf8) else {
            throw OperatorError(.badConfiguration, "\(url.path) is not UTF-8", fix: "save the parameter file as UTF-8")
        }
        let p = try validate(text: text, file: url.path, from: asOf)
        let current = try version(db, insurer: insurer, on: asOf)
        if let current, try LoadedParameters.canonicalListing(current.loaded().parameters) == LoadedParameters.canonicalListing(p) {
            return "parameters: \(url.path) is version \(current.id) in force on \(asOf)"
        }
        if dryRun {
            throw OperatorError(
                .badConfiguration, "\(url.path) differs from the parameters in force on \(asOf), and a dry run records nothing",
                fix: "set it first (kakunin insurer params set --insurer \(insurer) --from DATE \(url.path)), or run without --dry-run")
        }
        let v = try set(db, insurer: insurer, from: asOf, text: text, file: url.path, person: person)
        return (["parameters: \(url.path) set as version \(v.id) of insurer \(insurer), effective from \(asOf)"] + v.notes).joined(
            separator: "\n")
    }

    /// Every version of an insurer, oldest first.
    public static func history(_ db: Connection, insurer: String) throws -> [ParameterVersion] {
        try db.query(
            "SELECT \(columns) FROM insurer_parameter_version WHERE insurer_number = $1 ORDER BY effective_from",
            [insurer]
        ).typedRows.map(version)
    }

    /// The version in force on a date (the latest effective on or before it).
    public static func version(_ db: Connection, insurer: String, on date: LocalDate) throws -> ParameterVersion? {
        try db.query(
            """
            SELECT \(columns) FROM insurer_parameter_version WHERE insurer_number = $1 AND effective_from <= $2::date
            ORDER BY effective_from DESC LIMIT 1
            """, [insurer, date.description]
        ).firstRow.map(version)
    }

    /// The parameters a run, a counter issue, a print or an explanation uses on `date`. Refused
    /// (exit 40) without a version in force or without insurer_name: never the defaults.
    public static func inForce(_ db: Connection, insurer: String, on date: LocalDate) throws -> LoadedParameters {
        try Insurers.require(db, insurer)
        guard let v = try version(db, insurer: insurer, on: date) else {
            let first = try history(db, insurer: insurer).first
            throw OperatorError(
                .noParameters,
                "insurer \(insurer) has no parameters in force on \(date)"
                    + (first.map { " (its first version applies from \($0.effectiveFrom))" } ?? " (none were ever set)")
                    + "; kakunin never decides on defaults, nothing was done",
                fix:
                    "set them: kakunin insurer params set --insurer \(insurer) --from \(first == nil ? date.description : "DATE") FILE (jobs/insurers/example.conf documents every parameter)"
            )
        }
        let p = try v.loaded()
        guard let name = p.parameters.insurerName, !name.isEmpty else {
            throw OperatorError(
                .noParameters,
                "the parameters of insurer \(insurer) in force on \(date) (version \(v.id)) have no insurer_name, which every certificate prints; nothing was done",
                fix:
                    "set a version with insurer_name: kakunin insurer params show --insurer \(insurer) --on \(date) > FILE, add insurer_name = <name>, then kakunin insurer params set --insurer \(insurer) --from DATE FILE"
            )
        }
        do {
            try ParameterFile.validate(p.parameters, for: date, file: p.source)
        } catch let e as ParameterError {
            throw OperatorError(
                .noParameters, "\(e.file): \(e.parameter ?? ""): \(e.problem)",
                fix: "set a version for \(date): kakunin insurer params set --insurer \(insurer) --from \(date) FILE")
        }
        return p
    }

    /// The parameters a run was registered with: its version, or for a run made before
    /// parameter versions, what it recorded by hash. Every report, replay and explanation of the
    /// run reads these, whatever was set later.
    public static func ofRun(_ db: Connection, runID: Int) throws -> LoadedParameters {
        guard let p = try recorded(db, runID: runID) else {
            throw OperatorError(
                .notFound, "the parameters of run \(runID) were not kept",
                fix: "runs made before parameters were recorded cannot be replayed or explained")
        }
        return p
    }

    /// The same; nil for a run whose parameters were not kept.
    public static func recorded(_ db: Connection, runID: Int) throws -> LoadedParameters? {
        guard
            let r = try db.query(
                """
                SELECT r.params_version_id::text, r.insurer_number, coalesce(r.params_sha256, ''), coalesce(r.params_source, ''), p.parameters::text
                FROM run r LEFT JOIN insurer_parameters p ON p.insurer_number = r.insurer_number AND p.content_sha256 = r.params_sha256
                WHERE r.run_id = $1
                """, [String(runID)]
            ).firstRow
        else {
            throw OperatorError(.notFound, "no run \(runID)", fix: "kakunin runs list shows the runs")
        }
        if let id = r.optionalText(0) {
            return try version(try db.query("SELECT \(columns) FROM insurer_parameter_version WHERE version_id = $1", [id]).typedRows[0])
                .loaded()
        }
        guard let listing = r.optionalText(4) else { return nil }
        return try LoadedParameters.fromListing(listing, source: try r.text(3), sha256: try r.text(2))
    }

    /// Every insurer: the name in force on `today`, its members and latest run.
    public static func insurers(_ db: Connection, today: LocalDate) throws -> [InsurerSummary] {
        try db.query(
            """
            SELECT i.insurer_number, v.parameters->>'insurer_name', v.version_id::text,
                   (SELECT count(*) FROM member m WHERE m.insurer_number = i.insurer_number)::text,
                   (SELECT format('run %s as of %s (%s, %s)', r.run_id, r.as_of, r.job, r.status) FROM run r
                    WHERE r.insurer_number = i.insurer_number ORDER BY r.as_of DESC, r.run_id DESC LIMIT 1)
            FROM insurer i
            LEFT JOIN LATERAL (SELECT * FROM insurer_parameter_version p WHERE p.insurer_number = i.insurer_number AND p.effective_from <= $1::date
                               ORDER BY p.effective_from DESC LIMIT 1) v ON true
            ORDER BY i.insurer_number
            """, [today.description]
        ).typedRows.map {
            InsurerSummary(
                insurer: try $0.text(0), nameInForce: $0.optionalText(1), versionInForce: try $0.optionalInt(2), members: try $0.int(3),
                latestRun: $0.optionalText(4))
        }
    }
}
