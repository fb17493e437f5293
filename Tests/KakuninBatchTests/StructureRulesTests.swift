import Foundation
import KakuninTesting
import Testing

/// Issue 30: the structure stays readable. The pipelines' functions stay short (the run, the
/// import and the mail files read as named steps), and the targets depend only downwards.
@Suite("Structure rules")
struct StructureRulesTests {
    static let root = TestDatabase.repositoryRoot
    /// The pipelines' folders: no function in them is longer than this many lines.
    static let pipelineFolders = ["Sources/KakuninBatch/Run", "Sources/KakuninBatch/Import", "Sources/KakuninBatch/Mail"]
    static let maxLines = 80
    /// Functions still longer, waiting to be cut into steps: this list may only shrink (a
    /// function on it that has become short must leave it).
    static let knownLong: Set<String> = []

    struct LongFunction: CustomStringConvertible {
        let path: String, line: Int, lines: Int, signature: String
        var key: String { "\(path): \(signature)" }
        var description: String { "\(path):\(line): \(lines) lines: \(signature)" }
    }

    /// Every function or initializer of `text` longer than `limit` lines (from its declaration
    /// to its closing brace), by counting braces outside string literals and comments.
    static func longFunctions(path: String, text: String, limit: Int) -> [LongFunction] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let code = codeOnly(lines)
        let declaration =
            #/^\s*(@\w+(\([^)]*\))?\s+)*((public|package|private|fileprivate|internal|static|final|override|mutating|convenience|required|nonisolated|class)\s+)*(func\s+\w+|init[?!]?\s*[(<])/#
        var found: [LongFunction] = []
        for (i, line) in code.enumerated() where line.firstMatch(of: declaration) != nil {
            var depth = 0
            var opened = false
            for j in i..<code.count {
                depth += code[j].filter { $0 == "{" }.count - code[j].filter { $0 == "}" }.count
                if code[j].contains("{") { opened = true }
                guard opened, depth <= 0 else { continue }
                if j - i + 1 > limit {
                    found.append(LongFunction(path: path, line: i + 1, lines: j - i + 1, signature: signature(lines[i])))
                }
                break
            }
        }
        return found
    }

    /// The declaration up to its first parenthesis (`private func merge(`), the allowlist's key.
    static func signature(_ line: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard let paren = trimmed.firstIndex(of: "(") else { return trimmed }
        let rest = trimmed[trimmed.index(after: paren)...]
        // Keep the first argument label when it is all there is to tell overloads apart.
        if let colon = rest.firstIndex(of: ":"), !rest[..<colon].contains(" "), !rest[..<colon].hasPrefix("_") {
            return String(trimmed[...paren]) + rest[...colon]
        }
        return String(trimmed[...paren])
    }

    /// The lines with string literals (also multi-line ones) and `//` comments blanked out.
    static func codeOnly(_ lines: [String]) -> [String] {
        var inMultiline = false
        return lines.map { line in
            if line.components(separatedBy: "\"\"\"").count % 2 == 0 {
                inMultiline.toggle()
                return ""
            }
            if inMultiline { return "" }
            let noStrings = line.replacing(#/"(\\.|[^"\\])*"/#, with: "\"\"")
            return noStrings.components(separatedBy: "//").first ?? ""
        }
    }

    @Test("no function over 80 lines in the run, the import or the mail files beyond the known list, which only shrinks")
    func pipelineFunctionsAreShort() throws {
        var long: [LongFunction] = []
        for folder in Self.pipelineFolders {
            let files = try RepositoryRulesTests.swiftFiles(under: folder)
            #expect(!files.isEmpty, "\(folder) has no Swift files: update pipelineFolders")
            for (path, text) in files { long += Self.longFunctions(path: path, text: text, limit: Self.maxLines) }
        }
        for f in long where !Self.knownLong.contains(f.key) {
            Issue.record("\(f): cut it into named steps (no function over \(Self.maxLines) lines in the pipelines)")
        }
        let stillLong = Set(long.map(\.key))
        for key in Self.knownLong.subtracting(stillLong) {
            Issue.record("\(key) is no longer over \(Self.maxLines) lines (or has moved): take it off knownLong")
        }
    }

    /// Issue 30 item 3: the vendor's mail files in a folder of their own, one responsibility a
    /// file (the former MailFiles.swift held nine in 922 lines).
    static let vendorFiles = [
        "Envelopes.swift", "MailFileWriter.swift", "MailFiles.swift", "MailRebuild.swift", "MailStaging.swift",
        "PersonColumns.swift", "RecordLine.swift", "VendorRecords.swift",
    ]

    @Test("the mail files are Mail/VendorFiles/, a file per responsibility, none over 200 lines; no Mail/ file over 450")
    func mailFilesByResponsibility() throws {
        let vendor = try RepositoryRulesTests.swiftFiles(under: "Sources/KakuninBatch/Mail/VendorFiles")
        #expect(vendor.map { String($0.0.split(separator: "/").last!) } == Self.vendorFiles)
        for (path, text) in vendor {
            #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count <= 200, "\(path)")
        }
        for (path, text) in try RepositoryRulesTests.swiftFiles(under: "Sources/KakuninBatch/Mail") {
            #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count <= 450, "\(path): split it by responsibility")
        }
    }

    @Test("the length check finds a long function and skips braces in strings and comments")
    func lengthCheckFindsPlanted() {
        let body = (0..<85).map { "        total += \($0) // { not a brace" }.joined(separator: "\n")
        let planted = """
            struct Planted {
                func short() -> Int { 1 }
                private func long(_ x: Int) -> Int {
                    var total = 0
            \(body)
                    let sql = \"""
                        SELECT '{' FROM t
                        \"""
                    return total + sql.count
                }
                init(value: Int) {
                    print("}")
                }
            }
            """
        let found = Self.longFunctions(path: "P.swift", text: planted, limit: 80)
        #expect(found.map(\.signature) == ["private func long("], "\(found)")
        #expect(found.first?.lines == 92)
        #expect(Self.longFunctions(path: "P.swift", text: planted, limit: 100).isEmpty)
    }

    // MARK: targets

    /// The layers, lowest first: a target may depend only on targets of lower layers.
    static let layers: [[String]] = [
        ["KakuninCore", "KakuninStore"],
        ["KakuninRuntime"],
        ["KakuninAudit"],
        ["KakuninBatch"],
        ["KakuninCounter"],
        ["KakuninWeb"],
        ["kakunin"],
    ]

    @Test("targets depend only on lower layers: CLI → Web → Counter → Batch → Audit → Runtime → Store, Core")
    func targetsDependDownwards() throws {
        let package = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let layerOf = Dictionary(uniqueKeysWithValues: Self.layers.enumerated().flatMap { i, names in names.map { ($0, i) } })
        let target = #/\.(?:target|executableTarget)\(name: "(?<name>[\w-]+)"(?:, dependencies: \[(?<deps>[^\]]*)\])?/#
        var seen = Set<String>()
        for m in package.matches(of: target) {
            let name = String(m.output.name)
            guard let layer = layerOf[name] else { continue }
            seen.insert(name)
            let deps = (m.output.deps.map(String.init) ?? "").matches(of: #/"(Kakunin\w+|kakunin)"/#).map { String($0.output.1) }
            for dep in deps {
                let depLayer = try #require(layerOf[dep], "\(name) depends on \(dep), which has no layer: add it to layers")
                #expect(depLayer < layer, "\(name) (layer \(layer)) depends on \(dep) (layer \(depLayer)): data flows one way, downwards")
            }
        }
        #expect(seen == Set(layerOf.keys), "targets of Package.swift not found: \(Set(layerOf.keys).subtracting(seen))")
    }

    // MARK: the console

    static let console = "Sources/KakuninWeb"

    /// The console's Swift files, by name, with their text.
    static func consoleSources() throws -> [(name: String, text: String)] {
        let dir = root.appendingPathComponent(console)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }.sorted()
            .map { ($0, try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// Gates the console's pages must leave to the middleware, and the files allowed to hold each:
    /// a role compared (Access names the sets and what pages show to whom; ConsoleUsers checks an
    /// account's own rules), a session looked up, a CSRF token compared, a body read.
    static var gates: [(what: String, pattern: Regex<Substring>, allowed: Set<String>)] {
        [
            (
                "a role compared", #/\brole\s*[!=]=|[!=]=\s*[\w.]*\.role\b|switch\s+[\w.]*\brole\b|contains\([\w.]*\brole\)/#,
                ["Access.swift", "Middleware.swift", "ConsoleUsers.swift"]
            ),
            ("a session looked up", #/\bsession\(\s*\w+\s*,\s*token:/#, ["Middleware.swift", "Sessions.swift"]),
            ("a CSRF token compared", #/same\([^)]*csrf/#, ["Middleware.swift"]),
            ("a request body read", #/collectBody/#, ["Middleware.swift", "Sessions.swift"]),
        ]
    }

    @Test("no console page checks a role, a session or a CSRF token by hand: the middleware and Access do")
    func consoleGatesAreMiddleware() throws {
        let sources = try Self.consoleSources()
        #expect(sources.contains { $0.name == "Middleware.swift" })
        for gate in Self.gates {
            let holders = Set(sources.filter { $0.text.contains(gate.pattern) }.map(\.name))
            #expect(
                holders.isSubset(of: gate.allowed),
                "\(gate.what) in \(holders.subtracting(gate.allowed).sorted()): leave it to the middleware (Middleware.swift) or Access")
        }
        // Each route group that names roles goes through RoleMiddleware; `serve` trusts the context.
        let routes = try #require(sources.first { $0.name == "Console.swift" }?.text)
        #expect(
            routes.contains("RoleMiddleware(roles:") && routes.contains("SessionMiddleware(console:")
                && routes.contains("CSRFMiddleware(console:"))
    }

    @Test("the console's pages are template files: none is written in Swift, each one rendered has its file and each file is used")
    func consoleTemplatesAreFiles() throws {
        let sources = try Self.consoleSources()
        for (name, text) in sources {
            let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(
                separator: "\n")
            #expect(!code.contains(#/\{\{[#^\/>]?\w/#), "\(name) holds mustache: pages belong in \(Self.console)/Templates")
        }
        let folder = Self.root.appendingPathComponent(Self.console + "/Templates")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        let templates = Set(files.filter { $0.hasSuffix(".mustache") }.map { String($0.dropLast(9)) })
        #expect(files.contains("console.css"))
        let code = sources.map(\.text).joined()
        let rendered = Set(code.matches(of: #/render\("(\w+)"/#).map { String($0.output.1) })
        #expect(
            !rendered.isEmpty && rendered.isSubset(of: templates), "rendered without a file: \(rendered.subtracting(templates).sorted())")
        let partials = try Set(
            files.filter { $0.hasSuffix(".mustache") }.flatMap {
                try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8).matches(of: #/\{\{>\s*(\w+)/#).map {
                    String($0.output.1)
                }
            })
        let used = rendered.union(partials).union(["layout"])
        #expect(templates == used, "template files nothing renders: \(templates.subtracting(used).sorted())")
        let package = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        #expect(
            package.contains(
                #/\.target\(name: "KakuninWeb"[^\n]*\n(?:[^\n]*\n){0,12}?[^\n]*exclude: \["Templates"\], plugins: \["EmbedSQLPlugin"\]/#))
    }

    // MARK: concurrency

    /// `@unchecked Sendable` declarations in Sources/ (16 at issue 30's close): the number only shrinks.
    static let uncheckedCeiling = 16

    @Test("every @unchecked Sendable in Sources says why in one line on its declaration (// safe: …), and there are no more than before")
    func uncheckedSendableHasReason() throws {
        let sources = Self.root.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }.filter {
            $0.hasSuffix(".swift")
        }
        var found: [String] = []
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.contains("@unchecked Sendable") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                found.append("\(file):\(n + 1)")
                #expect(
                    line.contains(#/@unchecked Sendable[^/]*\{\s*// safe: \S.{10,}/#),
                    "\(file):\(n + 1) gives no reason: add `// safe: …` on the line")
            }
        }
        #expect(
            found.count <= Self.uncheckedCeiling, "\(found.count) @unchecked Sendable (at most \(Self.uncheckedCeiling)): \(found.sorted())"
        )
        #expect(found.count > 0)
    }
}
