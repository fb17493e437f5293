import Foundation
import KakuninCore

/// The auditors' report as one self-contained HTML file (inline style, no script, no external
/// asset), in Japanese, printable on A4: a summary first (counts, checks, changes since the
/// previous run, postage), then one section per table, each starting on a new page in print,
/// every printed page headed with the insurer, the run and the page number.
extension AuditorReport {
    public func renderHTML(link: ((Drill) -> String)? = nil, trends: String = "") -> String {
        var h = htmlHead()
        h += summarySection(link)
        h += trends
        h += runSection()
        h += checksSection()
        h += countsSection(link)
        h += heldSection(link)
        h += postageSection()
        h += changesSection(link)
        h += "</body></html>\n"
        return h
    }

    /// A count, a link to the members behind it when the page links counts.
    private func count(_ n: Int, _ drill: Drill, _ link: ((Drill) -> String)?) -> String {
        guard let link, n > 0 else { return String(n) }
        return "<a href=\"\(Self.escape(link(drill)))\">\(n)</a>"
    }

    static func outcomeName(_ raw: String) -> String {
        Outcome(rawValue: raw).map { "\($0.japanese) <code>\(raw)</code>" } ?? escape(raw)
    }

    static func reasonName(_ raw: String) -> String {
        guard let r = ReasonCode(rawValue: raw) else { return escape(raw) }
        return "<code>\(raw)</code> \(escape(r.japanese))"
    }

    static func schemeName(_ raw: String) -> String {
        Scheme(rawValue: raw).map { escape($0.japanese) } ?? "<code>\(escape(raw))</code>"
    }

    private var title: String { "実行 \(runID)・保険者 \(insurer)・基準日 \(JapaneseEra.short(asOf))" }

    private func htmlHead() -> String {
        let e = Self.escape
        return """
            <!DOCTYPE html>
            <html lang="ja"><head><meta charset="utf-8">
            <title>実行報告書 \(e(title))</title>
            <style>
            @page { size: A4; margin: 18mm 15mm 15mm;
              @top-left { content: "資格確認書 実行報告書　\(e(title))"; font-size: 8.5pt; color: #444; }
              @top-right { content: counter(page) " / " counter(pages) " ページ"; font-size: 8.5pt; color: #444; } }
            body { font-family: "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", sans-serif; font-size: 10.5pt; color: #111; max-width: 180mm; margin: auto; }
            h1 { font-size: 16pt; border-bottom: 2px solid #333; } h2 { font-size: 12.5pt; margin-top: 1.4em; border-left: 4px solid #555; padding-left: 6px; }
            table { border-collapse: collapse; width: 100%; margin: .4em 0; page-break-inside: auto; } tr { page-break-inside: avoid; }
            th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; } td.n, th.n { text-align: right; }
            th { background: #eee; } code, .code { font-family: monospace; font-size: 9pt; color: #333; }
            .pass { color: #060; font-weight: bold; } .fail { color: #b00; font-weight: bold; } .warn { color: #a60; }
            .pass, .fail, td.n, th.n, th, td.scheme { white-space: nowrap; }
            .trend-table thead th.n { white-space: normal; }
            .summary { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4px 10px; }
            .summary div { border: 1px solid #999; padding: 4px 8px; } .summary b { display: block; font-size: 14pt; }
            .print-head { display: none; }
            @media print { section.page { page-break-before: always; } a { color: inherit; text-decoration: none; } .screen-only { display: none; }
              details.trend-table > summary { display: none; } details.trend-table::details-content { content-visibility: visible; } }
            </style></head><body>
            <h1>資格確認書 実行報告書（実行 \(runID)）</h1>

            """
    }

