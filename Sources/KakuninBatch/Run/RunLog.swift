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
            var obj: [String: Any] = ["ts": ISO8601DateFormatter().string(from: Date()), "phase": phase, "message": message,
                                      "elapsed_seconds": (Date().timeIntervalSince(started) * 1000).rounded() / 1000]
            if let runID { obj["run_id"] = runID }
            for (k, v) in fields { obj[k] = v }
            if let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) {
                write(String(decoding: data, as: UTF8.self) + "\n")
            }
        }
    }

    /// Called often; draws at most five times a second on a terminal, logs every 10 s otherwise.
    public func progress(_ done: Int, of total: Int) {
        guard !quiet else { return }
        let now = Date()
        let interval = isTerminal ? 0.2 : 10
        guard now.timeIntervalSince(lastDraw) >= interval else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(max(total - done, 0)) / rate : 0
        if isTerminal {
            let width = 30
            let filled = total > 0 ? min(width, width * done / total) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            write(String(format: "\r  deciding %@ %d/%d  %.0f members/s  ETA %.0fs ", bar, done, total, rate, eta))
        } else {
            event("decide", "progress", ["done": done, "total": total, "members_per_second": Int(rate), "eta_seconds": Int(eta)])
        }
    }

    public func endProgress() { if isTerminal && !quiet { clearLine() } }

    private func clearLine() { write("\r\u{1B}[K") }
    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
