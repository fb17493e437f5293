import Foundation

/// A value shared between threads that is only ever touched inside `withLock`: the lock
/// belongs to the value, so no field needs an "under lock" comment and none can be read without
/// it. (The shape of the standard library's `Synchronization.Mutex`, which needs macOS 15; this
/// one builds wherever the package does.)
package final class Locked<Value>: @unchecked Sendable {  // safe: `value` is read and written only while `lock` is held
    private var value: Value
    private let lock = NSLock()

    package init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock; keep it short and never block inside.
    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension Locked where Value: Sendable {
    /// A copy of the value as it is now.
    package var current: Value { withLock { $0 } }
}
