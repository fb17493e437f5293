import Foundation

#if canImport(Glibc)
import Glibc
#endif

// Fault injection for the crash, failure and interleaving tests. The hooks exist only in builds
// with the KAKUNIN_FAULTS compilation condition, which Package.swift sets for debug builds (the
// tests run the debug CLI). A release build compiles every `hit` to nothing: it reads none of
// these environment variables and carries none of their names (.ci/run checks the binary).

#if KAKUNIN_FAULTS
/// KAKUNIN_CRASH_AT=<point> kills the process with SIGKILL at that point, so tests can prove a
/// rerun finishes the job. Points: decide:<n>, before-commit, after-commit, committed, completed,
/// file:<name>, before-publish, after-publish, import:streamed.
package enum CrashPoint {
    package static let target = ProcessInfo.processInfo.environment["KAKUNIN_CRASH_AT"]

    @inline(__always) package static func hit(_ point: @autoclosure () -> String) {
        guard let target, target == point() else { return }
        kill(getpid(), SIGKILL)
    }
}

/// KAKUNIN_FAIL_AT=<point> makes the process throw an error at that point (as a full disk
/// would), to test what a failure, rather than a kill, leaves behind.
package enum FailPoint {
    package static let target = ProcessInfo.processInfo.environment["KAKUNIN_FAIL_AT"]

    package struct Injected: Error, CustomStringConvertible {
        package let point: String
        package var description: String { "failure injected at \(point) (KAKUNIN_FAIL_AT)" }
    }

    @inline(__always) package static func hit(_ point: @autoclosure () -> String) throws {
        guard let target, target == point() else { return }
        throw Injected(point: target)
    }
}

/// KAKUNIN_PAUSE_AT=<point> with KAKUNIN_PAUSE_FILE=<gate> makes the process stop at that point
/// (the points of `CrashPoint`, import:merge and report:counts), create `<gate>.reached`, and wait while
/// `<gate>` exists (at most two minutes), so tests can interleave two processes exactly.
package enum TestPause {
    package static let target = ProcessInfo.processInfo.environment["KAKUNIN_PAUSE_AT"]
    package static let gate = ProcessInfo.processInfo.environment["KAKUNIN_PAUSE_FILE"]

    @inline(__always) package static func hit(_ point: @autoclosure () -> String) {
        guard let target, let gate, target == point() else { return }
        _ = FileManager.default.createFile(atPath: gate + ".reached", contents: nil)
        let deadline = Date().addingTimeInterval(120)
        while FileManager.default.fileExists(atPath: gate) && Date() < deadline { usleep(50_000) }
    }
}
#else
/// Without KAKUNIN_FAULTS (release builds) the hooks are empty and the point is never evaluated.
package enum CrashPoint {
    @inline(__always) package static func hit(_ point: @autoclosure () -> String) {}
}

package enum FailPoint {
    @inline(__always) package static func hit(_ point: @autoclosure () -> String) throws {}
}

package enum TestPause {
    @inline(__always) package static func hit(_ point: @autoclosure () -> String) {}
}
#endif
