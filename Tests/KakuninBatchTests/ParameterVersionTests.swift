import Foundation
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 28 item 2: parameters are dated, audited data of the insurer in the database (SPEC.md
/// 2.6); a run uses the version in force on its as-of date and every report of it shows that one.
@Suite("Parameter versions", .serialized)
struct ParameterVersionTests {
    func k(_ tdb: TestDatabase, _ args: [String], env: [String: String] = [:]) throws -> CommandResult {
        try runKakunin(args, database: tdb, environment: env)
    }

    func run(_ tdb: TestDatabase, _ asOf: String, _ out: URL, env: [String: String] = [:]) throws -> CommandResult {
        try k(tdb, ["run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--quiet"], env: env)
    }

    func count(_ tdb: TestDatabase, _ table: String) throws -> String {
        try tdb.connect().query("SELECT count(*) FROM \(table)").scalar!
    }

    /// A login role of `group` (trust auth on the socket), and the environment that connects as it.
    func login(_ tdb: TestDatabase, _ group: String) throws -> (name: String, env: [String: String]) {
        let name = "p_\(group.dropFirst(8))_\(UInt32.random(in: 0...UInt32.max))"
        try tdb.connect().execute("CREATE ROLE \(name) LOGIN IN ROLE \(group)")
        return (name, ["PGUSER": name])
    }

    @Test("set, show, history and list through the CLI; the same date twice and a bad file are refused and store nothing")
    func setShowHistoryList() throws {
        let tdb = try TestDatabase(parameters: false)
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let file = dir.appendingPathComponent("131016.conf")
        try "# reviewed 2026-03\ninsurer_name = 千代田区国民健康保険\nissue_lead_days = 45\n".write(to: file, atomically: true, encoding: .utf8)
        var r = try k(tdb, ["insurer", "params", "set", "--insurer", "131016", "--from", "2026-04-01", file.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("insurer 131016: parameter version 1 effective from 2026-04-01"), "\(r.stdout)")
        // A version is never edited: the same date again is refused.
        r = try setParameters(tdb, from: "2026-04-01", ["insurer_name = 別の名前"])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("already has parameters effective from 2026-04-01") && r.stderr.contains("fix: "), "\(r.stderr)")
        // Validated like a parameter file always was.
        r = try setParameters(tdb, from: "2026-05-01", ["insurer_name = 千代田区", "issue_lead_dayz = 3"])
        #expect(r.status == 78)
        #expect(
            r.stderr.contains("(standard input):2: issue_lead_dayz: unknown parameter")
                && r.stderr.contains("fix: did you mean issue_lead_days?"), "\(r.stderr)")
        r = try setParameters(tdb, from: "2026-05-01", ["issue_lead_days = 30"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("insurer_name: missing"), "\(r.stderr)")
        #expect(try count(tdb, "insurer_parameter_version") == "1")
        #expect(try setParameters(tdb, from: "2026-12-01", ["insurer_name = 千代田区国保", "issue_lead_days = 30"]).status == 0)

        // show: the version in force on a date, whose lines hash to its SHA-256.
        r = try k(tdb, ["insurer", "params", "show", "--insurer", "131016", "--on", "2026-11-30"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("parameter version 1, effective from 2026-04-01, in force on 2026-11-30"))
        #expect(r.stdout.contains("insurer_name = 千代田区国民健康保険\n") && r.stdout.contains("issue_lead_days = 45\n"))
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        let sha = try #require(try tdb.connect().query("SELECT listing_sha256 FROM insurer_parameter_version WHERE version_id = 1").scalar)
        #expect(r.stdout.contains("# sha256 \(sha)"))
        #expect(try tdb.connect().query("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [lines]).scalar == sha)
        r = try k(tdb, ["insurer", "params", "show", "--insurer", "131016", "--on", "2026-12-01", "--format", "json"])
        let obj = try #require(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        #expect(obj["version_id"] as? Int == 2 && obj["effective_from"] as? String == "2026-12-01")
        #expect((obj["parameters"] as? [String: String])?["issue_lead_days"] == "30")
        #expect(try k(tdb, ["insurer", "params", "show", "--insurer", "131016", "--on", "2026-03-31"]).status == 40)

        // history: every version with who set it; each was audited with the person.
        r = try k(tdb, ["insurer", "params", "history", "--insurer", "131016"])
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == 3, "\(r.stdout)")
        #expect(rows[1][0...2] == ["1", "2026-04-01", "千代田区国民健康保険"] && rows[2][0...2] == ["2", "2026-12-01", "千代田区国保"])
        #expect(rows[1][4].contains("@") && rows[1][7] == file.path, "set_by is the OS user@host; the source the file")
        #expect(
            try tdb.connect().query(
                """
                SELECT count(*) FROM audit_event WHERE action = 'parameters_set' AND insurer_number = '131016' AND details ? 'person'
                """
            ).scalar == "2")

        // list: insurers, the name in force today, members, latest run.
        #expect(try run(tdb, "2026-12-01", dir.appendingPathComponent("out")).status == 0)
        r = try k(tdb, ["insurer", "list"])
        #expect(r.stdout.contains("131016\t千代田区国保\t2\t5\trun 1 as of 2026-12-01 (nightly, completed)"), "\(r.stdout)")
    }

    @Test("a run, a counter issue, an explanation for an insurer without parameters: refused (exit 40) naming the command, nothing written")
    func noVersion() throws {
        let tdb = try TestDatabase(parameters: false)
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let out = dir.appendingPathComponent("out")
        var r = try run(tdb, "2026-11-21", out)
        #expect(r.status == 40, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("insurer 131016 has no parameters in force on 2026-11-21"), "\(r.stderr)")
        #expect(r.stderr.contains("fix: set them: kakunin insurer params set --insurer 131016 --from 2026-11-21 FILE"), "\(r.stderr)")
        for table in ["run", "certificate", "notice", "decision"] { #expect(try count(tdb, table) == "0", "\(table)") }
        #expect(try tdb.connect().query("SELECT count(*) FROM audit_event WHERE run_id IS NOT NULL").scalar == "0")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("131016").path))
        // --dry-run too, and a folder of files is no default either: it names what it does.
        #expect(try k(tdb, ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--dry-run"]).status == 40)
        r = try k(tdb, ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", out.path, "--params-dir", dir.path])
        #expect(r.status == 40 && r.stderr.contains("parameters: no \(dir.path)/131016.conf"), "\(r.stderr)")
        r = try k(tdb, ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"])
        #expect(r.status == 40 && r.stderr.contains("kakunin insurer params set --insurer 131016"), "\(r.stderr)")
        r = try k(tdb, ["explain", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"])
        #expect(r.status == 40, "\(r.stderr)")
        #expect(try count(tdb, "certificate") == "0")
        // A version that starts later is not in force earlier.
        #expect(try setParameters(tdb, from: "2026-12-01", ["insurer_name = 千代田区"]).status == 0)
        r = try run(tdb, "2026-11-21", out)
        #expect(r.status == 40 && r.stderr.contains("its first version applies from 2026-12-01"), "\(r.stderr)")
        // The database itself registers no run without parameters in force.
        let insert = #expect(throws: DatabaseError.self) {
            try tdb.connect().execute("INSERT INTO run (insurer_number, as_of, status) VALUES ('131016', '2026-11-21', 'running')")
        }
        #expect(insert?.sqlState == "23514", "\(String(describing: insert))")
        #expect(try count(tdb, "run") == "0")
    }

    /// A version without insurer_name, as only the owner could write it (around the function).
    func insertUnnamed(_ db: Connection, from: String) throws {
        try db.execute(
            """
            INSERT INTO insurer_parameter_version (insurer_number, effective_from, listing, listing_sha256, parameters, source, set_by_login, set_by_person, set_at)
            VALUES ('131016', $1, E'issue_lead_days = 40\\n', repeat('0', 64), '{"issue_lead_days": "40"}', 'owner', 'owner', 'owner', now())
            """, [from])
    }

    @Test("parameters without insurer_name: refused when set, and a run, counter issue or print on such a version is refused")
    func noInsurerName() throws {
        let tdb = try TestDatabase(parameters: false)
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let db = try tdb.connect()
        // The database function refuses it whatever the caller.
        let refused = #expect(throws: DatabaseError.self) {
            try db.execute("SELECT insurer_parameters_set('131016', '2026-04-01', E'issue_lead_days = 40\\n', 'x', 'someone')")
        }
        #expect(refused?.message.contains("no insurer_name") == true, "\(String(describing: refused))")
        // A version the owner wrote around the function (no name): kakunin still refuses to use it.
        try insertUnnamed(db, from: "2026-04-01")
        var r = try run(tdb, "2026-11-21", dir.appendingPathComponent("out"))
        #expect(r.status == 40, "\(r.stderr)")
        #expect(
            r.stderr.contains("have no insurer_name") && r.stderr.contains("kakunin insurer params set --insurer 131016"), "\(r.stderr)")
        #expect(try count(tdb, "run") == "0")
        r = try k(tdb, ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"])
        #expect(r.status == 40, "\(r.stderr)")
        #expect(try count(tdb, "certificate") == "0")
        // A certificate issued under a named version cannot be printed once the version in force lacks the name.
        #expect(try setParameters(tdb, from: "2026-11-01", ["insurer_name = 千代田区"]).status == 0)
        #expect(try k(tdb, ["counter", "issue", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"]).status == 0)
        try insertUnnamed(db, from: "2026-11-02")
        r = try k(
            tdb,
            ["certificate", "print", "--insurer", "131016", "--certificate", "1", "--print", dir.appendingPathComponent("c.html").path])
        #expect(r.status == 40, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.html").path))
    }

    @Test("two versions with different dates: each run uses the one in force on its as-of date and records it")
    func versionInForce() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let out = dir.appendingPathComponent("out")
        #expect(try setParameters(tdb, from: "2026-11-01", ["insurer_name = 千代田区国民健康保険"]).status == 0)
        #expect(try setParameters(tdb, from: "2026-11-22", ["insurer_name = 千代田区国保（新）", "vendor_encoding = cp932"]).status == 0)
        var r = try run(tdb, "2026-11-21", out)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Parameters: parameter version 2 of insurer 131016, effective from 2026-11-01"), "\(r.stdout)")
        r = try run(tdb, "2026-11-22", out)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Parameters: parameter version 3 of insurer 131016, effective from 2026-11-22"), "\(r.stdout)")
        let runs = try tdb.connect().query(
            """
            SELECT r.as_of::text, r.params_version_id::text, r.params_sha256 = v.listing_sha256 FROM run r
            JOIN insurer_parameter_version v ON v.version_id = r.params_version_id ORDER BY r.run_id
            """
        ).rows
        #expect(runs == [["2026-11-21", "2", "t"], ["2026-11-22", "3", "t"]])
        let manifest = try String(contentsOf: out.appendingPathComponent("131016/2026-11-22/nightly/manifest.json"), encoding: .utf8)
        #expect(manifest.contains("\"encoding\" : \"CP932 (Windows-31J)\""), "\(manifest.prefix(400))")
        #expect(
            try String(contentsOf: out.appendingPathComponent("131016/2026-11-21/nightly/manifest.json"), encoding: .utf8)
                .contains("\"encoding\" : \"UTF-8\""))
    }

    @Test("run --params-dir loads DIR/<insurer>.conf explicitly: a new version from the as-of date when it differs, none when it does not")
    func paramsDirLoadsAVersion() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let out = dir.appendingPathComponent("out")
        try "insurer_name = 千代田区国民健康保険\nissue_lead_days = 45\n".write(
            to: dir.appendingPathComponent("131016.conf"), atomically: true, encoding: .utf8)
        var r = try k(tdb, ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", out.path, "--params-dir", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("131016.conf set as version 2 of insurer 131016, effective from 2026-11-21"), "\(r.stderr)")
        r = try k(tdb, ["run", "--insurer", "131016", "--as-of", "2026-11-22", "--out", out.path, "--params-dir", dir.path])
        #expect(r.status == 0 && r.stderr.contains("131016.conf is version 2 in force on 2026-11-22"), "\(r.stderr)")
        #expect(try tdb.connect().query("SELECT string_agg(params_version_id::text, ',' ORDER BY run_id) FROM run").scalar == "2,2")
        #expect(try tdb.connect().query("SELECT count(*) FROM audit_event WHERE action = 'parameters_set'").scalar == "1")
        // A bad file is refused before the run registers anything.
        try "insurer_name = 千代田区\nissue_lead_days = 0\n".write(
            to: dir.appendingPathComponent("131016.conf"), atomically: true, encoding: .utf8)
        r = try k(tdb, ["run", "--insurer", "131016", "--as-of", "2026-11-23", "--out", out.path, "--params-dir", dir.path])
        #expect(r.status == 78 && r.stderr.contains("131016.conf:2: issue_lead_days"), "\(r.stderr)")
        #expect(try count(tdb, "run") == "2")
    }

    @Test("parameters changed after a run: its report, its rerun and replay still show its own name, values and hash")
    func reportsKeepTheirParameters() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let out = dir.appendingPathComponent("out")
        #expect(try setParameters(tdb, from: "2026-11-01", ["insurer_name = 千代田区国民健康保険", "issue_lead_days = 45"]).status == 0)
        #expect(try run(tdb, "2026-11-21", out).status == 0)
        let sha = try #require(try tdb.connect().query("SELECT params_sha256 FROM run WHERE run_id = 1").scalar)
        // Later versions, one of them now in force on the run's own as-of date.
        #expect(try setParameters(tdb, from: "2026-11-10", ["insurer_name = 改名後の保険者", "issue_lead_days = 30"]).status == 0)
        #expect(try setParameters(tdb, from: "2026-12-01", ["insurer_name = さらに後の保険者"]).status == 0)
        var r = try k(tdb, ["report", "--run", "1", "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("insurer 131016 千代田区国民健康保険") && !r.stdout.contains("改名後"), "\(r.stdout)")
        #expect(r.stdout.contains("(sha256 \(sha))"), "\(r.stdout)")
        r = try k(tdb, ["report", "--run", "1", "--format", "json", "--out", out.path])
        let obj = try #require(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
        #expect(obj["insurer_name"] as? String == "千代田区国民健康保険" && obj["parameters_sha256"] as? String == sha)
        #expect((obj["parameters"] as? [String: String])?["issue_lead_days"] == "45", "the run's values, not today's 30")
        // A rerun of the completed run prints the run's parameters, not today's.
        r = try run(tdb, "2026-11-21", out)
        #expect(
            r.stdout.contains("already completed") && r.stdout.contains("(sha256 \(sha))")
                && r.stdout.contains("Insurer: 131016 千代田区国民健康保険"),
            "\(r.stdout)")
        #expect(try k(tdb, ["replay", "--run", "1"]).stdout.contains("all identical"))
        let report = try String(contentsOf: out.appendingPathComponent("131016/2026-11-21/nightly/report.json"), encoding: .utf8)
        #expect(report.contains("千代田区国民健康保険") && !report.contains("改名後"))
    }

    @Test("only insurer_parameters_set writes versions: a staff login can neither insert nor call it; a batch login only through it")
    func rolesCannotWriteAround() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let insert = """
            INSERT INTO insurer_parameter_version (insurer_number, effective_from, listing, listing_sha256, parameters, source, set_by_login, set_by_person, set_at)
            VALUES ('131016', '2026-11-01', E'insurer_name = 偽\\n', repeat('0', 64), '{"insurer_name": "偽"}', 'x', 'x', 'x', now())
            """
        let staff = try login(tdb, "kakunin_staff")
        let s = try Connection(url: "\(tdb.url) user=\(staff.name)")
        #expect(try s.query("SELECT count(*) FROM insurer_parameter_version").scalar == "1", "staff read the parameters")
        var e = #expect(throws: DatabaseError.self) { try s.execute(insert) }
        #expect(e?.sqlState == "42501")
        e = #expect(throws: DatabaseError.self) {
            try s.execute("SELECT insurer_parameters_set('131016', '2026-11-01', E'insurer_name = 偽\\n', 'x', 'x')")
        }
        #expect(e?.sqlState == "42501")
        let r = try setParameters(tdb, from: "2026-11-01", ["insurer_name = 偽"], environment: staff.env)
        #expect(r.status == 77, "\(r.stderr)")
        let batch = try login(tdb, "kakunin_batch")
        let b = try Connection(url: "\(tdb.url) user=\(batch.name)")
        e = #expect(throws: DatabaseError.self) { try b.execute(insert) }
        #expect(e?.sqlState == "42501")
        #expect(try setParameters(tdb, from: "2026-11-01", ["insurer_name = 千代田区"], environment: batch.env).status == 0)
        #expect(
            try tdb.connect().query("SELECT set_by_login FROM insurer_parameter_version WHERE effective_from = '2026-11-01'").scalar
                == batch.name)
        for role in ["kakunin_auditor", "kakunin_console"] {
            let l = try login(tdb, role)
            let c = try Connection(url: "\(tdb.url) user=\(l.name)")
            if role == "kakunin_console" { try c.execute("SET ROLE kakunin_console") }
            #expect(try c.query("SELECT count(*) FROM insurer_parameter_version").scalar == "2", "\(role) reads")
            #expect(throws: DatabaseError.self) { try c.execute(insert) }
        }
    }

    @Test("versions cannot be updated, deleted or truncated, not even by the owner")
    func immutable() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let db = try tdb.connect()
        for sql in [
            "UPDATE insurer_parameter_version SET listing = E'insurer_name = 偽\\n'", "DELETE FROM insurer_parameter_version",
            "TRUNCATE insurer_parameter_version CASCADE",
        ] {
            let e = #expect(throws: DatabaseError.self) { try db.execute(sql) }
            #expect(e?.message.contains("cannot be changed or deleted") == true, "\(sql): \(String(describing: e))")
        }
        #expect(try db.query("SELECT count(*) FROM insurer_parameter_version").scalar == "1")
    }
}
