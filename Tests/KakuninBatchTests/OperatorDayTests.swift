import Foundation
import KakuninTesting
import Testing

/// Issue 32, the operator's day: the jobs/ scripts answer --help and refuse what they do not
/// take before touching anything; `kakunin runs list` says when there are no runs.
@Suite("The operator's day")
struct OperatorDayTests {
    /// The scripts of jobs/ (executable files; the folders and example files are not scripts).
    static func scripts() throws -> [URL] {
        let dir = TestDatabase.repositoryRoot.appendingPathComponent("jobs")
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.isRegularFileKey])
            .filter {
                (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
                    && FileManager.default.isExecutableFile(atPath: $0.path)
            }
            .sorted { $0.path < $1.path }
    }

    /// Runs a script with `arguments`, every program it could start first (swift, psql, the
    /// PostgreSQL tools, python3, chromium) replaced by a stub that writes its name to `log`.
    static func run(_ script: URL, _ arguments: [String], stubs: URL, log: URL) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = script
        p.arguments = arguments
        p.currentDirectoryURL = TestDatabase.repositoryRoot
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = stubs.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        p.environment = env
        let (out, err) = (Pipe(), Pipe())
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, o, e)
    }

    @Test("every jobs/ script answers --help (0, its usage) and refuses an unknown argument (64) before starting anything")
    func scriptsHelpAndRefuse() throws {
        let dir = try temporaryDirectory("kakunin-jobs")
        let stubs = dir.appendingPathComponent("bin")
        let log = dir.appendingPathComponent("started.log")
        try FileManager.default.createDirectory(at: stubs, withIntermediateDirectories: true)
        for program in [
            "swift", "psql", "pg_ctl", "initdb", "postgres", "python3", "chromium", "taskset", "openssl", "runuser", "createdb", "dropdb",
        ] {
            let stub = stubs.appendingPathComponent(program)
            try "#!/bin/sh\necho \(program) \"$@\" >> '\(log.path)'\nexit 0\n".write(to: stub, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: stub.path)
        }
        let scripts = try Self.scripts()
        #expect(scripts.count >= 13, "\(scripts.map(\.lastPathComponent))")
        for script in scripts {
            let name = script.lastPathComponent
            let help = try Self.run(script, ["--help"], stubs: stubs, log: log)
            #expect(help.status == 0 && help.out.count > 40, "\(name) --help: \(help.status) \(help.out) \(help.err)")
            let refused = try Self.run(script, ["--no-such-option"], stubs: stubs, log: log)
            #expect(
                refused.status == 64 && refused.err.contains("--no-such-option"),
                "\(name) --no-such-option: \(refused.status) \(refused.err)")
            let started = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            #expect(started.isEmpty, "\(name) started programs before refusing: \(started)")
        }
        let demo = try Self.run(TestDatabase.repositoryRoot.appendingPathComponent("jobs/demo"), ["--help"], stubs: stubs, log: log)
        #expect(demo.out.contains("Usage: jobs/demo"), "\(demo.out)")
    }

    @Test("kakunin runs list with no runs says so; with runs, times are Japan time without fractions of a second")
    func runsListEmptyAndJST() throws {
        let tdb = try TestDatabase()
        let empty = try runKakunin(["runs", "list"], database: tdb)
        #expect(empty.status == 0 && empty.stdout.contains("no runs yet"), "\(empty.stdout) \(empty.stderr)")
        let db = try tdb.connect()
        _ = try db.query("INSERT INTO insurer (insurer_number) VALUES ('131016') ON CONFLICT DO NOTHING")
        _ = try db.query(
            """
            INSERT INTO run (insurer_number, as_of, job, status, started_at, finished_at)
            VALUES ('131016', '2026-12-01', 'nightly', 'completed', '2026-12-05 18:30:00.123456+00', '2026-12-05 18:31:00+00')
            """)
        let listed = try runKakunin(["runs", "list"], database: tdb)
        #expect(
            listed.stdout.contains("started (JST)") && listed.stdout.contains("2026-12-06 03:30:00") && !listed.stdout.contains(".123"),
            "\(listed.stdout) \(listed.stderr)")
    }
}

/// `kakunin import`'s progress: JSON lines when stderr is not a terminal, a bar with rate and
/// ETA on a terminal (under `script`, which gives the command a pseudo-terminal).
@Suite("Import progress")
struct ImportProgressTests {
    @Test("JSON lines (started, finished with the rows read) when not a terminal; a progress bar with rows/s and ETA on a terminal")
    func importProgress() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory("kakunin-import-progress")
        let feeds = dir.appendingPathComponent("feeds")
        #expect(try runKakunin(["generate", "--members", "20000", "--seed", "3", "--out", feeds.path], database: tdb).status == 0)
        let members = feeds.appendingPathComponent("members.csv").path
        let plain = try runKakunin(["import", "members", members, "--report-dir", dir.appendingPathComponent("r1").path], database: tdb)
        let lines = plain.stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.contains { $0["phase"] as? String == "import" && $0["message"] as? String == "started" }, "\(plain.stderr)")
        #expect(lines.contains { $0["message"] as? String == "finished" && ($0["rows_read"] as? Int ?? 0) >= 20000 }, "\(plain.stderr)")
        // On a terminal: the same file again under script(1), the database named in the environment.
        var env = ProcessInfo.processInfo.environment
        env["PGDATABASE"] = tdb.name
        let kakunin = TestDatabase.repositoryRoot.appendingPathComponent(".build/debug/kakunin").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", "\(kakunin) import members \(members) --report-dir \(dir.appendingPathComponent("r2").path)", "/dev/null"]
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let screen = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(screen.contains("importing ") && screen.contains("rows/s") && screen.contains("ETA") && screen.contains("█"), "\(screen)")
    }
}
