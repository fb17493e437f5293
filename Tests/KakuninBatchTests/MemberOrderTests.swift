import Foundation
import KakuninStore
import KakuninTesting
import Testing

@testable import KakuninBatch

/// Issue 31: the run streams in envelope order, and sends its decisions and notices to the
/// database in runs sorted by member whatever that order is (StreamWriter, MemberOrderRuns):
/// the indexes keyed by member take each run in one pass. The mailing files keep the envelope
/// order and the certificates their numbers.
@Suite("Decisions and notices reach the database in member order", .serialized)
struct MemberOrderTests {
    static let asOf = "2026-12-01"

    /// The generated employer insurer (EmployerDeliveryTests: 4,000 members, seed 42) imported,
    /// 06139999 delivering through its establishments; a trigger of this test database records
    /// the order in which decision and notice rows arrive.
    func prepared(_ feeds: URL, _ dir: URL) throws -> TestDatabase {
        let tdb = try TestDatabase()
        try EmployerDeliveryTests().importGenerated(tdb, feeds, dir)
        try tdb.connect().executeScript(
            """
            CREATE TABLE public.arrival (seq bigint GENERATED ALWAYS AS IDENTITY, tbl text, insurer text, member_id text);
            CREATE FUNCTION public.record_arrival() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                INSERT INTO public.arrival (tbl, insurer, member_id) VALUES (TG_ARGV[0], NEW.insurer_number, NEW.member_id);
                RETURN NULL;
            END $$;
            CREATE TRIGGER arrival AFTER INSERT ON kakunin.decision FOR EACH ROW EXECUTE FUNCTION public.record_arrival('decision');
            CREATE TRIGGER arrival AFTER INSERT ON kakunin.notice FOR EACH ROW EXECUTE FUNCTION public.record_arrival('notice');
            """)
        return tdb
    }

    func run(_ tdb: TestDatabase, _ insurer: String, out: URL, _ env: [String: String] = [:]) throws -> CommandResult {
        let r = try runKakunin(
            ["run", "--insurer", insurer, "--as-of", Self.asOf, "--out", out.path], database: tdb, environment: env)
        #expect([0, 11].contains(r.status), "\(r.stdout)\(r.stderr.suffix(2000))")
        return r
    }

    /// The member ids of `table`'s rows of `insurer` in the order they arrived.
    func arrivals(_ tdb: TestDatabase, _ table: String, _ insurer: String) throws -> [String] {
        try tdb.connect().query(
            "SELECT member_id FROM public.arrival WHERE tbl = $1 AND insurer = $2 ORDER BY seq", [table, insurer]
        ).rows.map { $0[0]! }
    }

    /// The run's rows and files, to compare runs.
    func outcome(_ tdb: TestDatabase, _ folder: URL) throws -> [String] {
        let db = try tdb.connect()
        var parts: [String] = []
        // Every column but the transaction that wrote the row (sql/041's change stamp).
        for q in [
            "SELECT to_jsonb(d)::text FROM decision d ORDER BY member_id",
            "SELECT (to_jsonb(n) - 'changed_xact')::text FROM notice n ORDER BY member_id, kind",
            "SELECT (to_jsonb(c) - 'changed_xact')::text FROM certificate c ORDER BY certificate_number",
        ] {
            parts.append(try db.query(q).rows.map { $0.map { $0 ?? "∅" }.joined(separator: "|") }.joined(separator: "\n"))
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where name.hasSuffix(".csv") {
            parts.append(name + "\n" + (try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)))
        }
        return parts
    }

