import Foundation
import KakuninTesting
import Testing

/// Issue 32's printed auditors' report: headless Chromium prints the report (as the console shows
/// it to an auditor, and the run's report.html from disk) to PDF, and poppler reads it back:
/// A4, every page headed with the insurer, the run and `n / N ページ` at its top, each section
/// on a new page, the header drawn in ink (not only present as text).
@Suite("The auditors' report printed by Chromium")
struct ReportPrintBrowserTests {
    static let sections = ["実行の記録", "照合", "結果別件数", "保留（理由別）", "郵便料金（郵便種別）", "前回からの変化"]

    /// Runs a poppler tool (pdftotext, pdfinfo, pdftoppm); its standard output.
    static func poppler(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FixtureError("\(tool) \(args.joined(separator: " ")) exited \(p.terminationStatus)") }
        return text
    }

    static var hasPoppler: Bool { (try? poppler("pdftotext", ["-v"])) != nil }

    /// The text of each page, its lines with the blank ones dropped.
    static func pages(_ pdf: URL) throws -> [[String]] {
        var pages = try poppler("pdftotext", ["-layout", "-enc", "UTF-8", pdf.path, "-"]).components(separatedBy: "\u{0C}")
        if pages.last?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty == true { pages.removeLast() }
        return pages.map { $0.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    /// The share of dark pixels in the band `from`–`to` (fractions of the height) of page `page`,
    /// rendered grey by pdftoppm (PGM: a short text head, then one byte per pixel).
    static func ink(_ pdf: URL, page: Int, from: Double, to: Double, dir: URL) throws -> Double {
        let root = dir.appendingPathComponent("ink-\(page)").path
        _ = try poppler("pdftoppm", ["-gray", "-r", "50", "-f", String(page), "-l", String(page), "-singlefile", pdf.path, root])
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + ".pgm")))
        var fields: [String] = []
        var i = 0
        var current = ""
        while fields.count < 4 && i < data.count {
            let c = data[i]
            i += 1
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                if !current.isEmpty {
                    fields.append(current)
                    current = ""
                }
            } else {
                current.append(Character(UnicodeScalar(c)))
            }
        }
        guard fields.count == 4, fields[0] == "P5", let w = Int(fields[1]), let h = Int(fields[2]) else {
            throw FixtureError("not a PGM: \(fields)")
        }
        let pixels = data[i...]
        let rows = Int(Double(h) * from)..<Int(Double(h) * to)
        let dark = rows.reduce(0) { n, y in n + pixels.dropFirst(y * w).prefix(w).filter { $0 < 160 }.count }
        return Double(dark) / Double(rows.count * w)
    }

    /// Checks one printed report: A4, the header and `n / N ページ` on the first line of every
    /// page, each section starting a page, the header in ink on the first and last page.
    static func checkPrinted(_ pdf: URL, run: Int, insurer: String, dir: URL, shots: String, name: String) throws {
        let info = try poppler("pdfinfo", [pdf.path])
        #expect(info.contains("(A4)"), "\(name): not A4\n\(info)")
        let count = Int(info.split(separator: "\n").first { $0.hasPrefix("Pages:") }?.split(separator: " ").last ?? "") ?? 0
        let pages = try pages(pdf)
        #expect(pages.count == count && count >= 1 + sections.count, "\(name): \(pages.count) pages of text, pdfinfo says \(count)")
        for (i, lines) in pages.enumerated() {
            let top = lines.first ?? ""
            let missing = ["資格確認書 実行報告書", "実行 \(run)", "保険者 \(insurer)", "\(i + 1) / \(count) ページ"].filter { !top.contains($0) }
            #expect(missing.isEmpty, "\(name) page \(i + 1): the top line lacks \(missing): \(top)")
        }
        for section in sections {
            #expect(pages.contains { $0.count > 1 && $0[1].hasPrefix(section) }, "\(name): no page starts with \(section)")
        }
        for page in [1, count] {
            let header = try ink(pdf, page: page, from: 0.01, to: 0.06, dir: dir)
            #expect(header > 0.002, "\(name) page \(page): the header band is blank (\(header))")
            _ = try poppler(
                "pdftoppm",
                ["-png", "-r", "70", "-f", String(page), "-l", String(page), "-singlefile", pdf.path, "\(shots)/\(name)-page\(page)"])
        }
    }

    @Test("the auditors' report prints on A4 with the insurer, run and page n / N at the top of every page")
    func printedHeader() throws {
        let python = try #require(
            ConsoleBrowserTests.python(),
            "no python3 with selenium: apt-get install python3-selenium chromium chromium-driver (.ci/run does)")
        try #require(Self.hasPoppler, "no pdftotext: apt-get install poppler-utils (.ci/run does)")
        let f = try ConsoleFixture()
        let out = f.dir.appendingPathComponent("printed")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let file = f.dir.appendingPathComponent("mail/131016/2026-12-01/nightly/report.html")
        #expect(FileManager.default.fileExists(atPath: file.path), "the run wrote \(file.path)")
        let config: [String: Any] = [
            "base": "http://127.0.0.1:\(f.port)", "user": "audi", "password": ConsoleFixture.passwords["audi"]!,
            "run": 1, "file": file.path, "out": out.path,
        ]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            python, TestDatabase.repositoryRoot.appendingPathComponent("Tests/Browser/report_print.py").path,
            String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self),
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0 && text.contains("ok   printed"), "\(text)")
        let shots = ProcessInfo.processInfo.environment["KAKUNIN_SCREENSHOTS"] ?? out.path
        for name in ["console", "file"] {
            try Self.checkPrinted(
                out.appendingPathComponent("\(name).pdf"), run: 1, insurer: "131016", dir: out, shots: shots, name: "report-\(name)")
        }
        // The console's way back to the run list is for the screen, not the paper.
        let first = try Self.pages(out.appendingPathComponent("console.pdf")).first ?? []
        #expect(
            !first.joined().contains("実行一覧") && !first.joined().contains("件数を選ぶと"), "the console's link bar is printed: \(first.prefix(3))")
        // The run's report.html prints the trends' table open: every number of the night on the
        // paper (the date, the run, six measures), none cut at the right margin.
        // The console folds that table on screen; on paper it is printed too.
        for name in ["file", "console"] {
            let rows = try Self.pages(out.appendingPathComponent("\(name).pdf"))[0].filter { $0.hasPrefix("令和8年12月1日 1 ") }
            #expect(rows.map { $0.split(separator: " ").count } == [8], "\(name): the trends' table row on paper: \(rows)")
        }
        // The scheme column of 結果 × 理由 × 制度 keeps its names whole (it wrapped 国民健康/保険).
        let counts = try Self.pages(out.appendingPathComponent("console.pdf")).first { $0.count > 1 && $0[1].hasPrefix("結果別件数") } ?? []
        #expect(
            counts.contains { $0.contains("国民健康保険") } && !counts.contains { $0.hasSuffix("国民健康") }, "制度 on one line: \(counts.prefix(30))")
        #expect(f.stop().status == 0)
    }
}
