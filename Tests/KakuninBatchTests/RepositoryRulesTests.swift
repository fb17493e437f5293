import Foundation
import KakuninBatch
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 30: rules about the repository itself (exit statuses in one place, no SQL in the CLI or
/// the console, fault injection only in test builds, the README as a door page).
@Suite("Repository rules", .serialized)
struct RepositoryRulesTests {
    static let root = TestDatabase.repositoryRoot

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Every Swift file under a folder of the repository, as (path from the root, text).
    static func swiftFiles(under folder: String) throws -> [(String, String)] {
        let base = root.appendingPathComponent(folder)
        let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)
        var files: [(String, String)] = []
        while let url = walker?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            files.append((folder + "/" + url.path.dropFirst(base.path.count + 1), try String(contentsOf: url, encoding: .utf8)))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    // MARK: exit statuses

    @Test("README's exit status table is ExitStatus's list, row for row")
    func readmeTable() throws {
        let readme = try Self.text("README.md")
        let rows = readme.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = rows.firstIndex(of: "| status | meaning |") else {
            Issue.record("README.md has no exit status table")
            return
        }
        let table = rows[start...].prefix { $0.hasPrefix("|") }.joined(separator: "\n")
        #expect(table == ExitStatus.markdownTable, "regenerate it: ExitStatus.markdownTable")
        #expect(rows.filter { $0 == "| status | meaning |" }.count == 1, "one table")
    }

    @Test("kakunin --help lists every exit status")
    func helpLists() throws {
        let r = try runKakunin(["--help"], database: nil)
        let help = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for status in ExitStatus.allCases {
            let words = status.meaning.replacingOccurrences(of: "`", with: "").split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(help.contains("\(status.rawValue) \(words)"), "\(status)")
        }
    }

    @Test("the CLI exits only through ExitStatus: no raw exit numbers")
    func noRawExits() throws {
        let raw = try Regex(#"\bexit\(\s*-?\d|ExitCode\(\s*-?\d|ExitCode\.(failure|validationFailure)|Foundation\.exit\("#)
        for (path, text) in try Self.swiftFiles(under: "Sources/kakunin") {
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.contains(raw) {
                Issue.record("\(path):\(n + 1): a raw exit status; add a case to ExitStatus instead: \(line)")
            }
        }
        let common = try Self.text("Sources/kakunin/Common.swift")
        #expect(common.contains("throw ExitCode(status.rawValue)"), "runReporting is the one exit")
    }

    @Test("no run is exit 66 in runs show, export, report, replay and explain")
    func noRun() throws {
        let tdb = try TestDatabase()
        let commands = [
            ["runs", "show", "999"], ["export", "decisions", "--run", "999"],
            ["export", "decisions", "--insurer", "131016", "--as-of", "2026-12-01"],
            ["report", "--run", "999"], ["replay", "--run", "999"], ["explain", "--run", "999", "--member", "A"],
        ]
        for args in commands {
            let r = try runKakunin(args, database: tdb)
            #expect(r.status == 66, "\(args.joined(separator: " ")): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("no run 999") || r.stderr.contains("no nightly run for insurer 131016"), "\(r.stderr)")
        }
    }

    @Test("a failed check is 13, not the internal error's 1: replay differs; a run not decided yet cannot be replayed (65)")
    func checkFailed() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let out = dir.appendingPathComponent("out")
        let killed = try nightly(tdb, "2026-11-21", out: out, params: dir, crashAt: "before-commit")
        #expect(killed.status == 128 + 9 || killed.status == 9, "killed: \(killed.status)")
        let db = try tdb.connect()
        #expect(try db.query("SELECT status || '/' || phase FROM run WHERE run_id = 1").scalar == "running/deciding")
        var r = try runKakunin(["replay", "--run", "1"], database: tdb)
        #expect(r.status == 65 && r.stderr.contains("has not committed its decisions yet"), "\(r.status) \(r.stderr)")
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        try db.execute(
            "UPDATE decision SET outcome = 'none', reasons = '{COVERED}', valid_from = NULL, valid_to = NULL WHERE run_id = 1 AND member_id = 'A'"
        )
        r = try runKakunin(["replay", "--run", "1"], database: tdb)
        #expect(r.status == ExitStatus.checkFailed.rawValue && r.stdout.contains("DIFFER"), "\(r.status) \(r.stdout)")
    }

    // MARK: the README is a door

    @Test("README: about 150 lines, the two commands first, every link into the catalog resolves")
    func readmeDoor() throws {
        let readme = try Self.text("README.md")
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count <= 180, "README.md has \(lines.count) lines: move the detail into Sources/kakunin/Documentation.docc")
        let headings = lines.filter { $0.hasPrefix("## ") }
        #expect(headings.first == "## Two commands", "\(headings)")
        #expect(readme.contains("jobs/demo ") && readme.contains("jobs/test "))
        #expect(!readme.contains("SPEC.md"), "the rules article is the project's own")
        let links = readme.matches(of: try Regex(#"\]\((Sources/kakunin/Documentation\.docc/[A-Za-z]+\.md)\)"#))
        #expect(links.count >= 10)
        for link in links {
            let path = String(readme[link.range].dropFirst(2).dropLast())
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(path).path), "\(path)")
        }
    }

    // MARK: no SQL in the CLI or the console

    /// SQL written in the CLI or the console today, each to move into a library read model.
    /// An entry that no longer matches fails the test too, so the list only shrinks.
    static let knownSQL: [(file: String, fragment: String, why: String)] = [
        ("Sources/kakunin/Common.swift", "GRANT kakunin_batch TO <login>", "the fix printed for a DBA, never run"),
        ("Sources/KakuninWeb/AuditPages.swift", "SET ROLE", "to move into the library (issue 32's console work)"),
        ("Sources/KakuninWeb/Console.swift", "SET ROLE", "the person's role for a request"),
        ("Sources/KakuninWeb/DatabasePool.swift", "RESET ROLE", "the pool's reset after a request"),
    ]

    static let sqlPatterns = [
        #"\b(SELECT|INSERT\s+INTO|DELETE\s+FROM|TRUNCATE|COPY\s*\(|SET\s+ROLE|RESET\s+ROLE|REVOKE|GRANT\s+\w+)\b"#,
        #"\bUPDATE\s+\w+\s+SET\b"#,
        #"\b(CREATE|ALTER|DROP)\s+(ROLE|USER|TABLE|FUNCTION|VIEW|INDEX|POLICY|TRIGGER|SCHEMA)\b"#,
        #"\.(query|execute|executeScript|copyIn|startCopyIn|copyOut|beginCopyOut|receiveCopyOut)\(\s*("|sql\b)"#,
    ]

    /// Lines of `files` that look like SQL, as "path:line: text".
    static func sqlLines(_ files: [(String, String)]) throws -> [(path: String, line: Int, text: String)] {
        let patterns = try sqlPatterns.map { try Regex($0) }
        var found: [(String, Int, String)] = []
        for (path, text) in files {
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") && patterns.contains(where: { line.contains($0) }) {
                found.append((path, n + 1, String(line)))
            }
        }
        return found
    }

    @Test("no SQL in Sources/kakunin or Sources/KakuninWeb beyond the known list, which only shrinks")
    func noSQLInCLIOrConsole() throws {
        let files = try Self.swiftFiles(under: "Sources/kakunin") + Self.swiftFiles(under: "Sources/KakuninWeb")
        #expect(files.count > 10)
        let found = try Self.sqlLines(files)
        for f in found where !Self.knownSQL.contains(where: { $0.file == f.path && f.text.contains($0.fragment) }) {
            Issue.record(
                "\(f.path):\(f.line): SQL in the CLI or the console; put it in a library read model (KakuninBatch/KakuninStore): \(f.text)")
        }
        for k in Self.knownSQL where !found.contains(where: { $0.path == k.file && $0.text.contains(k.fragment) }) {
            Issue.record("\(k.file): '\(k.fragment)' is gone: remove it from RepositoryRulesTests.knownSQL")
        }
    }

    @Test("the SQL guard catches a query, a COPY, a role change and a grant")
    func guardCatches() throws {
        let planted = """
            let rows = try db.query("SELECT 1")
            try db.copyOut(sql) { _ in }
            try db.execute("SET ROLE x")
            let s = "UPDATE member SET branch = 1"
            let t = "CREATE ROLE kc LOGIN"
            // a comment may name SELECT and SET ROLE
            print("no sql here: select a member, update the page, grant a wish")
            """
        let found = try Self.sqlLines([("Sources/kakunin/Planted.swift", planted)])
        #expect(found.map(\.line) == [1, 2, 3, 4, 5], "\(found)")
    }

    // MARK: fault injection

    @Test("the fault hooks are compiled only under KAKUNIN_FAULTS, which only debug builds set")
    func faultsOnlyInDebug() throws {
        let package = try Self.text("Package.swift")
        #expect(package.contains(#".define("KAKUNIN_FAULTS", .when(configuration: .debug))"#))
        let hooks = ["KAKUNIN_CRASH_AT", "KAKUNIN_FAIL_AT", "KAKUNIN_PAUSE_AT", "KAKUNIN_PAUSE_FILE"]
        for (path, text) in try Self.swiftFiles(under: "Sources") where hooks.contains(where: text.contains) {
            #expect(path == "Sources/KakuninRuntime/Faults/FaultInjection.swift", "\(path) reads a fault hook's variable")
        }
        let faults = try Self.text("Sources/KakuninRuntime/Faults/FaultInjection.swift")
        let guarded = try #require(faults.range(of: "#if KAKUNIN_FAULTS")).upperBound
        let end = try #require(faults.range(of: "#else")).lowerBound
        for hook in hooks { #expect(faults[guarded..<end].contains(hook) && !faults[end...].contains(hook), "\(hook)") }
        // The tests' own CLI is a debug build: the hooks work there (the crash tests rely on it).
        let ci = try Self.text(".ci/run")
        #expect(ci.contains("jobs/release-check"), ".ci/run checks the release binary")
    }
}
