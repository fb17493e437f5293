import Foundation

/// Batches handed from the stream's thread to a thread of its own, taken there one by one in
/// the order given. At most `maxQueued` batches wait (memory stays bounded; `put` blocks). The
/// worker's first error stops it: the stream's thread gets that error from its next `put` or
/// from `finish`.
package final class WorkerThread<Batch>: @unchecked Sendable {  // safe: queue and flags under `lock`; a batch is one thread's at a time
    private var queue: [Batch] = []
    private var ended = false, stopped = false
    private var failure: Error?
    private let lock = NSCondition()
    private let exited = DispatchSemaphore(value: 0)
    private var running = false
    private let maxQueued: Int
    private let process: (inout Batch) throws -> Void
    private let end: () throws -> Void
    private let abandon: () -> Void

    /// On the worker's thread: `process` takes each batch (it may empty it, so that what the
    /// batch held is referenced only where it puts it); `end` runs once every batch is taken
    /// after `finish`; `abandon` runs instead when the worker fails or is stopped.
    package init(
        maxQueued: Int, process: @escaping (inout Batch) throws -> Void, end: @escaping () throws -> Void = {},
        abandon: @escaping () -> Void = {}
    ) {
        self.maxQueued = maxQueued
        self.process = process
        self.end = end
        self.abandon = abandon
        let t = Thread { [self] in work() }
        t.stackSize = 1 << 22
        running = true
        t.start()
    }

    /// Hands one batch over (the stream's thread). Throws the worker's error, if any.
    package func put(_ batch: Batch) throws {
        lock.lock()
        defer { lock.unlock() }
        while queue.count >= maxQueued && failure == nil { lock.wait() }
        if let failure { throw failure }
        queue.append(batch)
        lock.broadcast()
    }

    /// Says no batch follows, without waiting: the worker takes the rest and runs `end` while
    /// the caller goes on (`finish` waits for it).
    package func endInput() {
        lock.lock()
        ended = true
        lock.broadcast()
        lock.unlock()
    }

    /// Waits until every batch handed over is taken and `end` has run. Throws the worker's
    /// error, if any.
    package func finish() throws {
        endInput()
        join()
        if let failure { throw failure }
    }

    /// Stops the worker without finishing (the stream failed); safe to call again.
    package func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
        join()
    }

    private func join() {
        guard running else { return }
        exited.wait()
        running = false
    }

    private func work() {
        defer { exited.signal() }
        do {
            while true {
                lock.lock()
                while queue.isEmpty && !ended && !stopped { lock.wait() }
                if stopped {
                    lock.unlock()
                    abandon()
                    return
                }
                if queue.isEmpty {
                    lock.unlock()
                    break
                }
                var next = queue.removeFirst()
                lock.broadcast()
                lock.unlock()
                try process(&next)
            }
            try end()
        } catch {
            abandon()
            lock.lock()
            failure = error
            lock.broadcast()
            lock.unlock()
        }
    }
}
