import Foundation
import KakuninCore
import KakuninRuntime
import KakuninTesting
import Testing

/// Issue 34's proof: one insurer over 60 nights (2026-06-10 … 2026-08-08: the renewal day 07-31
/// and 08-01 among them), the same random work between nights on two databases: imports changing
/// 1–3 of 60 members (1.7–5%), applications, counter issues and returned certificates. Each
/// night runs incrementally on one and in full (--full) on the other; the decisions in force,
/// the certificates, the notices and the mailing files must be the same.
@Suite("Incremental nights against full runs", .serialized)
struct IncrementalDifferentialTests {
    static let members = 60

    @Test("60 nights: incremental and full give the same decisions in force, certificates, notices and mailing files")
    func sixtyNights() throws {
        let inc = try TestDatabase()
        let full = try TestDatabase()
        let dir = try temporaryDirectory()
        let outs = [dir.appendingPathComponent("inc"), dir.appendingPathComponent("full")]
        var rng = RandomFacts(state: 34_060)
        var changed: [String: [String: String]] = [:]
        // The two databases' commands run side by side (the suite's time is in starting them).
        func both(_ args: [String]) throws {
            for r in try Self.sideBySide({ try runKakunin(args, database: inc) }, { try runKakunin(args, database: full) }) {
                #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
            }
        }
        let start = LocalDate("2026-06-10")!
        try both([
            "import", "members", try FeedFiles.write(dir, "m0.csv", IncrementalNightTests.members(Self.members)).path, "--report-dir",
            dir.path,
        ])
        try both([
            "import", "myna-status", try FeedFiles.write(dir, "s0.csv", IncrementalNightTests.myna(Self.members, asOf: "2026-06-01")).path,
            "--report-dir", dir.path,
        ])
        var incremental = 0
        for night in 0..<60 {
            let day = start.adding(days: night)
            if night > 0 { try work(night, day, &rng, &changed, dir, inc, both) }
            let args = ["run", "--insurer", "131016", "--as-of", day.description, "--out"]
            for r in try Self.sideBySide(
                { try runKakunin(args + [outs[0].path], database: inc) },
                { try runKakunin(args + [outs[1].path, "--full"], database: full) })
            {
                #expect(r.status == 0 || r.status == 11, "\(day): \(r.stdout)\(r.stderr)")
            }
            let run = night + 1
            if try inc.connect().query("SELECT counts->>'full_run' FROM run WHERE run_id = $1", [String(run)]).scalar == "false" {
                incremental += 1
            }
            try compare(inc, full, run: run, night: day)
            try compareFiles(outs, day)
        }
        // full_run_days = 7: most nights are incremental, and they carry most members forward.
        #expect(incremental >= 45, "\(incremental) incremental nights")
        let carried = try inc.connect().query("SELECT sum((counts->>'carried_forward')::int) FROM run").scalar.flatMap { Int($0) } ?? 0
        #expect(carried > incremental * Self.members / 2, "\(carried) decisions carried forward over \(incremental) incremental nights")
        // The --full database: base runs on the first night and the first full run of July and of
        // August store every member; its other full runs only what differs (issue 34 item 4).
        let fullDB = try full.connect()
        #expect(
            try fullDB.query("SELECT string_agg(as_of::text, ' ' ORDER BY run_id) FROM run WHERE counts->>'base_run' = 'true'").scalar
                == "2026-06-10 2026-07-01 2026-08-01")
        let stored = Int(try fullDB.query("SELECT count(*) FROM decision").scalar!)!
        #expect(stored < 60 * Self.members / 3, "\(stored) decisions stored by 60 full runs of \(Self.members) members")
    }

    /// Two commands at once; their results in order.
    static func sideBySide(
        _ a: @escaping @Sendable () throws -> CommandResult, _ b: @escaping @Sendable () throws -> CommandResult
    ) throws -> [CommandResult] {
        let results = Locked<[Int: Result<CommandResult, any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = Result { try (i == 0 ? a : b)() }
            results.withLock { $0[i] = r }
        }
        return try results.withLock { [try $0[0]!.get(), try $0[1]!.get()] }
    }

    /// The work of one day, the same on both databases.
    private func work(
        _ night: Int, _ day: LocalDate, _ rng: inout RandomFacts, _ changed: inout [String: [String: String]], _ dir: URL,
        _ inc: TestDatabase, _ both: ([String]) throws -> Void
    ) throws {
        for _ in 0..<rng.int(1...3) {
            let id = String(format: "M%03d", rng.int(0...(Self.members - 1)))
            switch rng.int(0...3) {
            case 0: changed[id, default: [:]]["address"] = "東京都港区芝公園\(rng.int(1...9))丁目2番8号"
            case 1: changed[id, default: [:]]["family_name"] = ["佐藤", "鈴木", "高橋"][rng.int(0...2)]
            case 2: changed[id, default: [:]]["disqualified_on"] = day.adding(days: rng.int(0...40)).description
            default: changed[id, default: [:]]["postal_code"] = rng.chance(30) ? "" : "100000\(rng.int(1...9))"
            }
        }
        try both([
            "import", "members",
            try FeedFiles.write(dir, "m\(night).csv", IncrementalNightTests.members(Self.members, changed: changed)).path,
            "--report-dir", dir.path,
        ])
        let id = String(format: "M%03d", rng.int(0...(Self.members - 1)))
        if night % 9 == 4 {
            try both([
                "application", "add", "--insurer", "131016", "--member", id, "--kind", "card_lost", "--received-on", day.description,
                "--status", "approved",
            ])
        }
        if night % 11 == 6 {
            try both(["counter", "issue", "--insurer", "131016", "--member", id, "--as-of", day.description])
        }
        if night % 7 == 5,
            let cert = try inc.connect().query(
                "SELECT certificate_number::text FROM certificate c WHERE status = 'active' AND issued_on < $1 AND NOT EXISTS (SELECT 1 FROM mail_return r WHERE r.certificate_number = c.certificate_number) ORDER BY 1 DESC LIMIT 1",
                [day.description]
            ).scalar
        {
            try both(["certificate", "return", "--insurer", "131016", "--certificate", cert, "--on", day.description])
        }
    }

    private func compare(_ a: TestDatabase, _ b: TestDatabase, run: Int, night: LocalDate) throws {
        let queries = [
            "SELECT member_id, outcome, reasons::text, s_date, valid_from, valid_to, certificate_number FROM decision_in_force(\(run)) ORDER BY member_id",
            "SELECT certificate_number, member_id, kind, reasons::text, valid_from, valid_to, status, replaces_certificate_number FROM certificate ORDER BY 1",
            "SELECT member_id, kind, reasons::text, valid_from, valid_to, run_id FROM notice ORDER BY run_id, member_id, kind",
        ]
        for q in queries {
            let x = try a.connect().query(q).rows
            let y = try b.connect().query(q).rows
            #expect(
                x == y,
                "\(night): \(q.prefix(60)): \(zip(x, y).first { $0 != $1 }.map { "\($0) ≠ \($1)" } ?? "\(x.count) ≠ \(y.count) rows")")
        }
    }

    /// Every mailing file of the night, byte for byte (the reports differ: they say how the run was made).
    private func compareFiles(_ outs: [URL], _ day: LocalDate) throws {
        let folders = outs.map {
            $0.appendingPathComponent("131016").appendingPathComponent(day.description).appendingPathComponent("nightly")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folders[0].path).filter { !$0.hasPrefix("report.") }.sorted()
        #expect(
            names == (try FileManager.default.contentsOfDirectory(atPath: folders[1].path).filter { !$0.hasPrefix("report.") }.sorted()))
        for name in names {
            let x = try Data(contentsOf: folders[0].appendingPathComponent(name))
            let y = try Data(contentsOf: folders[1].appendingPathComponent(name))
            #expect(x == y, "\(day): \(name) differs")
        }
    }
}
