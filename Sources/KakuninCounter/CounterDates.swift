import KakuninCore
import KakuninRuntime

/// The dates counter staff enter (issue 28 item 14), checked once here for the CLI and the
/// console alike (`CounterDesk` applies them): an application is received on or before today
/// in Japan; a mailed document comes back between the day it was issued or sent and today.
/// A refusal is an `OperatorError` (exit 64) that names the range, in English for the CLI and
/// in Japanese, dates in era form, for the console.
public enum CounterDates {
    /// `received_on` of an application: not after `today`. The message starts with
    /// `received_on:` (the console shows it beside that field).
    public static func requireReceived(_ date: LocalDate, today: LocalDate = .todayInJapan()) throws {
        guard date > today else { return }
        throw OperatorError(
            .usage, "received_on: \(date) is in the future: an application is received on or before today (\(today))",
            fix: "give the date it was received, today or earlier (--received-on YYYY-MM-DD)",
            japanese: "受付日（\(era(date))）は未来の日付です。本日（\(era(today))）以前の日付を入力してください。")
    }

    /// What a returned document is, for the messages.
    public enum Document: Sendable {
        /// A certificate and the day it was issued.
        case certificate(Int64, issuedOn: LocalDate)
        /// A notice (`eligibility_notice`, `apply_notice`) of a run and the day it was sent.
        case notice(String, run: Int64, sentOn: LocalDate)

        var from: LocalDate {
            switch self {
            case .certificate(_, let d), .notice(_, _, let d): return d
            }
        }
        var english: String {
            switch self {
            case .certificate(let n, let d): return "certificate \(n) was issued on \(d)"
            case .notice(let kind, let run, let d): return "the \(kind) of run \(run) was sent on \(d)"
            }
        }
        var japanese: String {
            switch self {
            case .certificate: return "資格確認書の交付日"
            case .notice: return "通知の送付日"
            }
        }
    }

    /// The day a mailed document came back: from the day it was issued or sent to `today`.
    public static func requireReturned(_ date: LocalDate, _ document: Document, today: LocalDate = .todayInJapan()) throws {
        let from = document.from
        guard date < from || date > today else { return }
        throw OperatorError(
            .usage,
            "returned on \(date) is outside \(from) … \(today): \(document.english) and cannot have come back before that or after today",
            fix: "give the date it came back, from \(from) to \(today) (--on YYYY-MM-DD)",
            japanese: "返戻日（\(era(date))）は、\(document.japanese)（\(era(from))）から本日（\(era(today))）までの日付で入力してください。")
    }

    private static func era(_ d: LocalDate) -> String { JapaneseEra.format(d) ?? d.description }
}
