import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 34 item 5: the seal places a run's certificates span by span (sql/050): the pending
/// ranges of a run (one per statement that created certificates) are merged, each span is read
/// in number order, and the log is asked whether it already holds a certificate only where it
/// holds one inside the span. Whatever the ranges look like, every certificate enters the log
/// once, in number order after its event, and what has no event follows at the end of the seal.
@Suite("The seal, span by span", .serialized)
struct AuditSealSpansTests {
    let tdb: TestDatabase
    let dir: URL
    let owner: Connection
    let run: String

    init() throws {
        tdb = try TestDatabase()
        dir = try temporaryDirectory()
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("A"), FeedFiles.member("B")])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir).status == 0)
        owner = try tdb.connect()
        run = try owner.query("SELECT run_id::text FROM run").scalar!
        _ = try owner.query("SELECT audit_seal()")
    }

    /// The owner's statement creating certificates `numbers` of `run` (nil: without a run),
    /// around kakunin: one pending range per statement.
    func create(_ numbers: [Int], run: String?) throws {
        let values = numbers.map {
            "('131016', \($0), 'A', \(run ?? "NULL"), 'issue', '{NO_CARD}', '2026-11-21', '2027-07-31', '2026-11-21')"
        }
        try owner.execute(
            """
            INSERT INTO certificate (insurer_number, certificate_number, member_id, run_id, kind, reasons, valid_from, valid_to, issued_on)
            VALUES \(values.joined(separator: ", "))
            """)
    }

    /// The owner repeats the run's decision event: the seal places the run's pending certificates after it.
    func repeatDecision() throws {
        _ = try owner.query("SELECT audit_append('run_decided', '131016', NULL, $1, NULL, '{}')", [run])
    }

    /// The log from position `from`: each entry as "e" (an event) or the certificate's number.
    func entries(from: Int) throws -> [String] {
        try owner.query(
            "SELECT coalesce(certificate_number::text, 'e') FROM audit_log WHERE log_index >= $1 ORDER BY log_index", [String(from)]
        ).rows.map { $0[0]! }
    }

    func logSize() throws -> Int { Int(try owner.query("SELECT count(*) FROM audit_log").scalar!)! }

    @Test("a run's ranges with a gap, overlapping and covering sealed certificates: each certificate once, in number order after its event")
    func spansOfOneRun() throws {
        try create([900041], run: run)
        try repeatDecision()
        let start = try logSize()
        _ = try owner.query("SELECT audit_seal()")
        #expect(try entries(from: start) == ["e", "900041"])
        // Ranges [900010, 900011], [900012] (next to it), [900009, 900013] over both, then
        // [900020, 900021] after a gap, and [900040, 900042] around 900041, already in the log.
        try create([900010, 900011], run: run)
        try create([900012], run: run)
        try create([900013, 900009], run: run)
        try create([900021, 900020], run: run)
        try create([900040, 900042], run: run)
        try repeatDecision()
        let second = try logSize()
        let size = Int(try owner.query("SELECT audit_seal()").scalar!)!
        #expect(
            try entries(from: second) == [
                "e", "900009", "900010", "900011", "900012", "900013", "900020", "900021", "900040", "900042",
            ])
        #expect(size == second + 10)
        #expect(try owner.query("SELECT count(*) FROM audit_pending_certificate").scalar == "0")
        #expect(
            try owner.query(
                "SELECT count(*) = count(DISTINCT log_index) AND max(log_index) + 1 = count(*) FROM audit_log"
            ).scalar == "t", "positions 0 … n-1, each once")
        #expect(
            try owner.query(
                "SELECT count(*) FROM certificate c WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.insurer_number = c.insurer_number AND l.certificate_number = c.certificate_number)"
            ).scalar == "0")
    }

    @Test("certificates without their event, of a run and without one, in ranges that overlap: at the end of the seal, in number order")
    func orphansInNumberOrder() throws {
        try create([900050, 900052], run: nil)
        try create([900051], run: run)
        try create([900060], run: nil)
        // An event sealed in the same seal comes first; the orphans follow it.
        _ = try owner.query("SELECT audit_append('import', '131016', NULL, NULL, NULL, '{}')")
        let start = try logSize()
        _ = try owner.query("SELECT audit_seal()")
        #expect(try entries(from: start) == ["e", "900050", "900051", "900052", "900060"])
        // A repeated decision afterwards finds nothing left to place.
        try repeatDecision()
        let again = try logSize()
        _ = try owner.query("SELECT audit_seal()")
        #expect(try entries(from: again) == ["e"])
        // And the log verifies from its first entry.
        let key = dir.appendingPathComponent("k.pem")
        let pub = dir.appendingPathComponent("k.pub")
        #expect(try runKakunin(["audit", "keygen", "--private-key", key.path, "--public-key", pub.path], database: tdb).status == 0)
        let cp = dir.appendingPathComponent("cp.txt")
        #expect(try runKakunin(["audit", "checkpoint", "--key", key.path, "--output", cp.path], database: tdb).status == 0)
        let v = try runKakunin(["audit", "verify", "--checkpoint", cp.path, "--public-key", pub.path], database: tdb)
        #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
    }

    /// certificate_log_coverage of the run: certificates, in the log, waiting, outside.
    func runCoverage() throws -> [String] {
        try owner.query("SELECT certificates, logged, pending, outside FROM certificate_log_coverage('131016', $1)", [run]).rows[0].map {
            $0!
        }
    }

    @Test("the report's coverage of a run counts by the run's block: in the log, waiting for a seal, outside the log")
    func coverageOfRun() throws {
        let issued = try owner.query("SELECT count(*) FROM certificate WHERE run_id = $1", [run]).scalar!
        #expect(try runCoverage() == [issued, issued, "0", "0"])
        // The owner widens the run's block and creates certificates of the run in it: two wait
        // for a seal, one (its trigger disabled) stays outside the log; one of another run and
        // one past the block are not the run's.
        try owner.execute("ALTER TABLE run DISABLE TRIGGER run_history")
        try owner.execute("UPDATE run SET numbers_to = 900100 WHERE run_id = $1", [run])
        try owner.execute("ALTER TABLE run ENABLE TRIGGER run_history")
        try create([900001, 900003], run: run)
        try create([900002], run: nil)
        try create([900100], run: run)
        try owner.execute("ALTER TABLE certificate DISABLE TRIGGER certificate_b_logged")
        try create([900004], run: run)
        try owner.execute("ALTER TABLE certificate ENABLE TRIGGER certificate_b_logged")
        let all = String(Int(issued)! + 3)
        #expect(try runCoverage() == [all, issued, "2", "1"])
        _ = try owner.query("SELECT audit_seal()")
        #expect(try runCoverage() == [all, String(Int(issued)! + 2), "0", "1"])
        // The insurer's and everyone's certificates are counted as before.
        #expect(
            try owner.query("SELECT certificates, logged, pending, outside FROM certificate_log_coverage('131016')").rows[0].map { $0! }
                == [String(Int(issued)! + 5), String(Int(issued)! + 4), "0", "1"])
    }

    @Test("the log's event ids stay unique while certificate entries add nothing to their index")
    func eventIdsUnique() throws {
        let e = try owner.query("SELECT event_id::text FROM audit_log WHERE event_id IS NOT NULL LIMIT 1").scalar!
        try owner.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable")
        defer { try? owner.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_immutable") }
        let twice = #expect(throws: DatabaseError.self) {
            try owner.execute("INSERT INTO audit_log (log_index, event_id) VALUES ((SELECT max(log_index) + 1 FROM audit_log), $1)", [e])
        }
        #expect(twice?.sqlState == "23505")
        #expect(
            try owner.query(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'kakunin' AND tablename = 'audit_log' AND indexdef LIKE '%(event_id)%'"
            ).scalar?.hasSuffix("WHERE (event_id IS NOT NULL)") == true)
    }
}
