import Foundation
import KakuninRuntime
import KakuninTesting
import Testing

/// Issue 14 in a real browser: Tests/Browser/console_browser.py drives headless Chromium
/// through chromedriver (WebDriver) against `kakunin serve` on a real database.
@Suite("The web console in Chromium")
struct ConsoleBrowserTests {
    /// A Python that has selenium (Debian's python3-selenium lives in /usr/bin/python3).
    static func python() -> String? {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3", "python3"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [candidate, "-c", "import selenium"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            if (try? p.run()) != nil {
                p.waitUntilExit()
                if p.terminationStatus == 0 { return candidate }
            }
        }
        return nil
    }

    /// Runs Tests/Browser/console_browser.py with `config`: its exit status and output.
    static func drive(_ python: String, _ config: [String: Any]) throws -> (Int32, String) {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, TestDatabase.repositoryRoot.appendingPathComponent("Tests/Browser/console_browser.py").path, json]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    @Test(
        "[2026-12] a certificate delivered through the employer, returned at the console: the list of returned mail names the establishment and what to do"
    )
    func returnThroughEmployer() throws {
        let python = try #require(
            Self.python(), "no python3 with selenium: apt-get install python3-selenium chromium chromium-driver (.ci/run does)")
        let f = try ConsoleFixture(employerDelivery: true)
        // A mailed certificate of a member the run delivered through an establishment, and one mailed home.
        let through = try f.query(
            """
            SELECT c.member_id, c.certificate_number::text, e.establishment_id, e.name FROM certificate c
            JOIN member m USING (insurer_number, member_id) JOIN establishment e USING (insurer_number, establishment_id)
            WHERE c.insurer_number = '06139999' AND c.run_id IS NOT NULL AND c.mail_exception IS NULL AND c.status = 'active'
              AND m.voluntary_continuation IS NOT TRUE AND e.address <> ''
            ORDER BY c.member_id LIMIT 1
            """)[0]
        let home = try f.query(
            """
            SELECT c.member_id, c.certificate_number::text FROM certificate c JOIN member m USING (insurer_number, member_id)
            WHERE c.insurer_number = '06139999' AND c.run_id IS NOT NULL AND c.mail_exception IS NULL AND c.status = 'active'
              AND (m.voluntary_continuation OR NOT EXISTS (
                   SELECT 1 FROM establishment e WHERE e.insurer_number = m.insurer_number AND e.establishment_id = m.establishment_id))
            ORDER BY c.member_id LIMIT 1
            """)[0]
        let shots = ProcessInfo.processInfo.environment["KAKUNIN_SCREENSHOTS"] ?? f.dir.appendingPathComponent("shots").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let (status, text) = try Self.drive(
            python,
            [
                "base": "http://127.0.0.1:\(f.port)", "passwords": ConsoleFixture.passwords, "shots": shots,
                "steps": ["employer_return"], "issue_member": "", "other_insurer_member": "",
                "employer": [
                    "member": through[0]!, "cert": through[1]!, "establishment": through[2]!, "name": through[3]!,
                    "home_member": home[0]!, "home_cert": home[1]!,
                ],
            ])
        #expect(status == 0 && text.contains("ok   employer_return"), "\(text)")
        #expect(
            try f.query("SELECT member_id, establishment_id FROM mail_return ORDER BY member_id")
                == [[through[0], through[2]], [home[0], nil]].sorted { $0[0]! < $1[0]! })
        #expect(f.stop().status == 0)
    }

    @Test("log in by keyboard, search by kana, record an application, issue and print, reissue, drill down, refusals, throttling, logout")
    func browser() throws {
        let python = try #require(
            Self.python(), "no python3 with selenium: apt-get install python3-selenium chromium chromium-driver (.ci/run does)")
        let f = try ConsoleFixture()
        let issueMember = try f.query(
            """
            SELECT d.member_id FROM decision d WHERE d.run_id = 1 AND d.outcome = 'held'
              AND d.reasons && ARRAY['NO_CARD', 'NOT_REGISTERED', 'ECERT_EXPIRED', 'MYNA_STATUS_UNKNOWN', 'REGISTRATION_CANCELLED', 'CARD_RETURNED']
              AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.insurer_number = d.insurer_number AND c.member_id = d.member_id)
            ORDER BY d.member_id
            """
        ).map { $0[0]! }
        // The console decides as of today: take the first such member the counter would issue to now.
        let clerk = try f.login("clerk")
        let member = try #require(
            try issueMember.first { try clerk.get("/members/131016/\($0)/issue").body.contains("id=\"confirm-issue\"") })
        let otherMember = try f.query("SELECT member_id FROM member WHERE insurer_number = '39131015' ORDER BY member_id LIMIT 1")[0][0]!
        let kana = try f.query(
            "SELECT left(family_name_kana, 2) FROM member WHERE insurer_number = '131016' AND family_name_kana IS NOT NULL ORDER BY member_id LIMIT 1"
        )[0][0]!
        let shots = ProcessInfo.processInfo.environment["KAKUNIN_SCREENSHOTS"] ?? f.dir.appendingPathComponent("shots").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        // Issue 32's traps: a member with no application, a mailed notice, a mailed certificate.
        let trapMember = try f.query(
            """
            SELECT m.member_id FROM member m WHERE m.insurer_number = '131016' AND m.member_id <> $1
              AND NOT EXISTS (SELECT 1 FROM application a WHERE a.insurer_number = m.insurer_number AND a.member_id = m.member_id)
            ORDER BY m.member_id LIMIT 1
            """, [member])[0][0]!
        let noticeMember = try f.query(
            """
            SELECT member_id FROM notice WHERE insurer_number = '131016' AND run_id = 1 AND mail_exception IS NULL AND member_id NOT IN ($1, $2)
            ORDER BY member_id LIMIT 1
            """, [member, trapMember])[0][0]!
        let mailed = try f.query(
            """
            SELECT member_id, certificate_number::text FROM certificate WHERE insurer_number = '131016' AND run_id = 1 AND mail_exception IS NULL
              AND status = 'active' AND member_id NOT IN ($1, $2, $3) ORDER BY member_id LIMIT 1
            """, [member, trapMember, noticeMember])[0]
        let config: [String: Any] = [
            "base": "http://127.0.0.1:\(f.port)", "passwords": ConsoleFixture.passwords, "issue_member": member,
            "other_insurer_member": otherMember, "kana": kana, "shots": shots, "trap_member": trapMember,
            "notice_member": noticeMember, "mailed_member": mailed[0]!, "mailed_cert": mailed[1]!,
        ]
        let (status, text) = try Self.drive(python, config)
        #expect(status == 0, "\(text)")
        #expect(text.contains("ok   counter_work") && text.contains("ok   auditor") && text.contains("ok   throttle"), "\(text)")
        for trap in ["trap_application_form", "trap_decision", "trap_notice_return", "trap_certificate_return", "trap_void", "operator"] {
            #expect(text.contains("ok   \(trap)"), "\(trap): \(text)")
        }
        // The traps recorded exactly what was confirmed, nothing from the refusals or the backs.
        #expect(
            try f.query(
                "SELECT kind, basis, received_on::text, status, reject_reason FROM application WHERE member_id = $1 ORDER BY application_id",
                [trapMember]) == [["special_consideration", "disability", "2026-12-02", "rejected", "診断書の提出がない"]])
        #expect(
            try f.query("SELECT document, returned_on::text, note FROM mail_return WHERE member_id = $1", [noticeMember]).map {
                [$0[1], $0[2]]
            }
                == [["2026-12-03", "転居先不明"]])
        #expect(try f.query("SELECT note FROM mail_return WHERE certificate_number = $1::bigint", [mailed[1]!]) == [["あて所に尋ねあたりません"]])
        #expect(
            try f.query("SELECT count(*) FROM certificate WHERE member_id = $1 AND status = 'voided' AND void_reason = '誤って交付'", [member])[
                0][0] == "1")
        // What the browser did is in the database, named by the person.
        #expect(try f.query("SELECT count(*) FROM certificate WHERE member_id = $1 AND issued_by = 'console:clerk'", [member])[0][0] == "2")
        #expect(
            try f.query("SELECT count(*) FROM application WHERE member_id = $1 AND kind = 'card_renewing' AND source = 'staff'", [member])[
                0][0] == "1")
        #expect(
            try f.query("SELECT count(*) FROM audit_event WHERE action = 'console_login_refused' AND details->>'username' = 'boss'")[0][0]
                == "6")
        #expect(f.stop().status == 0)
    }
}
