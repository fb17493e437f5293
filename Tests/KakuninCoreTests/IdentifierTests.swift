import Testing

@testable import KakuninCore

/// Issue 30 item 2: the identifiers that travel everywhere are values, made once where text
/// enters, by the feeds' own rule for their column.
@Suite("Typed identifiers")
struct IdentifierTests {
    @Test(
        "an insurer number is 6 or 8 ASCII digits, nothing else",
        arguments: [
            ("131016", true), ("39131015", true), ("1310160", false), ("13101", false), ("", false), ("13101a", false),
            ("１３１０１６", false), (" 131016", false), ("131016\u{0}", false), ("123456789", false),
        ])
    func insurerNumbers(text: String, valid: Bool) {
        #expect((InsurerNumber(text) != nil) == valid, "\(text.debugDescription)")
        #expect((InsurerNumber.problem(text) == nil) == valid)
        if valid { #expect(InsurerNumber(text)?.description == text) }
    }

    @Test(
        "a member id is ASCII letters, digits, - and _, 1 to 20 of them",
        arguments: [
            ("M000123", true), ("a-b_C9", true), (String(repeating: "9", count: 20), true), (String(repeating: "9", count: 21), false),
            ("", false), ("M 1", false), ("M/1", false), ("加入者", false), ("M1\n", false), ("M1;DROP", false),
        ])
    func memberIDs(text: String, valid: Bool) {
        #expect((MemberID(text) != nil) == valid, "\(text.debugDescription)")
        #expect((MemberID.problem(text) == nil) == valid)
    }

    @Test("the identifiers' rules are the feeds' rules for those columns, in every feed")
    func sameRuleAsTheFeeds() throws {
        for name in FeedFormat.Name.allCases {
            let format = FeedFormat.named(name)
            for column in format.columns where column.name == "insurer_number" {
                #expect(column.kind == InsurerNumberRule.fieldKind, "\(name)")
            }
            for column in format.columns where column.name == "member_id" { #expect(column.kind == MemberIDRule.fieldKind, "\(name)") }
        }
        #expect(InsurerNumber.problem("1234") == "insurer number must be 6 or 8 digits")
        #expect(MemberID.problem("") == "required value is missing")
        #expect([InsurerNumber("39131015")!, InsurerNumber("131016")!].sorted().map(\.text) == ["131016", "39131015"])
    }
}
