import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 29 item 8 (SPEC.md 5.1 [2026-12]): the console's member page and print view show the
/// printed fields of `PrintedDetails`: the 特別療養 title, the copay line and the optional entries.
@Suite("Printed fields in the console", .serialized)
struct PrintedFieldsConsoleTests {
    let f: ConsoleFixture

    init() throws { f = try ConsoleFixture(members: 200) }

    /// P1: nhi, 46, a 特別療養 household, 限度区分 区ウ from 2026-08-01, 長期入院 from 2026-03-01;
    /// no Myna card, so the counter issues a certificate.
    func importMember() throws {
        let header =
            "insurer_number,member_id,scheme,symbol,number,branch,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,"
            + "qualified_on,disqualified_on,household_id,household_head,postal_code,address,address_extra,preferred_language,copay_ratio,"
            + "residence_expiry,legacy_card_expiry,access_restricted,special_care,limit_category,limit_effective_on,long_stay_on"
        let row =
            "131016,P1,nhi,千代田,7654321,00,印字,花子,インジ,ハナコ,1980-04-01,2,2020-04-01,,HP1,true,1000001,東京都千代田区千代田1丁目1番1号,,ja,30,,,false,"
            + "true,区ウ,2026-08-01,2026-03-01"
        let file = f.dir.appendingPathComponent("p1.csv")
        try (header + "\n" + row + "\n").write(to: file, atomically: true, encoding: .utf8)
        let r = try runKakunin(
            ["import", "members", file.path, "--report-dir", f.dir.appendingPathComponent("reports").path], database: f.tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test(
        "the member page shows what a certificate would print; the print view of the issued one prints the 特別療養 title and the entries with ＊"
    )
    func memberPageAndPrintView() throws {
        try importMember()
        let clerk = try f.login("clerk")
        let page = "/members/131016/P1"
        let member = try clerk.get(page)
        #expect(member.status == 200)
        for text in [
            "id=\"printed-title\">資格確認書（特別療養）", "<dt>一部負担金の割合</dt><dd>法定負担割合のとおり</dd>",
            "<dt>限度区分</dt><dd>区ウ（発効期日 令和8年8月1日）</dd>", "<dt>長期入院該当日</dt><dd>令和8年3月1日</dd>",
            "<dt>特定疾病区分</dt><dd>＊</dd>",
        ] {
            #expect(member.body.contains(text), "\(text)")
        }
        let issued = try clerk.post("\(page)/issue", from: "\(page)/issue", [])
        #expect(issued.status == 200, "\(issued.body)")
        let number = try #require(
            try f.query("SELECT certificate_number FROM certificate WHERE member_id = 'P1' AND status = 'active'").first?[0])
        let print = try clerk.get("/certificates/131016/\(number)/print")
        #expect(print.status == 200)
        for text in [
            "<title>資格確認書（特別療養） 131016-", "<h1 data-variant=\"special_care\">資格確認書（特別療養）</h1>",
            // [2026-12] the one-sheet layout of issue 31 (label and value spans)
            "<span class=\"l\">一部負担金の割合</span><span class=\"v\">法定負担割合のとおり</span>",
            "<span class=\"l\">限度区分</span><span class=\"v\">区ウ（発効期日 令和8年8月1日）</span>",
            "<span class=\"l\">長期入院該当日</span><span class=\"v\">令和8年3月1日</span>",
            "<span class=\"l\">特定疾病区分</span><span class=\"v\">＊</span>",
        ] {
            #expect(print.body.contains(text), "\(text)")
        }
    }
}
