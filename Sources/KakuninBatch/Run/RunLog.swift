import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the operator sees while a run works: a progress line with rate and ETA when stderr is
/// a terminal, JSON lines (run id, phase, counts; member ids at most, never names) when it is not.
public final class RunLog {
    public let isTerminal: Bool
    public var runID: Int?
    private var lastDraw = Date()
    private let started = Date()
    private let quiet: Bool

    public init(quiet: Bool = false) {
        isTerminal = isatty(STDERR_FILENO) == 1
        self.quiet = quiet
    }

    public func event(_ phase: String, _ message: String, _ fields: [String: Any] = [:]) {
        guard !quiet else { return }
        if isTerminal {
            clearLine()
            write(String(format: "[%6.1fs] [%@] %@\n", Date().timeIntervalSince(started), phase, message))
        } else {
            var obj: [String: Any] = [
                "ts": ISO8601DateFormatter().string(from: Date()), "phase": phase, "message": message,
                "elapsed_seconds": (Date().timeIntervalSince(started) * 1000).rounded() / 1000,
            ]
            if let runID { obj["run_id"] = runID }
            for (k, v) in fields { obj[k] = v }
            if let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) {
                write(String(decoding: data, as: UTF8.self) + "\n")
            }
        }
    }

    /// Called often; draws at most five times a second on a terminal, logs every 10 s otherwise.
    public func progress(_ done: Int, of total: Int) {
        progress(
            "deciding", phase: "decide", done: done, total: total, unit: "members", fraction: total > 0 ? Double(done) / Double(total) : nil
        )
    }

    /// The same line for any long step: `label`, a bar when the share done (`fraction`) is
    /// known, `done` of `total` units (total nil: not known yet), the rate and the ETA; as JSON
    /// (`done`, `total`, `<unit>_per_second`, `eta_seconds`) when stderr is not a terminal.
    public func progress(_ label: String, phase: String, done: Int, total: Int?, unit: String, fraction: Double?, force: Bool = false) {
        guard !quiet else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= (isTerminal ? 0.2 : 10) else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        let eta = fraction.map { $0 > 0 ? elapsed * (1 - min($0, 1)) / $0 : 0 } ?? 0
        if isTerminal {
            let width = 30
            let filled = fraction.map { min(width, Int(Double(width) * $0)) } ?? 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let count = total.map { "\(done)/\($0)" } ?? "\(done)"
            write(String(format: "\r  %@ %@ %@  %.0f %@/s  ETA %.0fs ", label, bar, count, rate, unit, eta))
        } else {
            var fields: [String: Any] = ["done": done, "\(unit)_per_second": Int(rate), "eta_seconds": Int(eta)]
            if let total { fields["total"] = total }
            event(phase, "progress", fields)
        }
    }

    public func endProgress() { if isTerminal && !quiet { clearLine() } }

    private func clearLine() { write("\r\u{1B}[K") }
    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