    private func summarySection(_ link: ((Drill) -> String)?) -> String {
        let failed = base.checks.filter { !$0.pass }.count
        var h = "<section id=\"summary\"><h2>概要</h2><div class=\"summary\">\n"
        h += "<div>保険者<b>\(Self.escape(insurer))</b>\(Self.escape(base.insurerName ?? ""))</div>\n"
        h += "<div>基準日<b>\(Self.escape(JapaneseEra.short(asOf)))</b>\(Self.escape(asOf))</div>\n"
        h += "<div>判定数<b>\(base.decisions)</b>人</div>\n"
        h +=
            "<div>照合<b class=\"\(failed == 0 ? "pass" : "fail")\">\(failed == 0 ? "すべて一致" : "不一致 \(failed) 件")</b>\(base.checks.count) 項目</div>\n"
        h += "<div>資格確認書<b>\(base.certificates)</b>枚</div>\n"
        h += "<div>保留<b>\(base.held)</b>人</div>\n"
        h += "<div>郵便料金<b>\(StaffNumber.grouped(base.postageTotal))</b>円（封筒 \(base.envelopes)）</div>\n"
        h +=
            "<div>前回からの変化<b>\(previousRunID == nil ? "―" : String(changedCount))</b>\(previousRunID.map { "実行 \($0) と比べて" } ?? "前回の実行なし")</div>\n"
        h += "</div>\n"
        if base.waiting > 0 {
            h += "<p class=\"warn\">送付ファイルに載せられず職員の対応を待つ書類：\(base.waiting) 件（例外ファイル <code>exceptions.csv</code>）。窓口交付または記録の訂正が必要です。</p>\n"
        }
        if base.insurerName == nil {
            h += "<p class=\"warn\">注意：保険者名称（<code>insurer_name</code>）がパラメータに設定されていません。</p>\n"
        }
        return h + "</section>\n"
    }

    private func runSection() -> String {
        let e = Self.escape
        var h = """
            <section class="page" id="run"><h2>実行の記録</h2><table>
            <tr><th>保険者</th><td>\(e(insurer)) \(e(base.insurerName ?? ""))</td></tr>
            <tr><th>基準日</th><td>\(e(JapaneseEra.withWestern(asOf)))</td></tr>
            <tr><th>ジョブ・状態</th><td>\(e(StaffWords.job(job)))（<code>\(e(job))</code>）・\(e(StaffLabel.of(RunStatus.self, status)))</td></tr>
            <tr><th>処理時間（日本時間）</th><td>\(e(JapaneseEra.time(startedJST, label: false))) – \(e(JapaneseEra.time(finishedJST, label: false)))\(seconds.map { String(format: "（%.1f 秒）", $0) } ?? "")</td></tr>
            <tr><th>プログラム版</th><td><code>\(e(codeVersion))</code></td></tr>
            <tr><th>パラメータ</th><td>\(e(parameterSourceJapanese(parametersSource)))<br>ハッシュ値 <code>\(e(parametersSHA256))</code></td></tr>
            </table>

            """
        if !parameters.isEmpty {
            h += "<h2>パラメータ</h2><table class=\"parameters\"><tr><th>名前</th><th>値</th><th>値の意味</th></tr>\n"
            for (k, v) in parameters where !v.isEmpty {
                let note =
                    InsurerParameters.changedDefaults[k].map { "<br><small>\(e($0.note))<code>\(e($0.previous))</code></small>" } ?? ""
                h +=
                    "<tr><td><code>\(e(k))</code></td><td><code>\(e(v))</code>\(note)</td><td>\(e(StaffWords.parameterValue(k, v) ?? ""))</td></tr>\n"
            }
            h += "</table>\n"
        }
        return h + "</section>\n"
    }

    private func checksSection() -> String {
        var h = "<section class=\"page\" id=\"checks\"><h2>照合</h2><table><tr><th>結果</th><th>確認項目</th><th>内容</th></tr>\n"
        for c in base.checks {
            h +=
                "<tr><td class=\"\(c.pass ? "pass" : "fail")\">\(c.japaneseResult)</td><td>\(Self.escape(c.japanese))</td><td>\(Self.escape(c.japaneseDetail))</td></tr>\n"
        }
        return h + "</table></section>\n"
    }

