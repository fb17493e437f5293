import Foundation
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 11: the auditors' report and replay, through the CLI.
@Suite("Auditor report and replay", .serialized)
struct ReportReplayTests {
    /// Night 1 (2026-11-21) and night 2 (2026-11-22) of the scenario, with F joining in between.
    func twoNights(_ tdb: TestDatabase, _ dir: URL) throws -> URL {
        let runner = NightlyRunTests()
        try runner.scenario(tdb, dir)
        let out = dir.appendingPathComponent("out")
        #expect(try nightly(tdb, "2026-11-21", out: out, params: dir).status == 0)
        let m = try FeedFiles.write(dir, "m2.csv", [FeedFiles.memberHeader] + ["A", "B", "C", "D", "E", "F"].map { FeedFiles.member($0) })
        let a2 = try FeedFiles.write(
            dir, "a2.csv", [NightlyRunTests.appHeader, "131016,D,card_lost,2026-11-10,,approved", "131016,E,reissue,2026-11-22,,approved"])
        for (feed, file) in [("members", m), ("applications", a2)] {
            #expect(try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
        let r = try nightly(tdb, "2026-11-22", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        return out
    }

    @Test("the report: provenance, checks, and the changes since the previous run counted by hand; CSV and JSON list the members")
    func report() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = try twoNights(tdb, dir)
        let text = try runKakunin(["report", "--run", "2", "--out", out.path], database: tdb)
        #expect(text.status == 0, "\(text.stderr)")
        // Night 1: A issue, B eligibility_notice, C apply_notice, D issue_on_application, E issue.
        // Night 2: A, B, C, D none; E issue_on_application (reissue); F (new) issue.
        for line in [
            "apply_notice           → none                   1", "eligibility_notice     → none                   1",
            "issue                  → issue_on_application   1", "issue                  → none                   1",
            "issue_on_application   → none                   1", "(new)                  → issue                  1",
            "members whose outcome changed: 6 (new 1, gone 0)", "Changes since run 1 (as of 2026-11-21)",
            "[pass] members read = decisions: 6 = 6",
        ] {
            #expect(text.stdout.contains(line), "\(line)\n\(text.stdout)")
        }
        #expect(text.stdout.contains("parameters parameter version 1 of insurer 131016, effective from 1900-01-01"), "\(text.stdout)")
        let csv = try runKakunin(["report", "--run", "2", "--format", "csv", "--out", out.path], database: tdb)
        for line in [
            "change,issue,none,,A", "change,(new),issue,,F", "change,issue,issue_on_application,,E", "change_count,apply_notice,none,,1",
            "check,members read = decisions,pass,,6 = 6",
        ] {
            #expect(csv.stdout.contains(line + "\n"), "\(line)\n\(csv.stdout)")
        }
        let json = try runKakunin(["report", "--run", "2", "--format", "json", "--out", out.path], database: tdb)
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        let changes = obj["changes"] as! [String: Any]
        #expect(changes["new_members"] as? [String] == ["F"])
        #expect((changes["changed"] as? [[String: String]])?.map { $0["member_id"]! } == ["A", "B", "C", "D", "E"])
        #expect(obj["all_checks_pass"] as? Bool == true)
        // The run itself wrote report.html and report.json beside its mailing files.
        let folder = out.appendingPathComponent("131016/2026-11-22/nightly")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("report.json").path))
        // The first run has no previous run.
        let first = try runKakunin(["report", "--run", "1", "--out", out.path], database: tdb)
        #expect(first.stdout.contains("Changes: no earlier completed run of this insurer and job"))
    }

    @Test(
        "the run's report counts decisions and documents on a second connection while the first checks overlaps and the audit log's coverage"
    )
    func countsBesideChecks() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        let gate = dir.appendingPathComponent("gate")
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
        let run = try startKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", dir.appendingPathComponent("out").path, "--params-dir",
                dir.path,
            ],
            database: tdb, environment: ["KAKUNIN_PAUSE_AT": "report:counts", "KAKUNIN_PAUSE_FILE": gate.path])
        #expect(try eventually { FileManager.default.fileExists(atPath: gate.path + ".reached") })
        // The counts wait at the gate on their own connection; the run's connection has
        // meanwhile checked overlaps and the audit log's coverage, and waits for them.
        let db = try tdb.connect()
        func activity() throws -> [String] {
            try db.query(
                """
                SELECT application_name || ' ' || state || ' ' || left(query, 100) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name IN ('kakunin-run', 'kakunin-run-report') ORDER BY 1
                """
            ).rows.map { $0[0] ?? "" }
        }
        let checked = try eventually(10) {
            try activity().contains {
                $0.hasPrefix("kakunin-run idle SELECT certificates, logged, pending, outside FROM certificate_log_coverage")
            }
        }
        let seen = try activity()
        #expect(checked, "\(seen)")
        #expect(seen.contains { $0.hasPrefix("kakunin-run-report idle") }, "\(seen)")
        try FileManager.default.removeItem(at: gate)
        let done = run.wait()
        #expect(done.status == 0, "\(done.stdout)\(done.stderr)")
        for line in ["[pass] members read = decisions: 5 = 5", "[pass] members = decided + carried forward: 5 = 5 + 0 (full run"] {
            #expect(done.stdout.contains(line), "\(line)\n\(done.stdout)")
        }
        #expect(
            done.stdout.contains("certificates issued = mailing records + waiting for staff = manifest + exceptions: 3 = 3 + 0"),
            "\(done.stdout)")
    }

    @Test(
        "a base run's decision rows are counted in one pass: a row gone fails both members read = decisions and members = decided + carried forward"
    )
    func baseRunCountsOnce() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = try twoNights(tdb, dir)
        let before = try runKakunin(["report", "--run", "1", "--out", out.path], database: tdb)
        #expect(before.stdout.contains("[pass] members = decided + carried forward: 5 = 5 + 0 (full run"), "\(before.stdout)")
        let db = try tdb.connect()
        try db.execute("SET session_replication_role = replica")
        try db.execute("DELETE FROM decision WHERE run_id = 1 AND member_id = 'C'")
        let after = try runKakunin(["report", "--run", "1", "--out", out.path], database: tdb)
        #expect(after.stdout.contains("[FAIL] members read = decisions: 5 = 4"), "\(after.stdout)")
        #expect(after.stdout.contains("[FAIL] members = decided + carried forward: 5 = 4 + 0 (full run"), "\(after.stdout)")
    }

    @Test("the lists of changed, new and gone members stream into valid CSV and JSON, whatever a member id holds")
    func streamedLists() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = try twoNights(tdb, dir)
        // Run 2 as the database could hold it: C's decision gone, and a new member whose id
        // needs escaping in both forms (the feeds would refuse such an id; the report must not break).
        let odd = "X\"\\,y\u{1}é"
        let db = try tdb.connect()
        try db.execute("SET session_replication_role = replica")
        try db.execute("DELETE FROM decision WHERE run_id = 2 AND member_id = 'C'")
        // Run 2's decisions in force are its own rows only (as a full run's are); otherwise C's
        // decision of run 1 would be carried forward into it (issue 34).
        try db.execute("UPDATE run SET counts = counts || '{\"base_run_id\": 2}' WHERE run_id = 2")
        try db.execute(
            """
            INSERT INTO decision (run_id, insurer_number, member_id, as_of, scheme, outcome, reasons)
            VALUES (2, '131016', $1, '2026-11-22', 'nhi', 'none', '{}')
            """, [odd])
        let text = try runKakunin(["report", "--run", "2", "--out", out.path], database: tdb)
        #expect(text.stdout.contains("members whose outcome changed: 7 (new 2, gone 1)"), "\(text.stdout)")
        let json = try runKakunin(["report", "--run", "2", "--format", "json", "--out", out.path], database: tdb)
        #expect(json.status == 0, "\(json.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        let changes = obj["changes"] as! [String: Any]
        #expect(changes["new_members"] as? [String] == ["F", odd])
        #expect(changes["gone_members"] as? [String] == ["C"])
        let changed = changes["changed"] as? [[String: String]]
        #expect(changed?.map { $0["member_id"]! } == ["A", "B", "D", "E"])
        #expect(changed?.first == ["member_id": "A", "from": "issue", "to": "none"])
        #expect((changes["matrix"] as? [[String: Any]])?.isEmpty == false)
        #expect(changes["previous_run_id"] as? Int == 1)
        // To a file: the same document.
        let file = dir.appendingPathComponent("r2.json")
        #expect(
            try runKakunin(["report", "--run", "2", "--format", "json", "--out", out.path, "--output", file.path], database: tdb).status
                == 0)
        #expect(try String(contentsOf: file, encoding: .utf8) == json.stdout)
        let csv = try runKakunin(["report", "--run", "2", "--format", "csv", "--out", out.path], database: tdb)
        let lines = csv.stdout.split(separator: "\n").filter { $0.hasPrefix("change,") }
        #expect(
            lines == [
                "change,issue,none,,A", "change,eligibility_notice,none,,B", "change,apply_notice,(gone),,C",
                "change,issue_on_application,none,,D", "change,issue,issue_on_application,,E", "change,(new),issue,,F",
                "change,(new),none,,\"X\"\"\\,y\u{1}é\"",
            ], "\(csv.stdout)")
        // No previous run: no lists, and `changes` is null.
        let first = try runKakunin(["report", "--run", "1", "--format", "json", "--out", out.path], database: tdb)
        let firstObj = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        #expect(firstObj["changes"] is NSNull)
    }

    @Test("the HTML report opens in headless Chromium, self-contained, in Japanese, with every check")
    func htmlInChromium() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = try twoNights(tdb, dir)
        let html = out.appendingPathComponent("131016/2026-11-22/nightly/report.html")
        let source = try String(contentsOf: html, encoding: .utf8)
        #expect(!source.contains("http://"), "no external asset")
        #expect(!source.contains("https://"), "no external asset")
        #expect(!source.contains("<script"), "no script")
        #expect(source.contains("@page { size: A4"), "printable on A4")
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium else {
            Issue.record("Chromium is not installed (apt-get install chromium); .ci/run installs it")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(dir.appendingPathComponent("chrome").path)",
            "--dump-dom", html.absoluteString,
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let dom = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "chromium exit status")
        // Issue 32: the checks, their results and the reasons in Japanese (no English sentence
        // under a reason); the summary before the detailed tables; a printed page header.
        for text in [
            "資格確認書 実行報告書（実行 2）", "照合", "読み込んだ加入者数 ＝ 判定数", "基準日以降に有効期間が重なる有効な確認書を二枚持つ方はいない",
            "資格確認書：作成数 ＝ 送付ファイルの件数 ＋ 職員対応待ち", "どの書類もちょうど一つの封筒に入り", "郵便料金", "前回からの変化", "申請による交付",
            "マイナ保険証の状況が不明", "すべて一致", "@top-right", "page-break-before: always",
        ] {
            #expect(dom.contains(text), "missing in the page: \(text)")
        }
        for english in ["members read = decisions", "the My Number card", ">pass<", "UTC", "run 2"] {
            #expect(!dom.contains(english), "English left in the page: \(english)")
        }
        #expect(!dom.contains(">不一致<"), "a check failed")
        // The last nights as SVG charts with their numbers in a table (both nights of twoNights).
        #expect(dom.contains("最近の夜間処理") && dom.contains("<svg") && dom.contains("role=\"img\""), "trend charts")
        #expect(dom.contains("令和8年11月22日") && dom.contains("夜ごとの件数"), "trend table")
        #expect(dom.range(of: "id=\"summary\"")!.lowerBound < dom.range(of: "id=\"checks\"")!.lowerBound, "the summary comes first")
    }

    @Test("replay: identical on an untouched run; an altered decision row is reported")
    func replay() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        _ = try twoNights(tdb, dir)
        for run in ["1", "2"] {
            let r = try runKakunin(["replay", "--run", run], database: tdb)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("all identical"))
        }
        // Replay decides from what the run saw, not from today's data: a later change to C's
        // card does not matter.
        let s = try FeedFiles.write(dir, "s2.csv", [NightlyRunTests.mynaHeader, "131016,C,2026-11-23,true,registered,active,2030-01-31,"])
        #expect(try runKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try runKakunin(["replay", "--run", "1"], database: tdb).status == 0)
        let db = try tdb.connect()
        try db.execute(
            "UPDATE decision SET outcome = 'none', reasons = '{COVERED}', valid_from = NULL, valid_to = NULL WHERE run_id = 1 AND member_id = 'A'"
        )
        let r = try runKakunin(["replay", "--run", "1"], database: tdb)
        #expect(r.status == 13)
        #expect(r.stdout.contains("1 of 5 decisions DIFFER"), "\(r.stdout)")
        #expect(r.stdout.contains("A: none COVERED   → issue NO_CARD 2026-11-21 2027-07-31"), "\(r.stdout)")
    }
}
