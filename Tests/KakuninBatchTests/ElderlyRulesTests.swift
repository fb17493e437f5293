import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

/// Issue 10: the elderly rules from 2026-08-01 through the CLI, night after night.
@Suite("Elderly rules from 2026-08-01 through the CLI", .serialized)
struct ElderlyRulesTests {
    /// O: 86 on 2026-08-01 (phase 3 cohort). Y: 76. E: 76, blank-basis application received
    /// 2026-08-01 while holding a phase-2 certificate. F: the same received 2026-07-31. G: joins
    /// 2026-08-05 and applies without a basis the same day. N: nhi, blank basis on 2026-08-01.
    @Test("an 85+ member moves from phase 2 to phase 3 without a gap or a duplicate; blank-basis applications by date and scheme")
    func nights() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("out")
        func elderly(_ id: String, born: String, qualified: String = "2016-04-01") -> String {
            FeedFiles.member(id, ["scheme": "elderly", "birth_date": born, "qualified_on": qualified])
        }
        let m = try FeedFiles.write(
            dir, "m.csv",
            [
                FeedFiles.memberHeader,
                elderly("O", born: "1940-05-05"), elderly("Y", born: "1950-03-03"), elderly("E", born: "1950-06-06"),
                elderly("F", born: "1950-07-07"), elderly("G", born: "1951-01-01", qualified: "2026-08-05"), FeedFiles.member("N"),
            ])
        // Cards in regular use (the usage test of 2026-08-01 passes), so the rules under test decide.
        let usable = "true,registered,active,2030-01-31,,12,2026-05-20"
        let s = try FeedFiles.write(
            dir, "s.csv",
            [ElderlyUsageCLITests.mynaUsageHeader] + ["O", "Y", "E", "F", "G", "N"].map { "131016,\($0),2026-06-01,\(usable)" })
        for (feed, file) in [("members", m), ("myna-status", s)] {
            #expect(try runKakunin(["import", feed, file.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
        let runner = NightlyRunTests()
        func night(_ asOf: String, _ run: Int) throws -> [String: [String]] {
            let r = try nightly(tdb, asOf, out: out, params: dir)
            #expect(r.status == 0, "\(asOf): \(r.stdout)\(r.stderr)")
            #expect(!r.stdout.contains("FAIL"))
            #expect(r.stdout.contains("Insurer: 131016 テスト保険者131016"), "the fixture's parameters name the insurer")
            return try runner.decisions(tdb, run: run)
        }

        var d = try night("2026-07-01", 1)
        for id in ["O", "Y", "E", "F"] {
            #expect(d[id] == ["issue", "ELDERLY_TRANSITIONAL", "2026-07-01", "2027-07-31", d[id]![4]], "\(id)")
        }
        #expect(d["G"]?[0...1] == ["eligibility_notice", "MYNA_USABLE"])
        #expect(d["N"]?[0...1] == ["eligibility_notice", "MYNA_USABLE"])

        let a = try FeedFiles.write(
            dir, "a.csv",
            [
                NightlyRunTests.appHeader,
                "131016,E,special_consideration,2026-08-01,,approved", "131016,F,special_consideration,2026-07-31,,approved",
                "131016,G,special_consideration,2026-08-05,,approved", "131016,N,special_consideration,2026-08-01,,approved",
            ])
        let imported = try runKakunin(["import", "applications", a.path, "--report-dir", dir.path], database: tdb)
        #expect(imported.status == 0, "\(imported.stdout)\(imported.stderr)")
        let db = try tdb.connect()
        #expect(
            try db.query("SELECT member_id, status, reject_reason FROM application ORDER BY member_id").rows == [
                ["E", "approved", nil], ["F", "approved", nil], ["G", "approved", nil], ["N", "rejected", "NO_BASIS"],
            ],
            "2026-12: an elderly member needs no basis whenever received (F: 2026-07-31); nhi still does")

        d = try night("2026-08-10", 2)
        #expect(d["O"] == ["none", "COVERED", "", "", ""])
        #expect(d["E"] == ["none", "APP_SPECIAL_CONSIDERATION", "", "", ""], "recorded on the phase-2 certificate")
        #expect(d["G"]?[0...3] == ["issue_on_application", "APP_SPECIAL_CONSIDERATION", "2026-08-10", "2027-07-31"])
        #expect(
            d["F"] == ["none", "APP_SPECIAL_CONSIDERATION", "", "", ""], "received 07-31, for the period from 2027-08-01: recorded too")
        #expect(d["N"] == ["none", "MYNA_USABLE", "", "", ""])

        d = try night("2026-09-01", 3)
        #expect(Set(d.values.map { $0[0] }) == ["none"])

        d = try night("2027-06-25", 4)
        #expect(d["O"]?[0...3] == ["renew", "ELDERLY_TRANSITIONAL", "2027-08-01", "2028-07-31"], "phase 3 takes over from phase 2")
        #expect(d["Y"]?[0...1] == ["eligibility_notice", "MYNA_USABLE"], "under 85, card in regular use: normal rules after phase 2")
        #expect(d["F"]?[0...3] == ["renew", "SPECIAL_CONSIDERATION_CONTINUES", "2027-08-01", "2028-07-31"])
        #expect(d["E"]?[0...3] == ["renew", "SPECIAL_CONSIDERATION_CONTINUES", "2027-08-01", "2028-07-31"])
        #expect(d["G"]?[0...3] == ["renew", "SPECIAL_CONSIDERATION_CONTINUES", "2027-08-01", "2028-07-31"])

        d = try night("2027-07-10", 5)
        for id in ["O", "E", "F", "G"] { #expect(d[id] == ["none", "COVERED", "", "", ""], "\(id)") }

        // O: one certificate after the other, no gap, no overlap.
        #expect(
            try db.query("SELECT valid_from::text, valid_to::text, status FROM certificate WHERE member_id = 'O' ORDER BY valid_from").rows
                == [["2026-07-01", "2027-07-31", "active"], ["2027-08-01", "2028-07-31", "active"]])
        #expect(
            try db.query(
                """
                SELECT count(*) FROM certificate a JOIN certificate b ON a.member_id = b.member_id AND a.certificate_number < b.certificate_number
                WHERE a.status = 'active' AND b.status = 'active' AND a.valid_from <= b.valid_to AND b.valid_from <= a.valid_to
                """
            ).scalar == "0")
    }

    @Test("insurer_name is recorded with the run, shown by explain and in the report")
    func insurerName() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try NightlyRunTests().scenario(tdb, dir)
        try Data("insurer_name = 千代田区国民健康保険\n".utf8).write(to: dir.appendingPathComponent("131016.conf"))
        let r = try nightly(tdb, "2026-11-21", out: dir.appendingPathComponent("out"), params: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Insurer: 131016 千代田区国民健康保険"))
        #expect(!r.stdout.contains("warning: no insurer_name"))
        #expect(
            try tdb.connect().query(
                """
                SELECT v.parameters->>'insurer_name' FROM run r JOIN insurer_parameter_version v ON v.version_id = r.params_version_id
                """
            ).scalar == "千代田区国民健康保険")
        let e = try runKakunin(["explain", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21"], database: tdb)
        #expect(e.stdout.contains("of insurer 131016 (千代田区国民健康保険)"), "\(e.stdout)")
        let j = try runKakunin(
            [
                "explain", "--insurer", "131016", "--member", "A", "--as-of", "2026-11-21",
                "--format", "json",
            ], database: tdb)
        #expect(j.stdout.contains("\"insurer_name\" : \"千代田区国民健康保険\""), "\(j.stdout)")
    }
}
