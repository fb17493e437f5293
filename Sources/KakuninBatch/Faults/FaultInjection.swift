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
enum CrashPoint {
    static let target = ProcessInfo.processInfo.environment["KAKUNIN_CRASH_AT"]

    @inline(__always) static func hit(_ point: @autoclosure () -> String) {
        guard let target, target == point() else { return }
        kill(getpid(), SIGKILL)
    }
}

/// KAKUNIN_FAIL_AT=<point> makes the process throw an error at that point (as a full disk
/// would), to test what a failure, rather than a kill, leaves behind.
enum FailPoint {
    static let target = ProcessInfo.processInfo.environment["KAKUNIN_FAIL_AT"]

    struct Injected: Error, CustomStringConvertible {
        let point: String
        var description: String { "failure injected at \(point) (KAKUNIN_FAIL_AT)" }
    }

    @inline(__always) static func hit(_ point: @autoclosure () -> String) throws {
        guard let target, target == point() else { return }
        throw Injected(point: target)
    }
}

/// KAKUNIN_PAUSE_AT=<point> with KAKUNIN_PAUSE_FILE=<gate> makes the process stop at that point
/// (the points of `CrashPoint`, and import:merge), create `<gate>.reached`, and wait while
/// `<gate>` exists (at most two minutes), so tests can interleave two processes exactly.
enum TestPause {
    static let target = ProcessInfo.processInfo.environment["KAKUNIN_PAUSE_AT"]
    static let gate = ProcessInfo.processInfo.environment["KAKUNIN_PAUSE_FILE"]

    @inline(__always) static func hit(_ point: @autoclosure () -> String) {
        guard let target, let gate, target == point() else { return }
        _ = FileManager.default.createFile(atPath: gate + ".reached", contents: nil)
        let deadline = Date().addingTimeInterval(120)
        while FileManager.default.fileExists(atPath: gate) && Date() < deadline { usleep(50_000) }
    }
}
#else
/// Without KAKUNIN_FAULTS (release builds) the hooks are empty and the point is never evaluated.
enum CrashPoint {
    @inline(__always) static func hit(_ point: @autoclosure () -> String) {}
}

enum FailPoint {
    @inline(__always) static func hit(_ point: @autoclosure () -> String) throws {}
}

enum TestPause {
    @inline(__always) static func hit(_ point: @autoclosure () -> String) {}
}
#endif
