import Foundation
import KakuninStore
import Synchronization

/// A real PostgreSQL database of its own for one test, cloned from a migrated template.
///
/// The server comes from the PG* environment (jobs/test sets it from jobs/pg). The template
/// `kakunin_template` is rebuilt once per test process from sql/, so every test starts from the
/// schema as the migrations make it.
public final class TestDatabase: Sendable {
    public let name: String

    /// Serialises template creation within the process.
    private static let template: Result<Void, Error> = Result { try buildTemplate() }

    /// `parameters`: every insurer gets a parameter version the moment it is first imported (see
    /// `giveInsurersParameters`), so tests that run, issue or print need not set one; false for
    /// tests of insurers without parameters.
    public init(parameters: Bool = true) throws {
        try Self.template.get()
        name = "kakunin_t_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
        let admin = try Connection(url: "dbname=postgres")
        try admin.execute("CREATE DATABASE \(name) TEMPLATE kakunin_template")
        if parameters { try Self.giveInsurersParameters(try connect()) }
    }

    /// The parameters a test insurer has from 1900-01-01 unless the test sets others (a later
    /// `kakunin insurer params set` takes over from its date): the defaults of SPEC.md 2.6 and
    /// an insurer_name.
    public static func testInsurerName(_ insurer: String) -> String { "テスト保険者\(insurer)" }

    /// The one place tests give insurers parameters: a trigger of this test database only, which
    /// writes a version (as the fixture, not through kakunin) for each insurer an import creates.
    private static func giveInsurersParameters(_ db: Connection) throws {
        try db.executeScript(
            """
            CREATE FUNCTION kakunin.test_insurer_parameters() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
            DECLARE listing text := 'insurer_name = テスト保険者' || NEW.insurer_number || E'\\n';
            BEGIN
                INSERT INTO insurer_parameter_version (insurer_number, effective_from, listing, listing_sha256, parameters, source,
                                                       set_by_login, set_by_person, set_at)
                VALUES (NEW.insurer_number, '1900-01-01', listing, encode(sha256(convert_to(listing, 'UTF8')), 'hex'),
                        jsonb_build_object('insurer_name', 'テスト保険者' || NEW.insurer_number), 'TestDatabase', session_user,
                        'test fixture', now());
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_insurer_parameters AFTER INSERT ON kakunin.insurer
                FOR EACH ROW EXECUTE FUNCTION kakunin.test_insurer_parameters();
            """)
    }

    /// Removes the fixture's trigger that gives imported insurers parameters, for tests that
    /// compare the schema with what the migrations make (`kakunin db status`).
    public func removeTestParameters() throws {
        try connect().executeScript(
            """
            DROP TRIGGER test_insurer_parameters ON kakunin.insurer;
            DROP FUNCTION kakunin.test_insurer_parameters();
            """)
    }

    /// An empty database without the schema (for migration tests).
    public init(empty: Bool) throws {
        name = "kakunin_e_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
        let admin = try Connection(url: "dbname=postgres")
        try admin.execute("CREATE DATABASE \(name)")
    }

    /// libpq connection string for this database (other settings from PG*).
    public var url: String { "dbname=\(name)" }

    public func connect() throws -> Connection { try Connection(url: url) }

