import Foundation
import KakuninTesting
import Testing

/// Issue 29's timeline: the rules of 2026 together, over seven months of nights through the CLI,
/// with imports changing members between runs (SPEC.md 2.4, 2.5, 3).
@Suite("The 2026 rules over a timeline of nights", .serialized)
struct RulesTimelineTests {
    /// S: nhi, 75 on 2027-07-15, no card. W: employee, 75 on 2027-09-20, no card.
    /// K: nhi, 71, no card. T: nhi, 71, card usable.
    /// L and U: elderly, 76, card usable but used twice in 12 months; U's next file shows regular use.
    /// P: nhi, 46, no card; the extract changes the family name P's certificate prints.
    static func members(pName: String = "山田") -> [String] {
        [
            FeedFiles.memberHeader,
            FeedFiles.member("S", ["birth_date": "1952-07-15", "qualified_on": "2000-04-01", "copay_ratio": "20"]),
            FeedFiles.member("W", ["scheme": "employee", "birth_date": "1952-09-20", "qualified_on": "2000-04-01"]),
            FeedFiles.member("K", ["birth_date": "1955-06-10", "qualified_on": "2000-04-01", "copay_ratio": "20"]),
            FeedFiles.member("T", ["birth_date": "1955-06-10", "qualified_on": "2000-04-01", "copay_ratio": "20"]),
            FeedFiles.member("L", ["scheme": "elderly", "birth_date": "1950-03-03", "qualified_on": "2016-04-01", "copay_ratio": "10"]),
            FeedFiles.member("U", ["scheme": "elderly", "birth_date": "1950-03-03", "qualified_on": "2016-04-01", "copay_ratio": "10"]),
            FeedFiles.member("P", ["family_name": pName]),
        ]
    }

    @Test(
        "75 in nhi and employee, 70–74 renewal at 08-01 with its notice, a printed detail reissued once, the usage test renewing, over six nights"
    )
    func timeline() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        let usable = "true,registered,active,2030-01-31,"
        let noCard = "false,,none,,,,"
        let header = ElderlyUsageCLITests.mynaUsageHeader
        let m = try FeedFiles.write(dir, "m.csv", Self.members())
        let s = try FeedFiles.write(
            dir, "s.csv",
            [header] + ["S", "W", "K", "P"].map { "131016,\($0),2026-11-01,\(noCard)" }
                + [
                    "131016,T,2026-11-01,\(usable),12,2026-10-28",
                    "131016,L,2026-11-01,\(usable),2,2026-10-10", "131016,U,2026-11-01,\(usable),2,2026-10-10",
                ])
        try importFeeds(tdb, dir, [("members", m), ("myna-status", s)])
        let runner = NightlyRunTests()
        var run = 0
        func night(_ asOf: String) throws -> [String: [String]] {
            run += 1
            let r = try nightly(tdb, asOf, out: out, params: dir)
            #expect(r.status == 0, "\(asOf): \(r.stdout)\(r.stderr)")
            return try runner.decisions(tdb, run: run)
        }
        func expectDecision(_ d: [String: [String]], _ id: String, _ want: [String], _ note: Comment? = nil) {
            #expect(d[id].map { Array($0.prefix(want.count)) } == want, "\(id): \(d[id] ?? []) \(note?.rawValue ?? "")")
        }

        // Night 1, 2026-12-01: everyone's first documents. S's certificate stops the day before
        // the 75th birthday; the 70–74 documents end at the first 07-31; the usage test gives
        // the elderly members who rarely use their card a certificate.
        var d = try night("2026-12-01")
        expectDecision(d, "S", ["issue", "NO_CARD", "2026-12-01", "2027-07-14"])
        expectDecision(d, "W", ["issue", "NO_CARD", "2026-12-01", "2027-09-19"])
        expectDecision(d, "K", ["issue", "NO_CARD", "2026-12-01", "2027-07-31"])
        expectDecision(d, "T", ["eligibility_notice", "MYNA_USABLE", "2026-12-01", "2027-07-31"])
        expectDecision(d, "L", ["issue", "ELDERLY_LOW_MYNA_USE", "2026-12-01", "2027-07-31"])
        expectDecision(d, "U", ["issue", "ELDERLY_LOW_MYNA_USE", "2026-12-01", "2027-07-31"])
        expectDecision(d, "P", ["issue", "NO_CARD", "2026-12-01", "2027-07-31"])

        // The next extract records P's new family name, which P's certificate prints.
        try importFeeds(tdb, dir, [("members", try FeedFiles.write(dir, "m2.csv", Self.members(pName: "佐藤")))])

