import Foundation
import KakuninTesting
import Testing

/// A member qualified after the as-of date gets a certificate that starts in the future; a
/// card_lost application then brings a short-term certificate that starts when that one ends
/// (SPEC.md 2.5 rule 3, 3: valid from S). The following nights must see both as the member's
/// documents: no new certificate, every night's checks pass (found at 100,000 members: a
/// duplicate `renew` every night from the night after the application).
@Suite("Certificates that start after the as-of date, one after the other", .serialized)
struct FutureCertificateChainTests {
    @Test("qualified in the future, then card_lost: later nights (incremental and full) issue nothing more")
    func noDuplicateAfterShortTerm() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("F", ["qualified_on": "2026-12-01"])])
        var r = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")

        r = try nightly(tdb, "2026-11-01", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let db = try tdb.connect()
        let certificates =
            "SELECT valid_from::text, valid_to::text FROM certificate WHERE member_id = 'F' AND status = 'active' ORDER BY valid_from, certificate_number"
        #expect(try db.query(certificates).rows == [["2026-12-01", "2027-07-31"]])

        let a = try FeedFiles.write(dir, "a.csv", [NightlyRunTests.appHeader, "131016,F,card_lost,2026-11-06,,approved"])
        r = try runKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        r = try nightly(tdb, "2026-11-06", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // Valid from S, the first day without a document (the day after the first certificate
        // ends), for short_term_months = 2.
        let both = [["2026-12-01", "2027-07-31"], ["2027-08-01", "2027-09-30"]]
        #expect(try db.query(certificates).rows == both)

        for asOf in ["2026-11-07", "2026-11-08"] {
            r = try nightly(tdb, asOf, out: out, params: dir)
            #expect(r.status == 0, "\(asOf): \(r.stdout)\(r.stderr)")
            #expect(try db.query(certificates).rows == both, "\(asOf)")
        }
        r = try runKakunin(["run", "--insurer", "131016", "--as-of", "2026-11-09", "--out", out.path, "--full"], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try db.query(certificates).rows == both)
        let run = try #require(try db.query("SELECT max(run_id) FROM run").scalar)
        #expect(try NightlyRunTests().decisions(tdb, run: Int(run)!)["F"]?[0...1] == ["none", "COVERED"])
    }

    @Test("a certificate voided while its renewal exists: the gap is filled up to the day before the renewal starts, never over it")
    func gapBeforeRenewal() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let m = try FeedFiles.write(dir, "m.csv", [FeedFiles.memberHeader, FeedFiles.member("G")])
        var r = try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let db = try tdb.connect()
        let certificates =
            "SELECT valid_from::text, valid_to::text FROM certificate WHERE member_id = 'G' AND status = 'active' ORDER BY valid_from, certificate_number"
        r = try nightly(tdb, "2026-11-01", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        r = try nightly(tdb, "2027-06-25", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try db.query(certificates).rows == [["2026-11-01", "2027-07-31"], ["2027-08-01", "2028-07-31"]])
        let first = try #require(try db.query("SELECT min(certificate_number)::text FROM certificate WHERE member_id = 'G'").scalar)
        r = try runKakunin(
            ["certificate", "void", "--insurer", "131016", "--certificate", first, "--reason", "issued in error", "--on", "2027-06-26"],
            database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // 35 days to 08-01 are fewer than min_validity_days: without the renewal the new
        // certificate would run to 2028-07-31, over every day of it.
        r = try nightly(tdb, "2027-06-27", out: out, params: dir)
        #expect(r.status == 0, "the night's checks pass (no two active certificates overlap): \(r.stdout)\(r.stderr)")
        #expect(try db.query(certificates).rows == [["2027-06-27", "2027-07-31"], ["2027-08-01", "2028-07-31"]])
        r = try nightly(tdb, "2027-06-28", out: out, params: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(try db.query(certificates).rows == [["2027-06-27", "2027-07-31"], ["2027-08-01", "2028-07-31"]])
    }
}
