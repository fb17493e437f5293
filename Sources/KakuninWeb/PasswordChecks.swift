import Foundation
import HummingbirdBcrypt

/// bcrypt on threads of its own, never on the database threads or the event loops: a login flood
/// costs these few threads and a short queue, while pages keep their connections. A login that
/// finds the queue full is refused at once (503 with Retry-After) before anything is counted.
final class PasswordChecks: @unchecked Sendable {  // safe: the queue and counters are touched only while `lock` is held
    private let lock = NSCondition()
    private var queue: [() -> Void] = []
    /// Checks admitted (queued or running): at most `capacity`.
    private var admitted = 0
    let capacity: Int

    /// `threads` workers; `capacity` checks admitted at once (running and waiting).
    init(threads: Int, capacity: Int) {
        self.capacity = max(threads, capacity)
        for _ in 0..<max(1, threads) {
            let t = Thread { [self] in self.work() }
            t.name = "kakunin-bcrypt"
            t.start()
        }
    }

    /// A place in the queue, or nil when it is full.
    func admit() -> Ticket? {
        lock.lock()
        defer { lock.unlock() }
        guard admitted < capacity else { return nil }
        admitted += 1
        return Ticket(pool: self)
    }

    /// One admitted check: `verify` once, or `release` unused.
    final class Ticket: @unchecked Sendable {  // safe: one request holds a ticket and uses it once (verify or release)
        private let pool: PasswordChecks
        private var used = false
        fileprivate init(pool: PasswordChecks) { self.pool = pool }

        /// Whether `password` matches `hash`, computed on the pool's threads.
        func verify(_ password: String, hash: String) async -> Bool {
            used = true
            return await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                pool.enqueue { c.resume(returning: Bcrypt.verify(password, hash: hash)) }
            }
        }

        func release() {
            guard !used else { return }
            used = true
            pool.finished()
        }
    }

    private func enqueue(_ job: @escaping () -> Void) {
        lock.lock()
        queue.append(job)
        lock.signal()
        lock.unlock()
    }

    private func finished() {
        lock.lock()
        admitted -= 1
        lock.unlock()
    }

    private func work() {
        while true {
            lock.lock()
            while queue.isEmpty { lock.wait() }
            let job = queue.removeFirst()
            lock.unlock()
            job()
            finished()
        }
    }
}
