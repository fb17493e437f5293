import Foundation
import KakuninCore
import KakuninRuntime

/// The printable certificate (資格確認書) handed over at the counter: one self-contained HTML
/// page (no scripts, no external files) sized for a card or a postcard by its print CSS, with
/// the printed fields of SPEC.md 5.1 and dates in era form.
public enum CertificatePrint {
    public enum Paper: String, Sendable, CaseIterable {
        /// 91 × 55 mm, the size of the former insurance card.
        case card
        /// 100 × 148 mm (はがき).
        case postcard

        var pageSize: String { self == .card ? "91mm 55mm" : "100mm 148mm" }
        var fontSize: String { self == .card ? "7.2pt" : "10.5pt" }
    }

    static func sexName(_ code: String) -> String {
        switch code {
        case "1": return "男"
        case "2": return "女"
        default: return "―"
        }
    }

    /// [2026-12] The copay line and the optional entries (SPEC.md 5.1, `PrintedDetails`).
    static func printedRows(_ c: CounterDesk.IssuedCertificate) -> [(String, String)] {
        PrintedDetails.lines(copay: c.copay_text, copayEffectiveOn: c.copay_effective_on_era, limit: c.limit_category,
                             limitEffectiveOn: c.limit_effective_on_era, longStayOn: c.long_stay_on_era,
                             specificDisease: c.specific_disease).map { ($0.label, $0.text) }
    }

    public static func html(_ c: CounterDesk.IssuedCertificate, paper: Paper = .card) -> String {
        let e = HTML.escape
        let name = [c.family_name, c.given_name].compactMap { $0 }.joined(separator: "\u{3000}")
        let kana = [c.family_name_kana, c.given_name_kana].compactMap { $0 }.joined(separator: "\u{3000}")
        let symbolNumber = "記号 \(c.symbol ?? "―")\u{3000}番号 \(c.number)\u{3000}枝番 \(c.branch ?? "―")"
        var rows: [(String, String)] = [
            ("氏名", name),
            ("生年月日", c.birth_date_era),
            ("性別", sexName(c.sex)),
            ("被保険者等記号・番号・枝番", symbolNumber),
            ("保険者番号", c.insurer_number),
            ("保険者名称", c.insurer_name ?? ""),
            ("有効期限", c.valid_to_era),
            ("交付年月日", c.issued_on_era),
        ]
        rows += printedRows(c)
        let table = rows.map { "<tr><th scope=\"row\">\(e($0.0))</th><td>\(e($0.1))</td></tr>" }.joined(separator: "\n")
        return """
            <!DOCTYPE html>
            <html lang="ja">
            <head>
            <meta charset="utf-8">
            <title>\(e(c.title)) \(e(c.insurer_number))-\(c.certificate_number)</title>
            <style>
            @page { size: \(paper.pageSize); margin: 3mm; }
            html, body { margin: 0; padding: 0; }
            body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", sans-serif; font-size: \(paper.fontSize); color: #000; }
            .certificate { box-sizing: border-box; width: calc(\(paper.pageSize.split(separator: " ")[0]) - 6mm); min-height: calc(\(paper.pageSize.split(separator: " ")[1]) - 6mm);
                           border: 0.3mm solid #000; border-radius: 2mm; padding: 2mm 3mm; }
            h1 { font-size: 1.6em; letter-spacing: 0.4em; text-align: center; margin: 0 0 1mm; }
            .kana { font-size: 0.8em; }
            table { border-collapse: collapse; width: 100%; }
            th { text-align: left; font-weight: normal; white-space: nowrap; padding: 0.2mm 2mm 0.2mm 0; vertical-align: top; }
            td { font-weight: bold; padding: 0.2mm 0; }
            .number { text-align: right; font-size: 0.75em; margin-top: 1mm; }
            @media screen { body { background: #eee; padding: 2em; } .certificate { background: #fff; margin: auto; transform: scale(2); transform-origin: top center; } }
            </style>
            </head>
            <body>
            <div class="certificate">
            <h1 data-variant="\(e(c.variant))">\(e(c.title))</h1>
            <p class="kana">\(e(kana))</p>
            <table>
            \(table)
            </table>
            <p class="number">証番号 \(c.certificate_number)</p>
            </div>
            </body>
            </html>

            """
    }
}
