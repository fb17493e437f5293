import Foundation
import KakuninCore
import KakuninRuntime

/// The printable certificate (資格確認書) handed over at the counter: one self-contained HTML
/// page (no scripts, no external files) sized for a card or a postcard by its print CSS, with
/// the printed fields of SPEC.md 5.1 and dates in era form.
public enum CertificatePrint {
    /// [2026-12] The sheet (`certificate_format`): card 85.6 × 54 mm, hagaki 148 × 100 mm, a4.
    public typealias Paper = CertificateFormat

    static func sexName(_ code: String) -> String {
        switch code {
        case "1": return "男"
        case "2": return "女"
        default: return "―"
        }
    }

    /// [2026-12] The copay line and the optional entries (SPEC.md 5.1, `PrintedDetails`).
    static func printedRows(_ c: CounterDesk.IssuedCertificate) -> [(String, String)] {
        PrintedDetails.lines(
            copay: c.copay_text, copayEffectiveOn: c.copay_effective_on_era, limit: c.limit_category,
            limitEffectiveOn: c.limit_effective_on_era, longStayOn: c.long_stay_on_era,
            specificDisease: c.specific_disease
        ).map { ($0.label, $0.text) }
    }

    /// Every printed field, label and text; `wide` fields take the sheet's whole width, the
    /// others share a line two by two.
    static func fields(_ c: CounterDesk.IssuedCertificate) -> [(label: String, text: String, wide: Bool)] {
        let name = [c.family_name, c.given_name].compactMap { $0 }.joined(separator: "\u{3000}")
        let symbolNumber = "記号 \(c.symbol ?? "―")\u{3000}番号 \(c.number)\u{3000}枝番 \(c.branch ?? "―")"
        let base: [(String, String, Bool)] = [
            ("氏名", name, true),
            ("生年月日", c.birth_date_era, false),
            ("性別", sexName(c.sex), false),
            ("被保険者等記号・番号・枝番", symbolNumber, true),
            ("保険者番号", c.insurer_number, false),
            ("有効期限", c.valid_to_era, false),
            ("保険者名称", c.insurer_name ?? "", true),
            ("交付年月日", c.issued_on_era, false),
        ]
        // The copay line and the 限度区分 carry a 発効期日: a line of their own.
        return base + printedRows(c).map { ($0.0, $0.1, $0.1.contains("発効期日")) }
    }

    /// One sheet of `paper`: a frame the sheet's size (less a margin) holding every field, the
    /// 証番号 at its foot. Nothing is hidden or cut: a field that did not fit would print on a
    /// second sheet, which the PDF test counts.
    /// `back`: the member page, for the console's print view: a bar on screen with a 印刷 button
    /// and the way back, neither printed.
    public static func html(_ c: CounterDesk.IssuedCertificate, paper: Paper = .card, back: String? = nil) -> String {
        let e = HTML.escape
        let kana = [c.family_name_kana, c.given_name_kana].compactMap { $0 }.joined(separator: "\u{3000}")
        let cells = fields(c).map {
            "<div class=\"f\($0.wide ? " wide" : "")\"><span class=\"l\">\(e($0.label))</span><span class=\"v\">\(e($0.text))</span></div>"
        }.joined(separator: "\n")
        let (w, h) = paper.size
        return """
            <!DOCTYPE html>
            <html lang="ja">
            <head>
            <meta charset="utf-8">
            <title>\(e(c.title)) \(e(c.insurer_number))-\(c.certificate_number)</title>
            <style>
            @page { size: \(w) \(h); margin: 0; }
            html, body { margin: 0; padding: 0; }
            body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", sans-serif; font-size: \(paper.fontSize); line-height: 1.2; color: #000; }
            .certificate { box-sizing: border-box; width: \(w); height: \(h); padding: 2.5mm; break-inside: avoid; }
            .frame { box-sizing: border-box; height: 100%; border: 0.3mm solid #000; border-radius: 1.5mm; padding: 1mm 2mm; display: flex; flex-direction: column; }
            h1 { font-size: 1.5em; letter-spacing: 0.2em; text-align: center; margin: 0; }
            .kana { font-size: 0.8em; margin: 0; }
            .fields { display: grid; grid-template-columns: 1fr 1fr; column-gap: 2mm; }
            .f { display: flex; gap: 1.2mm; }
            .f.wide { grid-column: 1 / -1; }
            .l { white-space: nowrap; }
            .v { font-weight: bold; overflow-wrap: anywhere; }
            .number { text-align: right; font-size: 0.8em; margin: auto 0 0; }
            @media screen { body { background: #eee; padding: 2em; } .certificate { background: #fff; margin: auto; } }\(back == nil ? "" : screenBarStyle)
            </style>
            </head>
            <body>
            \(back.map(screenBar) ?? "")
            <div class="certificate" data-format="\(paper.rawValue)"><div class="frame">
            <h1 data-variant="\(e(c.variant))">\(e(c.title))</h1>
            <p class="kana">\(e(kana))</p>
            <div class="fields">
            \(cells)
            </div>
            <p class="number">証番号 \(c.certificate_number)</p>
            </div></div>
            </body>
            </html>

            """
    }

    static let screenBarStyle = """

        .screen-bar { font-size: 16px; margin: 0 auto 1.5em; max-width: 40em; display: flex; flex-wrap: wrap; gap: .6em 1.2em; align-items: center; }
        .screen-bar button { font: inherit; padding: .4em 1.2em; }
        @media print { .screen-bar { display: none; } }
        """

    /// The console's bar above the sheet (screen only): print it, or go back to the member.
    static func screenBar(_ back: String) -> String {
        """
        <div class="screen-bar" id="print-bar"><button type="button" id="print-button" onclick="print()">印刷</button>\
        <span>ブラウザの印刷（Ctrl+P）で印刷できます。</span><a href="\(HTML.escape(back))" id="print-back">加入者の画面へ戻る</a></div>
        """
    }
}