        // Night 2, the next day: P's certificate is replaced for the rest of its period (the old
        // one voided and linked); nothing else is due again. S's and W's next document would start on
        // the 75th birthday, so they are decided as leaving for the elderly scheme (that rule
        // comes before "not due"), though the extract has not recorded the move.
        d = try night("2026-12-02")
        for id in ["K", "L", "U"] { expectDecision(d, id, ["none", "COVERED"]) }
        for id in ["S", "W"] { expectDecision(d, id, ["none", "MOVES_TO_ELDERLY"]) }
        expectDecision(d, "T", ["none", "MYNA_USABLE"])
        expectDecision(d, "P", ["renew", "PRINTED_DETAILS_CHANGED", "2026-12-02", "2027-07-31"])
        let db = try tdb.connect()
        #expect(
            try db.query(
                """
                SELECT a.status, a.voided_on::text, b.replaces_certificate_number = a.certificate_number FROM certificate a
                JOIN certificate b ON b.insurer_number = a.insurer_number AND b.member_id = a.member_id AND b.certificate_number > a.certificate_number
                WHERE a.member_id = 'P'
                """
            ).rows == [["voided", "2026-12-02", "t"]])

        // Night 3, 2027-06-05: the horizon reaches S's 75th birthday: no renewal; the elderly
        // scheme's insurer serves S from that day.
        d = try night("2027-06-05")
        for id in ["S", "W"] { expectDecision(d, id, ["none", "MOVES_TO_ELDERLY"]) }
        for id in ["K", "L", "U", "P"] { expectDecision(d, id, ["none", "COVERED"]) }

        // Between nights the Myna status file for June arrives: U now uses the card every month.
        let s2 = try FeedFiles.write(
            dir, "s2.csv",
            [
                header, "131016,L,2027-06-01,\(usable),1,2027-01-10",
                "131016,U,2027-06-01,\(usable),9,2027-05-30",
            ])
        try importFeeds(tdb, dir, [("myna-status", s2)])

        // Night 4, 2027-06-22: the horizon reaches 08-01. K renews for one year with no
        // min_validity_days extension, T's notice lapses and a new one goes out, L (still little
        // use) renews under the usage test, U gets a notice instead of a renewal.
        d = try night("2027-06-22")
        expectDecision(d, "K", ["renew", "NO_CARD", "2027-08-01", "2028-07-31"])
        expectDecision(d, "P", ["renew", "NO_CARD", "2027-08-01", "2028-07-31"], "the replacement renews like any certificate")
        expectDecision(d, "T", ["eligibility_notice", "MYNA_USABLE", "2027-08-01", "2028-07-31"])
        expectDecision(d, "L", ["renew", "ELDERLY_LOW_MYNA_USE", "2027-08-01", "2028-07-31"])
        expectDecision(d, "U", ["eligibility_notice", "MYNA_USABLE"])
        expectDecision(d, "S", ["none", "MOVES_TO_ELDERLY"])

        // Night 5, 2027-06-23: each of those once, not every night.
        d = try night("2027-06-23")
        for id in ["K", "L", "P"] { expectDecision(d, id, ["none", "COVERED"]) }
        for id in ["T", "U"] { expectDecision(d, id, ["none", "MYNA_USABLE"]) }

        // Night 6, 2027-08-11: the horizon reaches W's 75th birthday: the employee scheme's
        // member leaves for the elderly scheme too, with no renewal (five-year validity otherwise).
        d = try night("2027-08-11")
        expectDecision(d, "W", ["none", "MOVES_TO_ELDERLY"])

        // Over the whole timeline no nhi or employee certificate was ever valid on or after the
        // member's 75th birthday, and each member's certificates never overlap.
        #expect(
            try db.query(
                """
                SELECT c.member_id, c.valid_to::text FROM certificate c JOIN member m USING (insurer_number, member_id)
                WHERE m.scheme IN ('nhi', 'employee') AND c.valid_to >= (m.birth_date + interval '75 years')::date
                """
            ).rows.isEmpty)
        #expect(
            try db.query(
                """
                SELECT a.member_id FROM certificate a JOIN certificate b USING (insurer_number, member_id)
                WHERE a.certificate_number < b.certificate_number AND a.status = 'active' AND b.status = 'active'
                  AND a.valid_from <= b.valid_to AND b.valid_from <= a.valid_to
                """
            ).rows.isEmpty)
        #expect(
            try db.query("SELECT member_id, count(*)::text FROM certificate GROUP BY 1 ORDER BY 1").rows
                == [["K", "2"], ["L", "2"], ["P", "3"], ["S", "1"], ["U", "1"], ["W", "1"]])
    }

    private func importFeeds(_ tdb: TestDatabase, _ dir: URL, _ feeds: [(String, URL)]) throws {
        for (feed, file) in feeds {
            let r = try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb)
            #expect(r.status == 0, "\(feed): \(r.stdout)\(r.stderr)")
        }
    }
}
