import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 15: the writer connection's thread sends the spooled certificates and notices while
/// the decisions stream (StreamWriter), in rounds. Any number of rounds must give exactly what
/// sending them all after the stream gives, and a failure or a kill in the middle of a round
/// must leave nothing behind.
@Suite("Certificates and notices sent during the stream", .serialized)
struct StreamWriterTests {
    static let asOf = "2026-12-01"

    /// Generated members with every outcome, imported into a fresh database.
    func prepared(_ feeds: URL) throws -> TestDatabase {
        let tdb = try TestDatabase()
        for (feed, file) in [("members", "members.csv"), ("myna-status", "myna_status.csv"), ("applications", "applications.csv")] {
            let r = try runKakunin(
                ["import", feed, feeds.appendingPathComponent(file).path, "--report-dir", feeds.appendingPathComponent("r").path],
                database: tdb)
            #expect(r.status == 0 || r.status == 10, "\(r.stderr)")
        }
        return tdb
    }

    func run(_ tdb: TestDatabase, out: URL, feeds: URL, _ env: [String: String]) throws -> CommandResult {
        try runKakunin(
            ["run", "--insurer", "131016", "--as-of", Self.asOf, "--out", out.path, "--params-dir", feeds.path],
            database: tdb, environment: env)
    }

    /// `snapshot` plus the columns it leaves out and the audit log's certificate entries.
    func everything(_ tdb: TestDatabase, _ out: URL) throws -> [String] {
        let db = try tdb.connect()
        var parts = try snapshot(tdb, out.appendingPathComponent("131016/\(Self.asOf)/nightly"))
        for q in [
            "SELECT certificate_number, special_consideration, mail_exception, issued_on FROM certificate ORDER BY 1",
            "SELECT member_id, kind, mail_exception FROM notice ORDER BY 1, 2",
        ] {
            parts.append(try db.query(q).rows.map { $0.map { $0 ?? "∅" }.joined(separator: "|") }.joined(separator: "\n"))
        }
        // The seal: one log entry per certificate, in number order (a failed attempt's events
        // come before them, so the positions may differ).
        parts.append(
            try db.query("SELECT certificate_number FROM audit_log WHERE certificate_number IS NOT NULL ORDER BY log_index")
                .rows.map { $0[0]! }.joined(separator: "\n"))
        return parts
    }

    /// The rounds the run's log reports (the `committed` event).
    func rounds(_ log: String) -> Int? {
        guard let r = log.range(of: #""rounds":[0-9]+"#, options: .regularExpression) else { return nil }
        return Int(log[r].dropFirst(9))
    }

    @Test("any number of rounds during the stream gives the same certificates, notices, decisions and files as sending them after it")
    func roundsChangeNothing() throws {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", "12000", "--seed", "5", "--out", feeds.path], database: nil).status == 0)
        var results: [(parts: [String], rounds: Int?)] = []
        // After the stream only (the spools never reach the threshold); a round whenever a
        // spool has flushed anything new; in two halves of the facts with rounds.
        for env in [
            ["KAKUNIN_SWITCH_BYTES": "100000000000"], ["KAKUNIN_SWITCH_BYTES": "1"],
            ["KAKUNIN_SWITCH_BYTES": "1", "KAKUNIN_SPLIT_ABOVE": "1"],
        ] {
            let tdb = try prepared(feeds)
            let out = try temporaryDirectory()
            let r = try run(tdb, out: out, feeds: feeds, env)
            #expect([0, 11].contains(r.status), "\(r.stderr)")
            #expect(!r.stdout.contains("FAIL"), "\(r.stdout)")
            results.append((try everything(tdb, out), rounds(r.stderr)))
        }
        #expect(results[0].rounds == 0)
        #expect((results[1].rounds ?? 0) >= 3, "the spools were sent in several rounds: \(String(describing: results[1].rounds))")
        #expect((results[2].rounds ?? 0) >= 3)
        #expect(results[0].parts[0].split(separator: "\n").count > 2000, "the data issues certificates")
        #expect(results[0].parts[2].split(separator: "\n").count > 2000, "the data sends notices")
        for other in results.dropFirst() {
            #expect(other.parts == results[0].parts, "first difference: \(firstDifference(other.parts, results[0].parts))")
        }
    }

    @Test(
        "a failure in a round (after sending certificates or notices) or a kill after some rounds commits nothing; the rerun gives the same result"
    )
    func failureInARound() throws {
        let feeds = try temporaryDirectory()
        #expect(try runKakunin(["generate", "--members", "12000", "--seed", "7", "--out", feeds.path], database: nil).status == 0)
        let reference = try prepared(feeds)
        let refOut = try temporaryDirectory()
        let first = try run(reference, out: refOut, feeds: feeds, [:])
        #expect([0, 11].contains(first.status), "\(first.stderr)")
        let expected = try everything(reference, refOut)
        let members = Int(try reference.connect().query("SELECT count(*) FROM member WHERE insurer_number = '131016'").scalar!)!
        // The second COPY of certificates during the stream, the third of notices (failures
        // injected after their rows were sent), a kill three quarters through the stream.
        for (variable, point) in [
            ("KAKUNIN_FAIL_AT", "send:0:2"), ("KAKUNIN_FAIL_AT", "send:1:3"), ("KAKUNIN_CRASH_AT", "decide:\(members * 3 / 4)"),
        ] {
            let tdb = try prepared(feeds)
            let out = try temporaryDirectory()
            let failed = try run(tdb, out: out, feeds: feeds, ["KAKUNIN_SWITCH_BYTES": "1", variable: point])
            if variable == "KAKUNIN_CRASH_AT" {
                #expect(failed.status == 9, "killed at \(point): \(failed.stderr)")
            } else {
                #expect(failed.status != 0 && failed.status != 11, "failed at \(point)")
                #expect(failed.stderr.contains("failure injected at \(point)"), "the cause is named: \(failed.stderr.suffix(500))")
            }
            let db = try tdb.connect()
            for table in ["decision", "certificate", "notice"] {
                #expect(try db.query("SELECT count(*) FROM \(table)").scalar == "0", "no \(table) committed (\(point))")
            }
            let folder = out.appendingPathComponent("131016/\(Self.asOf)")
            if variable == "KAKUNIN_FAIL_AT" {
                let left = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
                #expect(left.isEmpty, "nothing published or staged after a failure at \(point): \(left)")
            }
            let rerun = try run(tdb, out: out, feeds: feeds, ["KAKUNIN_SWITCH_BYTES": "1"])
            #expect(rerun.status == first.status, "rerun after \(point): \(rerun.stderr)")
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["nightly"], "no staging folder left after \(point)")
            let got = try everything(tdb, out)
            #expect(got == expected, "after \(point); first difference: \(firstDifference(got, expected))")
        }
    }
}
