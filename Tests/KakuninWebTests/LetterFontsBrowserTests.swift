import Foundation
import Testing
import KakuninBatch
import KakuninCore
import KakuninTesting

/// Issue 33 in a real browser: one page of letters per language (a certificate, an
/// eligibility notice and an application guidance, a Japanese name and a Latin one), rendered
/// by headless Chromium with Debian's Noto fonts: no tofu, every character in the named fonts.
@Suite("Member letters in Chromium: fonts")
struct LetterFontsBrowserTests {
    static func letters(_ language: String) -> [MemberLetter] {
        let insurer = InsurerContact(name: "千代田区国民健康保険", phone: "03-3264-2111", hours: "平日 8:30–17:15", languages: ["ja", "en", "zh", "pt"])
        let cases: [(String, [String], String, String?, String?)] = [
            ("issue", ["NO_CARD", "REGISTRATION_CANCELLED"], "髙橋 﨑子", "2026-12-01", "2027-07-31"),
            ("eligibility_notice", ["MYNA_USABLE"], "NGUYEN VAN AN", nil, nil),
            ("apply_notice", ["CARD_RENEWING"], "SHRESTHA RAM", nil, nil),
        ]
        return cases.map { kind, reasons, name, from, to in
            MemberLetter(LetterFacts(kind: kind, reasons: reasons, name: name, validFrom: from.flatMap { LocalDate($0) },
                                     validTo: to.flatMap { LocalDate($0) }, preferredLanguage: language, insurer: insurer))
        }
    }

    @Test("every language's letter (and the Japanese + English one) has no tofu; a screenshot of each")
    func noTofu() throws {
        let python = try #require(ConsoleBrowserTests.python(), "no python3 with selenium: apt-get install python3-selenium chromium chromium-driver (.ci/run does)")
        let dir = try temporaryDirectory()
        var files: [String] = []
        for language in LetterCatalog.languages + ["fr"] {
            let letters = Self.letters(language)
            let name = "letters_\(letters[0].language.replacingOccurrences(of: "+", with: "_")).html"
            let html = LetterHTML.head(language: letters[0].language, title: name)
                + letters.enumerated().map { LetterHTML.page($1, reference: "M-\($0) · test") }.joined() + LetterHTML.tail
            try html.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            files.append(dir.appendingPathComponent(name).path)
        }
        let shots = ProcessInfo.processInfo.environment["KAKUNIN_SCREENSHOTS"] ?? dir.path
        let config: [String: Any] = ["files": files, "shots": shots]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, TestDatabase.repositoryRoot.appendingPathComponent("Tests/Browser/letter_fonts.py").path,
                       String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("ok   ") }.count == files.count, "\(text)")
    }
}