    private func countsSection(_ link: ((Drill) -> String)?) -> String {
        var h = "<section class=\"page\" id=\"counts\"><h2>結果別件数</h2><table><tr><th>結果</th><th class=\"n\">件数</th></tr>\n"
        for (o, c) in base.byOutcome {
            h += "<tr><td>\(Self.outcomeName(o))</td><td class=\"n\">\(count(c, .outcome(o), link))</td></tr>\n"
        }
        h += "<tr><th>合計</th><th class=\"n\">\(base.decisions)</th></tr></table>\n"
        h += "<h2>結果 × 理由 × 制度</h2><table><tr><th>結果</th><th>理由</th><th>制度</th><th class=\"n\">件数</th></tr>\n"
        for r in base.byOutcomeReasonScheme {
            let drill = Drill.outcomeReasonScheme(outcome: r.outcome, reason: r.reason, scheme: r.scheme)
            h +=
                "<tr><td>\(Self.outcomeName(r.outcome))</td><td>\(Self.reasonName(r.reason))</td><td class=\"scheme\">\(Self.schemeName(r.scheme))</td><td class=\"n\">\(count(r.count, drill, link))</td></tr>\n"
        }
        return h + "</table></section>\n"
    }

    private func heldSection(_ link: ((Drill) -> String)?) -> String {
        var h = "<section class=\"page\" id=\"held\"><h2>保留（理由別）</h2>\n"
        if heldByCode.isEmpty { return h + "<p>保留はありません。</p></section>\n" }
        h += "<table><tr><th>理由</th><th class=\"n\">件数</th></tr>\n"
        for (c, k) in heldByCode {
            h += "<tr><td>\(Self.reasonName(c))</td><td class=\"n\">\(count(k, .held(reason: c), link))</td></tr>\n"
        }
        return h + "</table></section>\n"
    }

    private func postageSection() -> String {
        var h =
            "<section class=\"page\" id=\"postage\"><h2>郵便料金（郵便種別）</h2><table><tr><th>郵便種別</th><th class=\"n\">封筒数</th><th class=\"n\">料金（円）</th></tr>\n"
        for p in base.postage {
            let name =
                InsurerParameters.MailClass(rawValue: p.mailClass).map { "\($0.japanese) <code>\(Self.escape(p.mailClass))</code>" }
                ?? "<code>\(Self.escape(p.mailClass))</code>"
            h += "<tr><td>\(name)</td><td class=\"n\">\(p.envelopes)</td><td class=\"n\">\(StaffNumber.grouped(p.yen))</td></tr>\n"
        }
        return h
            + "<tr><th>合計</th><th class=\"n\">\(base.envelopes)</th><th class=\"n\">\(StaffNumber.grouped(base.postageTotal))</th></tr></table></section>\n"
    }

    private func changesSection(_ link: ((Drill) -> String)?) -> String {
        var h = "<section class=\"page\" id=\"changes\"><h2>前回からの変化</h2>\n"
        guard let previousRunID else { return h + "<p>同じ保険者・ジョブの前回の実行はありません。</p></section>\n" }
        h +=
            "<p>前回：実行 \(previousRunID)（基準日 \(Self.escape(JapaneseEra.withWestern(previousAsOf)))）。変化した方 \(changedCount) 人（新規 \(newCount)、対象外 \(goneCount)）。"
        h += "加入者IDは表計算用の版（<code>CSV</code>・<code>JSON</code>）に記載。</p>\n"
        h += "<table><tr><th>前回</th><th>今回</th><th class=\"n\">件数</th></tr>\n"
        for c in matrix {
            let from = c.from == "(new)" ? "（新規）" : Self.outcomeName(c.from)
            let to = c.to == "(gone)" ? "（対象外）" : Self.outcomeName(c.to)
            h += "<tr><td>\(from)</td><td>\(to)</td><td class=\"n\">\(count(c.count, .change(from: c.from, to: c.to), link))</td></tr>\n"
        }
        return h + "</table></section>\n"
    }
}
