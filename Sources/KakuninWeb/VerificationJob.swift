import Foundation
import KakuninRuntime

/// `/audit?verify=1`: verifying the whole log is one background job at a time, on a thread and a
/// connection of its own (never a pooled one). A click while it runs shows it running and starts
/// nothing; the page shows the last job's result.
final class VerificationJob: Sendable {
    struct Outcome: Sendable {
        let ok: Bool
        let summary: String
        let problems: [String]
    }

    struct State: Sendable {
        /// The job's number since the server started (1, 2, …).
        let number: Int
        let started: Date
        var outcome: Outcome?
        var running: Bool { outcome == nil }
    }

    private let state = Locked<State?>(nil)

    var current: State? { state.current }

    /// Starts `work` on a thread of its own unless a job is running; the job now current.
    @discardableResult
    func start(_ work: @escaping @Sendable () -> Outcome) -> State {
        state.withLock { state in
            if let s = state, s.running { return s }
            let s = State(number: (state?.number ?? 0) + 1, started: Date(), outcome: nil)
            state = s
            let t = Thread { [self] in
                let outcome = work()
                self.state.withLock { $0?.outcome = outcome }
            }
            t.name = "kakunin-verify"
            t.start()
            return s
        }
    }

    /// Waits up to `seconds` for the current job to end (off the event loops and the pool).
    func wait(upTo seconds: Double) async {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, current?.running == true {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }
}
