import Foundation

/// Work done on a thread of its own; `wait()` gives its result (and may be called again).
package final class Background<T: Sendable>: @unchecked Sendable {  // safe: `value` set once before `done`, read after waiting
    private var value: T?
    private let done = DispatchSemaphore(value: 0)

    package init(_ work: @escaping @Sendable () -> T) {
        let t = Thread { [self] in
            value = work()
            done.signal()
        }
        t.stackSize = 1 << 22
        t.start()
    }

    package func wait() -> T {
        done.wait()
        done.signal()
        return value!
    }
}
