import Foundation
import KakuninCore
import KakuninRuntime

/// One rejected input row, as shown to the operator and written to the rejects file.
public struct RejectedRow: Sendable, Equatable {
    public let line: Int
    public let column: String?
    public let value: String?
    public let reason: String
    public let memberID: String?
}

/// What an import did: counts, the rejects, and where its report files are.
public struct ImportSummary: Sendable {
    public enum Status: String, Sendable {
        case loaded
        case loadedWithRejects = "loaded_with_rejects"
        case refused
    }

    public var importID: Int
    public var feed: FeedFormat.Name
    public var file: String
    public var status: Status
    public var refusal: String?
    public var rowsRead = 0
    public var rowsLoaded = 0
    public var rowsRejected = 0
    public var inserted = 0
    public var updated = 0
    public var unchanged = 0
    /// Rejections grouped by column and reason, most frequent first.
    public var rejectsByReason: [(column: String, reason: String, count: Int)] = []
    /// The first rejects, for the screen (values of personal columns withheld).
    public var firstRejects: [RejectedRow] = []
    public var rejectsFile: String?
    public var reportFile: String?
    public var seconds = 0.0
    /// Seconds per phase, for operators tuning a large import.
    public var phases: [(String, Double)] = []
    public var fileSHA256 = ""

    public var exitStatus: ExitStatus {
        switch status {
        case .loaded: return .success
        case .loadedWithRejects: return .rowsRejected
        case .refused: return .fileRefused
        }
    }

    /// The human-readable report (also written beside the rejects file).
    public func render() -> String {
        var s = "import \(importID): \(feed.rawValue) from \(file)\n"
        s += "  status:    \(status.rawValue)\n"
        if let refusal {
            s += "  refused:   \(refusal)\n"
            return s + "  nothing from this file was stored\n"
        }
        s += "  rows read: \(rowsRead)\n"
        s += "  loaded:    \(rowsLoaded) (inserted \(inserted), updated \(updated), unchanged \(unchanged))\n"
        s += "  rejected:  \(rowsRejected)\n"
        s += "  changes:   \(inserted + updated)\n"
        s += "  sha256:    \(fileSHA256)\n"
        s += "  took:      \(String(format: "%.2f", seconds)) s"
        if !phases.isEmpty { s += " (" + phases.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", ") + ")" }
        s += "\n"
        if !rejectsByReason.isEmpty {
            s += "  rejects by column and reason:\n"
            for r in rejectsByReason { s += "    \(r.count)\t\(r.column)\t\(r.reason)\n" }
            s += "  first rejected rows:\n"
            for r in firstRejects {
                s += "    line \(r.line)"
                if let c = r.column { s += ", column \(c)" }
                if let v = r.value { s += ", value \"\(v)\"" }
                if let m = r.memberID, !m.isEmpty { s += ", member \(m)" }
                s += ": \(r.reason)\n"
            }
        }
        if let rejectsFile { s += "  rejects file: \(rejectsFile)\n" }
        if let reportFile { s += "  report file:  \(reportFile)\n" }
        return s
    }
}
