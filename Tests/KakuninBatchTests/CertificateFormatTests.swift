import Foundation
import KakuninBatch
import KakuninCore
import KakuninTesting
import Testing

/// Issue 31 item 3 (SPEC.md 5.1 [2026-12]): `certificate_format` card, hagaki or a4, stated in
/// the vendor file and the manifest; the counter's print view prints one sheet of it.
@Suite("Certificate formats: one sheet per print, stated in the vendor files", .serialized)
struct CertificateFormatTests {
    /// The longest fields the limits allow: a name of max_chars.name (30 with the space), the
    /// feed's longest symbol, number and readings, a 60-character insurer name; aged 72 (the
    /// copay line), every optional entry, under 特別療養 (the variant's longer title).
    static let longest: [String: String] = [
        "birth_date": "1954-01-15", "copay_ratio": "20", "copay_effective_on": "2026-08-01",
        "family_name": String(repeating: "髙", count: 15), "given_name": String(repeating: "﨑", count: 14),
        "family_name_kana": String(repeating: "ヤ", count: 50), "given_name_kana": String(repeating: "タ", count: 50),
        "symbol": String(repeating: "千", count: 20), "number": String(repeating: "9", count: 20), "branch": "99",
        "limit_category": "区オ（境）区オ（境）", "limit_effective_on": "2026-08-01", "long_stay_on": "2026-03-01",
        "specific_disease": "C", "special_care": "true",
    ]
    static let insurerName = String(repeating: "国", count: 60)

    /// Pages of a PDF Chromium wrote (its page objects).
    static func pages(_ pdf: Data) -> Int {
        let text = String(decoding: pdf, as: UTF8.self)
        return text.matches(of: /\/Type\s*\/Page(?![s])/).count
    }

    /// The page printed to PDF by headless Chromium, as a clerk's browser prints it.
    static func printToPDF(_ html: URL) throws -> Data {
        let pdf = html.deletingPathExtension().appendingPathExtension("pdf")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        p.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            "--user-data-dir=\(html.deletingLastPathComponent().path)/chromium",
            "--print-to-pdf=\(pdf.path)", html.path,
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return try Data(contentsOf: pdf)
    }

    @Test(
        "the counter print of the longest member the limits allow, aged 72, every optional entry, 特別療養: exactly one sheet of each format in Chromium's PDF",
        arguments: CertificateFormat.allCases)
    func oneSheet(format: CertificateFormat) throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        let m = try FeedFiles.write(
            dir, "m.csv", [FeedFiles.fullMemberHeader, FeedFiles.member("L", Self.longest, columns: FeedFiles.allMemberColumns)])
        #expect(try runKakunin(["import", "members", m.path, "--report-dir", dir.path], database: tdb).status == 0)
        #expect(
            try setParameters(tdb, from: "2026-04-01", ["insurer_name = \(Self.insurerName)", "certificate_format = \(format.rawValue)"])
                .status == 0)
        let html = dir.appendingPathComponent("l.html")
        // No --paper: the insurer's certificate_format.
        let r = try runKakunin(
            ["counter", "issue", "--insurer", "131016", "--member", "L", "--as-of", "2026-11-21", "--print", html.path], database: tdb)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let page = try String(contentsOf: html, encoding: .utf8)
        #expect(
            page.contains("data-format=\"\(format.rawValue)\"")
                && page.contains("@page { size: \(format.size.width) \(format.size.height); margin: 0; }"))
        // Every printed field is on the page, none hidden.
        for text in [
            "資格確認書（特別療養）", Self.longest["family_name"]!, Self.longest["given_name"]!, Self.longest["family_name_kana"]!,
            "記号 \(Self.longest["symbol"]!)", "番号 \(Self.longest["number"]!)", "枝番 99", Self.insurerName, "131016", "昭和29年1月15日",
            "有効期限", "交付年月日", "2割（発効期日 令和8年8月1日）", "区オ（境）区オ（境）（発効期日 令和8年8月1日）", "令和8年3月1日", ">C<", "証番号 1",
        ] {
            #expect(page.contains(text), "\(text)")
        }
        #expect(!page.contains("overflow: hidden") && !page.contains("display: none"))
        #expect(Self.pages(try Self.printToPDF(html)) == 1, "\(format.rawValue): one sheet")
    }

    @Test("the page count catches a print that spills onto a second sheet (40 lines on a card)")
    func pageCountCatchesSpill() throws {
        let dir = try temporaryDirectory()
        let rows = (0..<40).map { "<p>行 \($0)</p>" }.joined()
        let html = dir.appendingPathComponent("spill.html")
        try
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>@page { size: 85.6mm 54mm; margin: 0; }</style></head><body>\(rows)</body></html>"
            .write(to: html, atomically: true, encoding: .utf8)
        #expect(Self.pages(try Self.printToPDF(html)) > 1)
    }

    @Test("certificate_format is stated in certificates.csv (last column) and the manifest; a bad value is refused with the choices")
    func statedInFiles() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try MailFilesTests().household(tdb, dir)
        let r = try MailFilesTests().run(tdb, dir, params: try MailFilesTests().params(dir, ["certificate_format = hagaki"]))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let out = MailFilesTests().files(dir)
        let certs = MailFilesTests().csvRecords(try String(contentsOf: out.appendingPathComponent("certificates.csv"), encoding: .utf8))
        #expect(!certs.isEmpty && certs.allSatisfy { $0["certificate_format"] == "hagaki" })
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("manifest.json"))) as! [String: Any]
        #expect(manifest["certificate_format"] as? String == "hagaki" && manifest["certificate_size"] as? String == "148x100mm")
        let bad = try setParameters(tdb, from: "2026-04-01", ["insurer_name = x", "certificate_format = B5"])
        #expect(bad.status != 0 && bad.stderr.contains("card (85.6 × 54 mm), hagaki (148 × 100 mm) or a4"), "\(bad.stderr)")
    }
}
