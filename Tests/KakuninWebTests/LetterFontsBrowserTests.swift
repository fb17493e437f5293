import Foundation
import KakuninCore
import KakuninTesting
import Testing

@testable import KakuninBatch

/// Issue 33 in a real browser: one page of letters per language (a certificate, an
/// eligibility notice and an application guidance, a Japanese name and a Latin one), rendered
/// by headless Chromium with Debian's Noto fonts: no tofu, every character in the named fonts.
@Suite("Member letters in Chromium: fonts")
struct LetterFontsBrowserTests {
    static let insurer = InsurerContact(
        name: "千代田区国民健康保険", phone: "03-3264-2111", hours: "平日 8:30–17:15", languages: ["ja", "en", "zh", "pt"])
    /// A certificate, an eligibility notice and an application guidance; a Japanese name and Latin ones.
    static let cases: [(kind: String, reasons: [String], name: String, from: String?, to: String?)] = [
        ("issue", ["NO_CARD", "REGISTRATION_CANCELLED"], "髙橋 﨑子", "2026-12-01", "2027-07-31"),
        ("eligibility_notice", ["MYNA_USABLE"], "NGUYEN VAN AN", nil, nil),
        ("apply_notice", ["CARD_RENEWING"], "SHRESTHA RAM", nil, nil),
    ]

    @Test(
        "every language's letter (and the Japanese + English one), as `kakunin letters html` writes it from inserts.csv and letter_paragraphs.csv: no tofu, one A4 page per letter; a screenshot of each"
    )
    func noTofu() throws {
        let python = try #require(
            ConsoleBrowserTests.python(),
            "no python3 with selenium: apt-get install python3-selenium chromium chromium-driver (.ci/run does)")
        let dir = try temporaryDirectory()
        let run = dir.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        // The run's letters' thread writes the two files, the command's code the pages.
        let writer = try InsertWriter(dir: run, contact: Self.insurer)
        for (i, language) in (LetterCatalog.languages + ["fr"]).enumerated() {
            for (k, c) in Self.cases.enumerated() {
                try writer.write(
                    PendingLetter(
                        key: LetterKey(
                            kind: c.kind, reasons: Array(c.reasons.joined(separator: ";").utf8),
                            validFrom: c.from.flatMap { LocalDate($0) }, validTo: c.to.flatMap { LocalDate($0) },
                            language: Array(language.utf8)),
                        name: Array(c.name.utf8), envelope: Array("M-\(i)-\(k)".utf8), member: Array("M\(i)-\(k)".utf8),
                        number: c.from == nil ? nil : Int64(1000 + i)))
            }
        }
        _ = try writer.finish()
        let written = try LetterPages.write(runID: 1, from: run, language: nil, to: dir)
        #expect(written.count == LetterCatalog.languages.count + 1 && written.allSatisfy { $0.pages == Self.cases.count })
        let files = written.map { dir.appendingPathComponent($0.name).path }
        let shots = ProcessInfo.processInfo.environment["KAKUNIN_SCREENSHOTS"] ?? dir.path
        let config: [String: Any] = ["files": files, "shots": shots]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            python, TestDatabase.repositoryRoot.appendingPathComponent("Tests/Browser/letter_fonts.py").path,
            String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self),
        ]
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
