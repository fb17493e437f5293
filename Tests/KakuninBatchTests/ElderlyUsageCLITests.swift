import Foundation
import KakuninCore
import KakuninStore
import KakuninTesting
import Testing

/// Issue 29 item 4: the optional usage columns of myna_status.csv and the elderly usage test
/// (SPEC.md 2.4, 4) through the CLI.
@Suite("Elderly usage test and the usage columns of myna_status.csv through the CLI", .serialized)
struct ElderlyUsageCLITests {
    /// The header with the optional usage columns (SPEC.md 4 [2026-12]).
    static let mynaUsageHeader = FeedFormat.mynaStatus.columns.map(\.name).joined(separator: ",")

    @Test("usage columns: stored when present, validated like every column, and a file without them loads as before")
    func importColumns() throws {
        #expect(Self.mynaUsageHeader.hasSuffix(",uses_12m,last_used_on"))
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv", [FeedFiles.memberHeader] + ["M1", "M2", "M3", "M4", "M5", "M6", "M7"].map { FeedFiles.member($0) })
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        let db = try tdb.connect()

        // Today's file, without the columns: loads unchanged, usage unknown (NULL).
        let old = try FeedFiles.write(
            dir, "old.csv", [NightlyRunTests.mynaHeader, "131016,M1,2026-10-01,true,registered,active,2030-01-31,"])
        let r0 = try runKakunin(["import", "myna-status", old.path, "--report-dir", dir.path], database: tdb)
        #expect(r0.status == 0, "\(r0.stdout)\(r0.stderr)")
        #expect(try db.query("SELECT uses_12m, last_used_on FROM myna_status WHERE member_id = 'M1'").rows == [[nil, nil]])

        // The columns in another order than the format's, with good and bad values.
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                "insurer_number,member_id,last_used_on,uses_12m,status_as_of,has_card,registration,card_state,ecert_expiry,card_expiry",
                "131016,M1,2026-10-20,7,2026-11-01,true,registered,active,2030-01-31,",
                "131016,M2,,,2026-11-01,true,registered,active,2030-01-31,",
                "131016,M3,2026-11-01,0,2026-11-01,true,registered,active,2030-01-31,",
                "131016,M4,2026-10-20,-1,2026-11-01,true,registered,active,2030-01-31,",
                "131016,M5,2026-10-20,six,2026-11-01,true,registered,active,2030-01-31,",
                "131016,M6,2026-02-30,6,2026-11-01,true,registered,active,2030-01-31,",
                "131016,M7,2026-11-02,6,2026-11-01,true,registered,active,2030-01-31,",
            ])
        let r = try runKakunin(["import", "myna-status", s.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 10, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("line 5, column uses_12m, value \"-1\", member M4: must be a whole number of 0 or more"), "\(r.stdout)")
        #expect(r.stdout.contains("line 6, column uses_12m, value \"six\", member M5: must be a whole number of 0 or more"))
        #expect(r.stdout.contains("line 7, column last_used_on, value \"2026-02-30\", member M6:"))
        #expect(
            r.stdout.contains(
                "line 8, column last_used_on, value \"2026-11-02\", member M7: last_used_on is after status_as_of (2026-11-01)"))
        #expect(
            try db.query(
                """
                SELECT member_id, status_as_of::text, uses_12m::text, last_used_on::text FROM myna_status ORDER BY member_id, status_as_of
                """
            ).rows == [
                ["M1", "2026-10-01", nil, nil], ["M1", "2026-11-01", "7", "2026-10-20"],
                ["M2", "2026-11-01", nil, nil], ["M3", "2026-11-01", "0", "2026-11-01"],
            ])
        // A repeat is marked only when its last use leaves the 3-month window the snapshot before
        // still covered (the usage test counts back from the snapshot's date): 2026-12-01 and
        // 2027-01-01 (window from 2026-10-01) still cover 2026-10-20, 2027-02-01 does not.
        func marks() throws -> [String] {
            try db.query("SELECT status_as_of::text FROM myna_status WHERE member_id = 'M1' AND status_changed ORDER BY 1").rows.map {
                $0[0]!
            }
        }
        let repeats = try FeedFiles.write(
            dir, "repeats.csv",
            [
                Self.mynaUsageHeader,
                "131016,M1,2026-12-01,true,registered,active,2030-01-31,,7,2026-10-20",
                "131016,M1,2027-02-01,true,registered,active,2030-01-31,,7,2026-10-20",
            ])
        #expect(try runKakunin(["import", "myna-status", repeats.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try marks() == ["2026-10-01", "2026-11-01", "2027-02-01"])
        // Inserted before a later snapshot: the member's marks are recomputed, with the same rule.
        let between = try FeedFiles.write(
            dir, "between.csv",
            [
                Self.mynaUsageHeader,
                "131016,M1,2027-01-01,true,registered,active,2030-01-31,,7,2026-10-20",
            ])
        #expect(try runKakunin(["import", "myna-status", between.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(try marks() == ["2026-10-01", "2026-11-01", "2027-02-01"])
        // The latest marked snapshot on every date decides the 3-month test as the latest one does.
        #expect(
            try db.query(
                """
                SELECT d::date FROM generate_series('2026-11-01'::date, '2027-03-01', '1 day') d
                WHERE (SELECT last_used_on >= (status_as_of - interval '3 months')::date FROM myna_status
                       WHERE member_id = 'M1' AND status_as_of <= d ORDER BY status_as_of DESC LIMIT 1)
                      IS DISTINCT FROM
                      (SELECT last_used_on >= (status_as_of - interval '3 months')::date FROM myna_status
                       WHERE member_id = 'M1' AND status_as_of <= d AND status_changed ORDER BY status_as_of DESC LIMIT 1)
                """
            ).rows.isEmpty)
        // The database refuses what the feed refuses.
        #expect(throws: (any Error).self) {
            try db.execute("UPDATE myna_status SET uses_12m = -1 WHERE member_id = 'M3'")
        }
    }

    @Test("generate --myna-usage fills uses_12m and last_used_on; everything else is the same bytes as without it")
    func generated() throws {
        let plain = try temporaryDirectory()
        let usage = try temporaryDirectory()
        for (dir, extra) in [(plain, [String]()), (usage, ["--myna-usage"])] {
            let r = try runKakunin(["generate", "--members", "3000", "--seed", "11", "--out", dir.path] + extra, database: nil)
            #expect(r.status == 0, "\(r.stderr)")
        }
        func text(_ dir: URL, _ f: String) throws -> String {
            String(decoding: try Data(contentsOf: dir.appendingPathComponent(f)), as: UTF8.self)
        }
        for f in ["members.csv", "applications.csv"] { #expect(try text(plain, f) == text(usage, f), "\(f)") }
        let a = try csvRows(try text(plain, "myna_status.csv"))
        let b = try csvRows(try text(usage, "myna_status.csv"))
        #expect(a[0] == FeedFormat.mynaStatus.columns.filter { !$0.optional }.map(\.name))
        #expect(b[0] == FeedFormat.mynaStatus.columns.map(\.name))
        #expect(a.count == b.count && zip(a, b).allSatisfy { Array($1.prefix(8)) == $0 })
        let rows = b.dropFirst()
        let known = rows.filter { !$0[8].isEmpty }
        #expect(known.count > rows.count / 2 && known.count < rows.count)
        #expect(known.allSatisfy { Int($0[8]).map { $0 >= 0 } ?? false })
        #expect(rows.allSatisfy { $0[9].isEmpty || $0[9] <= $0[2] }, "never a use after status_as_of")
        #expect(known.contains { Int($0[8])! >= 6 } && known.contains { Int($0[8])! < 6 })
    }

    @Test(
        "elderly_apply_without_basis: the version in force on the day received decides whether a basis-less elderly application is accepted"
    )
    func applyWithoutBasis() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                FeedFiles.member("E", ["scheme": "elderly", "birth_date": "1950-03-03"]), FeedFiles.member("N"),
            ])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(
            try setParameters(tdb, from: "2026-09-01", ["insurer_name = テスト保険者131016", "elderly_apply_without_basis = off"]).status == 0)
        let a = try FeedFiles.write(
            dir, "a.csv",
            [
                NightlyRunTests.appHeader,
                "131016,E,special_consideration,2026-05-20,,approved", "131016,E,special_consideration,2026-09-02,,pending",
                "131016,N,special_consideration,2026-05-20,,approved",
            ])
        let r = try runKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(
            try tdb.connect().query("SELECT member_id, received_on::text, status, reject_reason FROM application ORDER BY 1, 2").rows == [
                ["E", "2026-05-20", "approved", nil], ["E", "2026-09-02", "rejected", "NO_BASIS"],
                ["N", "2026-05-20", "rejected", "NO_BASIS"],
            ])
        // The database guard (sql/028) lets an elderly member's open application without a basis
        // in whenever received, and still refuses anyone else's.
        let db = try tdb.connect()
        #expect(throws: (any Error).self) {
            try db.execute("UPDATE application SET status = 'pending', reject_reason = NULL WHERE member_id = 'N'")
        }
    }

    /// L: 76, used twice. U: 76, today's file (no usage columns). P: 76, used monthly.
    /// R: born 1942-08-02, attains 85 on 2027-08-01; used monthly.
    @Test("ELDERLY_LOW_MYNA_USE through run and explain, renewed while the use stays low; elderly_85_reference = renewal")
    func nights() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        func elderly(_ id: String, born: String = "1950-03-03") -> String {
            FeedFiles.member(id, ["scheme": "elderly", "birth_date": born, "qualified_on": "2016-04-01"])
        }
        let m = try FeedFiles.write(
            dir, "m.csv", [FeedFiles.memberHeader, elderly("L"), elderly("U"), elderly("P"), elderly("R", born: "1942-08-02")])
        let usable = "true,registered,active,2030-01-31,"
        let old = try FeedFiles.write(dir, "old.csv", [NightlyRunTests.mynaHeader, "131016,U,2027-06-01,\(usable)"])
        let s = try FeedFiles.write(
            dir, "s.csv",
            [
                Self.mynaUsageHeader,
                "131016,L,2027-06-01,\(usable),2,2027-05-10", "131016,P,2027-06-01,\(usable),12,2027-05-28",
                "131016,R,2027-06-01,\(usable),12,2027-05-28",
            ])
        for (feed, file) in [("members", m), ("myna-status", old), ("myna-status", s)] {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        }
        let runner = NightlyRunTests()
        func night(_ asOf: String, _ run: Int) throws -> [String: [String]] {
            // 2028 is more than 366 days after today: said explicitly.
            let r = try runKakunin(
                [
                    "run", "--insurer", "131016", "--as-of", asOf, "--out", out.path, "--params-dir", dir.path,
                    "--allow-far-date",
                ], database: tdb)
            #expect(r.status == 0, "\(asOf): \(r.stdout)\(r.stderr)")
            return try runner.decisions(tdb, run: run)
        }

        var d = try night("2026-11-21", 1)
        // Before the statuses (2027-06-01) no Myna status is on record for anyone: fail safe.
        for id in ["L", "U", "P", "R"] { #expect(d[id]?[0...1] == ["issue", "MYNA_STATUS_UNKNOWN"], "\(id)") }

        // explain, before the run, gives the decision the run will take, with the rule's source.
        let e = try runKakunin(["explain", "--insurer", "131016", "--member", "L", "--as-of", "2027-06-25"], database: tdb)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("ELDERLY_LOW_MYNA_USE"), "\(e.stdout)")
        #expect(e.stdout.contains("elderly-usage-test") && e.stdout.contains("三種町"), "\(e.stdout)")
        #expect(e.stdout.contains("2 uses in the 12 months before 2027-06-01"), "\(e.stdout)")

        d = try night("2027-06-25", 2)
        #expect(d["L"]?[0...3] == ["renew", "ELDERLY_LOW_MYNA_USE", "2027-08-01", "2028-07-31"], "2 uses: renewed anyway")
        #expect(d["U"]?[0...3] == ["renew", "ELDERLY_LOW_MYNA_USE", "2027-08-01", "2028-07-31"], "use unknown: fails safe")
        #expect(d["P"]?[0...1] == ["eligibility_notice", "MYNA_USABLE"], "used monthly: notice instead of a certificate")
        #expect(d["R"]?[0...1] == ["eligibility_notice", "MYNA_USABLE"], "fixed reference: 84 on 2026-08-01, used monthly")

        // The next year: L still little use → renewed again; U's new file shows regular use → notice
        // instead. From 2028 the insurer takes the age on each period's 08-01 (renewal).
        let s2 = try FeedFiles.write(
            dir, "s2.csv",
            [
                Self.mynaUsageHeader,
                "131016,L,2028-06-01,\(usable),1,2028-01-10", "131016,U,2028-06-01,\(usable),9,2028-05-30",
            ])
        #expect(try runKakunin(["import", "myna-status", s2.path, "--report-dir", dir.path], database: tdb).status == 0)
        try setParameters(tdb, from: "2028-01-01", ["insurer_name = テスト保険者131016", "elderly_85_reference = renewal"])
        d = try night("2028-06-25", 3)
        #expect(d["L"]?[0...3] == ["renew", "ELDERLY_LOW_MYNA_USE", "2028-08-01", "2029-07-31"])
        #expect(d["U"]?[0...1] == ["eligibility_notice", "MYNA_USABLE"])
        #expect(d["P"] == ["none", "MYNA_USABLE", "", "", ""], "still used enough; the notice was sent in 2027")
        // R holds no certificate (the notice of night 2 served): S = 2028-06-25 lies in the period
        // that began 2027-08-01, the day R attained 85 → ELDERLY_TRANSITIONAL. With the fixed
        // reference R is 84 and, used monthly, would have got nothing (notice already sent).
        #expect(d["R"]?[0...3] == ["issue", "ELDERLY_TRANSITIONAL", "2028-06-25", "2029-07-31"])
    }
}
