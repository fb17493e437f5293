import Foundation
import KakuninCore
import KakuninRuntime
import KakuninStore

/// An insurer's recent nights at a glance (issue 32): per completed nightly run, the
/// certificates, notices, held members, documents kept out of the vendor files (exceptions),
/// postage and run time; drawn as server-rendered SVG bar charts (no script, printable) with
/// the same numbers in a table beside them for screen readers and for print.
public struct RunTrends: Sendable {
    public struct Night: Sendable, Equatable {
        public let runID: Int
        public let asOf: String
        public let certificates: Int
        public let notices: Int
        public let held: Int
        public let exceptions: Int
        public let postageYen: Int
        public let seconds: Double
    }

    public let insurer: String
    /// Oldest first.
    public let nights: [Night]

    /// The last `limit` completed nightly runs of `insurer` (up to run `upTo` when given: a
    /// run's own report shows the nights before it and itself).
    public static func load(_ db: Connection, insurer: String, limit: Int, upTo: Int? = nil) throws -> RunTrends {
        let rows = try db.query(
            """
            SELECT run_id, as_of::text, coalesce((counts->>'certificates')::int, 0),
                   coalesce((counts->'outcomes'->>'apply_notice')::int, 0) + coalesce((counts->'outcomes'->>'eligibility_notice')::int, 0),
                   coalesce((counts->>'held')::int, 0), coalesce((counts->>'waiting')::int, 0), coalesce((counts->>'postage_yen')::int, 0),
                   coalesce(extract(epoch FROM finished_at - started_at), 0)::text
            FROM run WHERE insurer_number = $1 AND job = 'nightly' AND status = 'completed' AND ($3::bigint IS NULL OR run_id <= $3)
            ORDER BY as_of DESC, run_id DESC LIMIT $2
            """, [insurer, String(limit), upTo.map(String.init)]
        ).typedRows
        let nights = try rows.reversed().map { r in
            Night(
                runID: try r.int(0), asOf: try r.text(1), certificates: try r.int(2), notices: try r.int(3), held: try r.int(4),
                exceptions: try r.int(5), postageYen: try r.int(6), seconds: try r.double(7))
        }
        return RunTrends(insurer: insurer, nights: nights)
    }

    /// One measure of a night, its name and unit.
    struct Measure: Sendable {
        let key: String
        let name: String
        let unit: String
        let value: @Sendable (Night) -> Double
        let format: @Sendable (Double) -> String
    }

    static let measures: [Measure] = [
        Measure(key: "certificates", name: "資格確認書", unit: "枚", value: { Double($0.certificates) }, format: { whole($0) }),
        Measure(key: "notices", name: "通知", unit: "通", value: { Double($0.notices) }, format: { whole($0) }),
        Measure(key: "held", name: "保留", unit: "人", value: { Double($0.held) }, format: { whole($0) }),
        Measure(key: "exceptions", name: "送付ファイル外（例外）", unit: "件", value: { Double($0.exceptions) }, format: { whole($0) }),
        Measure(key: "postage", name: "郵便料金", unit: "円", value: { Double($0.postageYen) }, format: { StaffNumber.grouped(Int($0)) }),
        Measure(key: "seconds", name: "処理時間", unit: "秒", value: { $0.seconds }, format: { String(format: "%.1f", $0) }),
    ]

    static func whole(_ v: Double) -> String { String(Int(v)) }

    /// The charts and the table, as an HTML section (`id` names it on the page).
    /// `tableOpen`: the table shown at once (print), else behind 数値の表.
    public func html(heading: String, tableOpen: Bool = false) -> String {
        let e = HTML.escape
        var h = "<section class=\"trends\" id=\"trends-\(e(insurer))\"><h2>\(e(heading))</h2>\n"
        guard !nights.isEmpty else { return h + "<p>完了した夜間処理はまだありません。</p></section>\n" }
        let first = JapaneseEra.short(nights.first!.asOf)
        let last = JapaneseEra.short(nights.last!.asOf)
        h += "<p>\(nights.count) 回の夜間処理（基準日 \(e(first)) から \(e(last)) まで、左が古い）。数値は下の表にもあります。</p>\n"
        h += "<div class=\"trend-charts\" style=\"display:flex;flex-wrap:wrap;gap:10px\">\n"
        for m in Self.measures { h += chart(m) }
        h += "</div>\n" + table(open: tableOpen) + "</section>\n"
        return h
    }

    /// One bar chart: a bar per night, the largest value and the first and last dates labelled.
    func chart(_ m: Measure) -> String {
        let (width, height, top, bottom) = (300.0, 110.0, 16.0, 18.0)
        let values = nights.map(m.value)
        let highest = values.max() ?? 0
        let peak = max(highest, 1)
        let step = width / Double(values.count)
        let id = "trend-\(HTML.escape(insurer))-\(m.key)"
        var bars = ""
        for (i, v) in values.enumerated() {
            let h = (height - top - bottom) * v / peak
            bars += String(
                format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#0b5cad\"/>", Double(i) * step + step * 0.1,
                height - bottom - h, max(step * 0.8, 0.8), h)
        }
        let latest = m.format(values.last ?? 0)
        return """
            <figure style="margin:0"><svg width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-labelledby="\(id)">
            <title id="\(id)">\(m.name)（夜ごと、最大 \(m.format(highest)) \(m.unit)、最新 \(latest) \(m.unit)）</title>
            <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#fff" stroke="#bbb"/>
            <line x1="0" y1="\(Int(height - bottom))" x2="\(Int(width))" y2="\(Int(height - bottom))" stroke="#888"/>\(bars)
            <text x="4" y="12" font-size="11" fill="#333">\(m.name)（最大 \(m.format(highest)) \(m.unit)）</text>
            <text x="2" y="\(Int(height - 4))" font-size="10" fill="#555">\(HTML.escape(JapaneseEra.short(nights.first!.asOf)))</text>
            <text x="\(Int(width) - 2)" y="\(Int(height - 4))" font-size="10" fill="#555" text-anchor="end">\(HTML.escape(JapaneseEra.short(nights.last!.asOf)))</text>
            </svg><figcaption style="font-size:.85em">\(m.name)：最新 \(latest) \(m.unit)</figcaption></figure>

            """
    }

    /// The numbers of every chart, one row per night, newest first.
    func table(open: Bool) -> String {
        var h =
            "<details class=\"trend-table\"\(open ? " open" : "")><summary>数値の表</summary><table><caption>夜ごとの件数（新しい順）</caption><thead><tr><th scope=\"col\">基準日</th><th scope=\"col\">実行</th>"
        for m in Self.measures { h += "<th scope=\"col\" class=\"n\">\(m.name)（\(m.unit)）</th>" }
        h += "</tr></thead><tbody>\n"
        for n in nights.reversed() {
            h += "<tr><th scope=\"row\">\(HTML.escape(JapaneseEra.short(n.asOf)))</th><td>\(n.runID)</td>"
            for m in Self.measures { h += "<td class=\"n\">\(m.format(m.value(n)))</td>" }
            h += "</tr>\n"
        }
        return h + "</tbody></table></details>\n"
    }
}
