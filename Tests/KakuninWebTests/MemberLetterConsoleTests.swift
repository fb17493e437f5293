import Foundation
import KakuninCore
import KakuninTesting
import Testing

/// Issue 33 at the counter: the member page shows the letter of the member's certificate in
/// Japanese; the print view prints it in the member's language or in Japanese.
@Suite("Member letters in the console", .serialized)
struct MemberLetterConsoleTests {
    @Test("the member page shows the letter in Japanese; the print view offers it in the member's language and in Japanese")
    func letterAtTheCounter() throws {
        let f = try ConsoleFixture()
        defer { _ = f.stop() }
        let clerk = try f.login("clerk")
        let row = try #require(
            try f.query(
                """
                SELECT c.member_id, c.certificate_number::text, array_to_string(c.reasons, ';'), m.preferred_language
                FROM certificate c JOIN member m USING (insurer_number, member_id)
                WHERE c.insurer_number = '131016' AND c.status = 'active' AND m.preferred_language NOT IN ('ja', '')
                ORDER BY c.certificate_number LIMIT 1
                """
            ).first, "the generated data has a foreign resident with a certificate")
        let (member, number, reasons, language) = (row[0]!, row[1]!, row[2]!.split(separator: ";").map(String.init), row[3]!)
        let ja = try #require(LetterCatalog.texts["ja"])
        let page = try clerk.get("/members/131016/\(member)")
        #expect(page.status == 200)
        #expect(page.body.contains("id=\"member-letter\"") && page.body.contains(ja["title.certificate"]!), "\(page.body.suffix(2000))")
        for code in reasons { #expect(page.body.contains(ja["reason.\(code)"]!), "\(code)") }
        #expect(page.body.contains("/certificates/131016/\(number)/print?letter=member"))

        let own = try clerk.get("/certificates/131016/\(number)/print?letter=member")
        let theirs = try #require(LetterCatalog.texts[MemberLetter.languages(for: language)[0]])
        #expect(own.status == 200 && own.body.contains(theirs["title.certificate"]!) && own.body.contains("size: A4"), "\(language)")
        let japanese = try clerk.get("/certificates/131016/\(number)/print?letter=ja")
        #expect(
            japanese.status == 200 && japanese.body.contains(ja["title.certificate"]!)
                && !japanese.body.contains(theirs["title.certificate"]!))
    }
}
