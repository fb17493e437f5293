import Foundation
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 15: a large insurer's facts are read in two halves of envelope order on two
/// connections in one snapshot. The run must be exactly the same as one read in one piece.
@Suite("Facts read in two halves")
struct SplitStreamTests {
    @Test("a run reading its facts in two halves decides, numbers and writes exactly what a run reading them whole does")
    func sameAsWhole() throws {
        let dir = try temporaryDirectory()
        let feeds = dir.appendingPathComponent("feeds")
        #expect(try runKakunin(["generate", "--members", "4000", "--seed", "5", "--out", feeds.path], database: nil).status == 0)
        var outputs: [(decisions: String, files: [String: Data], log: String)] = []
        for split in ["1", "100000000"] {
            let tdb = try TestDatabase()
            for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
                let r = try runKakunin(["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", dir.path], database: tdb)
                #expect([0, 10].contains(r.status), "\(r.stderr)")
            }
            let out = dir.appendingPathComponent("out-\(split)")
            let run = try runKakunin(
                ["run", "--insurer", "131016", "--as-of", "2026-12-01", "--out", out.path, "--params-dir", dir.path],
                database: tdb, environment: ["KAKUNIN_SPLIT_ABOVE": split])
            #expect([0, 11].contains(run.status), "\(run.stdout)\(run.stderr)")
            #expect(!run.stdout.contains("FAIL"), "\(run.stdout)")
            let export = try runKakunin(["export", "decisions", "--run", "1"], database: tdb)
            let folder = out.appendingPathComponent("131016/2026-12-01/nightly")
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path)
            where name.hasSuffix(".csv") || name == "manifest.json" {
                files[name] = try Data(contentsOf: folder.appendingPathComponent(name))
            }
            outputs.append((export.stdout, files, run.stderr))
            // The auditors' report counts the held members by reason from its one pass over the
            // decisions: the same as counting the stored reasons one by one.
            let report =
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("report.json"))) as! [String: Any]
            let heldByCode = (report["held_by_code"] as! [[String: Any]]).map { "\($0["code"]!)=\($0["count"]!)" }
            let stored = try tdb.connect().query(
                """
                SELECT reason || '=' || count(*) FROM kakunin.decision, unnest(reasons) AS reason
                WHERE run_id = 1 AND outcome = 'held' GROUP BY reason ORDER BY count(*) DESC, reason COLLATE "C"
                """
            ).rows.map { $0[0]! }
            #expect(stored.count >= 2, "the generated members include held ones for several reasons: \(stored)")
            #expect(heldByCode == stored)
        }
        #expect(outputs[0].log.contains("two halves"), "the split was not taken: \(outputs[0].log.prefix(2000))")
        #expect(!outputs[1].log.contains("two halves"))
        #expect(outputs[0].decisions.split(separator: "\n").count > 1000)
        #expect(outputs[0].decisions == outputs[1].decisions)
        #expect(outputs[0].files.keys.sorted() == outputs[1].files.keys.sorted() && outputs[0].files.count >= 5)
        for (name, data) in outputs[0].files { #expect(data == outputs[1].files[name], "\(name) differs") }
    }

    @Test(
        "each member is decided on their latest Myna snapshot marked as a change on or before the as-of date, never a later one, read whole and in two halves"
    )
    func latestMynaSnapshot() throws {
        let dir = try temporaryDirectory()
        let usable = "true,registered,active,2030-01-31,"
        let suspended = "true,registered,suspended,2030-01-31,"
        let none = "false,,none,,"
        // A: usable, then suspended (March), usable again after the as-of date (April).
        // B: no card, then usable (February). C: usable, repeated in February (a repeat, unmarked).
        let months = [
            ("1.csv", [("A", "2026-01-01", usable), ("B", "2026-01-01", none), ("C", "2026-01-01", usable)]),
            ("2.csv", [("A", "2026-02-01", usable), ("B", "2026-02-01", usable), ("C", "2026-02-01", usable)]),
            ("3.csv", [("A", "2026-03-01", suspended)]),
            ("4.csv", [("A", "2026-04-01", usable), ("B", "2026-04-01", none)]),
        ]
        var decided: [[String]] = []
        for split in ["1", "100000000"] {
            let tdb = try TestDatabase()
            let members = try FeedFiles.write(
                dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("A"), FeedFiles.member("B"), FeedFiles.member("C")])
            #expect(try runKakunin(["import", "members", members.path, "--report-dir", dir.path], database: tdb).status == 0)
            for (name, rows) in months {
                let f = try FeedFiles.write(dir, name, [NightlyRunTests.mynaHeader] + rows.map { "131016,\($0.0),\($0.1),\($0.2)" })
                #expect(try runKakunin(["import", "myna-status", f.path, "--report-dir", dir.path], database: tdb).status == 0)
            }
            let out = dir.appendingPathComponent("out-\(split)")
            let run = try runKakunin(
                ["run", "--insurer", "131016", "--as-of", "2026-03-10", "--out", out.path], database: tdb,
                environment: ["KAKUNIN_SPLIT_ABOVE": split])
            #expect([0, 11].contains(run.status), "\(run.stdout)\(run.stderr)")
            #expect(run.stderr.contains("two halves") == (split == "1"), "\(run.stderr)")
            let rows = try tdb.connect().query(
                "SELECT member_id || ' ' || outcome || ' ' || array_to_string(reasons, ',') FROM decision ORDER BY member_id"
            ).rows.map { $0[0]! }
            decided.append(rows)
        }
        #expect(decided[0] == decided[1])
        let byMember = Dictionary(uniqueKeysWithValues: decided[0].map { (String($0.prefix(1)), $0) })
        #expect(byMember["A"]?.contains("CARD_SUSPENDED") == true, "\(decided[0])")
        #expect(byMember["B"]?.contains("MYNA_USABLE") == true, "\(decided[0])")
        #expect(byMember["C"]?.contains("MYNA_USABLE") == true, "\(decided[0])")
    }
}