    /// The `held_for_member_order` counts of the run's log.
    func held(_ log: String) -> String? {
        guard let r = log.range(of: #""held_for_member_order":\{[^}]*\}"#, options: .regularExpression) else { return nil }
        return String(log[r])
    }

    /// The `sorted_runs` count of `table` in the run's log.
    func sortedRuns(_ log: String, _ table: String) -> Int? {
        guard let r = log.range(of: #""sorted_runs":\{[^}]*\}"#, options: .regularExpression),
            let n = log[r].range(of: #""\#(table)":[0-9]+"#, options: .regularExpression)
        else { return nil }
        return Int(log[n].split(separator: ":").last!)
    }

    /// `ids` cut where they descend: the ascending pieces they arrived in.
    static func ascendingPieces(_ ids: [String]) -> [[String]] {
        var pieces: [[String]] = []
        for id in ids {
            if let last = pieces.last?.last, byteOrder(last, id) { pieces[pieces.count - 1].append(id) } else { pieces.append([id]) }
        }
        return pieces
    }

    @Test(
        "through employers the decisions and notices arrive in runs sorted by member (one run, or many of 3,000 bytes each), the files keep the envelope order, certificates their numbers; the same rows and files either way"
    )
    func employerInMemberOrder() throws {
        let (dir, feeds) = try EmployerDeliveryTests().generatedFeeds()
        var outcomes: [[String]] = []
        // One sorted run (the default buffer holds every row); runs of 3,000 bytes (a dozen rows each).
        for runBytes in ["", "3000"] {
            let tdb = try prepared(feeds, dir)
            let out = dir.appendingPathComponent("out\(runBytes)")
            let r = try run(tdb, "06139999", out: out, runBytes.isEmpty ? [:] : ["KAKUNIN_ORDER_RUN_BYTES": runBytes])
            let decisions = try arrivals(tdb, "decision", "06139999")
            let notices = try arrivals(tdb, "notice", "06139999")
            #expect(decisions.count > 1000 && notices.count > 300, "\(decisions.count) \(notices.count)")
            #expect(held(r.stderr) == #""held_for_member_order":{"decisions":\#(decisions.count),"notices":\#(notices.count)}"#)
            for (table, ids) in [("decisions", decisions), ("notices", notices)] {
                let runs = sortedRuns(r.stderr, table) ?? 0
                let pieces = Self.ascendingPieces(ids)
                if runBytes.isEmpty {
                    #expect(runs == 1 && pieces.count == 1, "\(table) in member order: \(runs) runs, \(pieces.count) ascending pieces")
                } else {
                    // Each run arrives whole and sorted: never more ascending pieces than runs
                    // (two runs may join into one piece where one ends below the next's start).
                    #expect(
                        runs > ids.count / 100 && pieces.count > 1 && pieces.count <= runs, "\(table): \(runs) runs, \(pieces.count) pieces"
                    )
                }
                #expect(Set(ids).count == ids.count, "each of the \(table) once")
            }
            let folder = out.appendingPathComponent("06139999/\(Self.asOf)/nightly")
            // The files keep the envelope order: the establishments' envelopes come first.
            let certificates = try MailFilesTests().decoded(folder.appendingPathComponent("certificates.csv"), from: "UTF-8")
            let members = certificates.map { $0["member_id"]! }
            #expect(members != members.sorted(by: Self.byteOrder) && certificates.first?["envelope_id"]?.hasPrefix("E-") == true)
            let numbers = certificates.map { Int($0["certificate_number"]!)! }
            #expect(numbers == numbers.sorted(), "numbered in envelope order")
            outcomes.append(try outcome(tdb, folder))
        }
        #expect(outcomes[0] == outcomes[1], "first difference: \(firstDifference(outcomes[0], outcomes[1]))")
    }

    @Test("delivered home, an employee insurer's stream is in member order already: nothing is held, the rows arrive in member order")
    func homeSendsAsItComes() throws {
        let (dir, feeds) = try EmployerDeliveryTests().generatedFeeds()
        let tdb = try prepared(feeds, dir)
        let conf = try FeedFiles.write(dir, "home.conf", ["insurer_name = 全国健康保険協会 東京支部", "employee_delivery = home"])
        #expect(
            try runKakunin(["insurer", "params", "set", "--insurer", "06139999", "--from", "2026-11-01", conf.path], database: tdb).status
                == 0)
        let r = try run(tdb, "06139999", out: dir.appendingPathComponent("out"))
        #expect(held(r.stderr) == #""held_for_member_order":{"decisions":0,"notices":0}"#, "\(r.stderr.suffix(1500))")
        let decisions = try arrivals(tdb, "decision", "06139999")
        #expect(decisions.count > 1000 && decisions == decisions.sorted(by: Self.byteOrder))
    }

    @Test(
        "a failure while sending the held decisions or notices commits nothing and leaves nothing staged; the rerun gives the same rows and files"
    )
    func failureWhileSendingHeld() throws {
        let (dir, feeds) = try EmployerDeliveryTests().generatedFeeds()
        let reference = try prepared(feeds, dir)
        let refOut = dir.appendingPathComponent("reference")
        _ = try run(reference, "06139999", out: refOut)
        let expected = try outcome(reference, refOut.appendingPathComponent("06139999/\(Self.asOf)/nightly"))
        for point in ["send:held:decisions", "send:held:1"] {
            let tdb = try prepared(feeds, dir)
            let out = dir.appendingPathComponent("out-\(point)")
            let failed = try runKakunin(
                ["run", "--insurer", "06139999", "--as-of", Self.asOf, "--out", out.path], database: tdb,
                environment: ["KAKUNIN_FAIL_AT": point, "KAKUNIN_ORDER_RUN_BYTES": "3000"])
            #expect(
                ![0, 11].contains(failed.status) && failed.stderr.contains("failure injected at \(point)"), "\(failed.stderr.suffix(800))")
            let db = try tdb.connect()
            for table in ["decision", "certificate", "notice"] {
                #expect(try db.query("SELECT count(*) FROM \(table)").scalar == "0", "no \(table) committed (\(point))")
            }
            let folder = out.appendingPathComponent("06139999/\(Self.asOf)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).isEmpty, "nothing staged (\(point))")
            _ = try run(tdb, "06139999", out: out)
            let got = try outcome(tdb, folder.appendingPathComponent("nightly"))
            #expect(got == expected, "after \(point); first difference: \(firstDifference(got, expected))")
        }
    }

    /// COLLATE "C": byte order.
    static func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }
}

@Suite("A sorted run of held rows")
struct MemberOrderRunsTests {
    @Test("a full buffer becomes one run sent in key order; at the end an empty buffer begins no run and nothing is left to send")
    func emptyBufferBeginsNoRun() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE held (member_id text)")
        let runs = MemberOrderRuns(runBytes: 10)
        var full = false
        for row in ["M003\n", "M001\n"] {
            full = Array(row.utf8).withUnsafeBytes { runs.append($0, key: 0..<4) }
        }
        #expect(full, "two rows of five bytes fill a buffer of ten")
        runs.startRun()
        #expect(runs.runs == 1 && runs.hasRunToSend)
        let copy = "COPY held FROM STDIN"
        let writer = try db.startCopyIn(copy)
        try runs.sendSome(writer, bytes: .max)
        #expect(try db.endCopyIn(writer, copy) == 2)
        // The stream's end with nothing gathered since: no second run, nothing to send.
        runs.startRun()
        #expect(runs.runs == 1 && !runs.hasRunToSend && runs.isEmpty)
        #expect(try db.query("SELECT string_agg(member_id, ',' ORDER BY ctid) FROM held").scalar == "M001,M003")
    }
}