    deinit {
        if let admin = try? Connection(url: "dbname=postgres") {
            try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    private static func buildTemplate() throws {
        let admin = try Connection(url: "dbname=postgres")
        try admin.execute("SELECT pg_advisory_lock(727274)")
        defer { try? admin.execute("SELECT pg_advisory_unlock(727274)") }
        try admin.execute("DROP DATABASE IF EXISTS kakunin_template WITH (FORCE)")
        try admin.execute("CREATE DATABASE kakunin_template")
        let db = try Connection(url: "dbname=kakunin_template")
        try Migrator(directory: repositoryRoot.appendingPathComponent("sql")).migrate(db)
    }

    /// The repository's root, found upward from this source file.
    public static let repositoryRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// The built `kakunin` executable (swift test builds it with the tests), or the one named by
    /// KAKUNIN_TEST_EXECUTABLE (e.g. an older build, to show a test fails without a fix).
    public static var executable: URL {
        if let other = ProcessInfo.processInfo.environment["KAKUNIN_TEST_EXECUTABLE"], !other.isEmpty {
            return URL(fileURLWithPath: other)
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("kakunin")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repositoryRoot.appendingPathComponent(".build/debug/kakunin")
    }
}

/// The day the far-date bound of `kakunin run` counts from in tests (KAKUNIN_TODAY): the suites'
/// runs use fixed as-of dates around it, which must stay within 366 days of "today".
public let testToday = "2026-12-01"

/// The result of running the CLI.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs the `kakunin` executable with arguments against a database, as an operator would.
/// An environment value of "" removes that variable (e.g. KAKUNIN_SQL_DIR).
public func runKakunin(
    _ arguments: [String], database: TestDatabase?, currentDirectory: URL? = nil,
    environment: [String: String] = [:], stdin: Data? = nil, executable: URL? = nil
) throws -> CommandResult {
    try startKakunin(
        arguments, database: database, currentDirectory: currentDirectory, environment: environment,
        stdin: stdin, executable: executable
    ).wait()
}

/// A `kakunin` process started in the background; `wait()` collects its result.
public final class RunningCommand: @unchecked Sendable {  // safe: each reader fills its buffer before leaving `group`
    let process: Process
    private let group = DispatchGroup()
    private var out = Data(), err = Data()

    init(_ p: Process, out: Pipe, err: Pipe) {
        process = p
        group.enter()
        DispatchQueue.global().async {
            self.out = out.fileHandleForReading.readDataToEndOfFile()
            self.group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            self.err = err.fileHandleForReading.readDataToEndOfFile()
            self.group.leave()
        }
    }

    public var pid: Int32 { process.processIdentifier }

    public func wait() -> CommandResult {
        group.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self))
    }
}

public func startKakunin(
    _ arguments: [String], database: TestDatabase?, currentDirectory: URL? = nil,
    environment: [String: String] = [:], stdin: Data? = nil, executable: URL? = nil
) throws -> RunningCommand {
    let p = Process()
    p.executableURL = executable ?? TestDatabase.executable
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    if let database { env["PGDATABASE"] = database.name }
    env["KAKUNIN_SQL_DIR"] = TestDatabase.repositoryRoot.appendingPathComponent("sql").path
    env["KAKUNIN_TODAY"] = testToday
    for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
    p.environment = env
    if let currentDirectory { p.currentDirectoryURL = currentDirectory }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try p.run()
    if let stdin {
        // A command that exits before reading its input (refused, or an older binary that does
        // not know it) must fail its test, not end the test process with SIGPIPE.
        _ = ignoreSIGPIPE
        DispatchQueue.global().async {
            try? input.fileHandleForWriting.write(contentsOf: stdin)
            try? input.fileHandleForWriting.close()
        }
    }
    return RunningCommand(p, out: out, err: err)
}

private let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

/// Waits (at most `seconds`) until `condition` holds; false on time-out.
public func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

/// A fresh temporary folder for one test's files, removed with everything in it when the test
/// process exits (a run of the suite made about 300 of them, up to 88 MB each, and left them all
/// behind). KAKUNIN_KEEP_TEST_FILES=1 keeps them, to look at after a failure.
public func temporaryDirectory(_ label: String = "kakunin-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    TestFolders.remember(url.path)
    return url
}

/// The folders `temporaryDirectory` made in this process, removed at its exit.
enum TestFolders {
    private static let made = Mutex<[String]?>(nil)

    static func remember(_ path: String) {
        made.withLock { folders in
            if folders == nil {
                folders = []
                if ProcessInfo.processInfo.environment["KAKUNIN_KEEP_TEST_FILES"] != "1" { atexit { TestFolders.removeAll() } }
            }
            folders!.append(path)
        }
    }

    static func removeAll() {
        for path in made.withLock({ $0 ?? [] }) { try? FileManager.default.removeItem(atPath: path) }
    }
}
