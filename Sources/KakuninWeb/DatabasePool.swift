import Foundation
import KakuninStore

/// libpq is blocking, so the console never calls it on an event loop: a few threads of their
/// own, each holding one connection, take jobs from a queue. A job runs on one connection from
/// start to end (a request's statements, its `SET ROLE`, its transaction); afterwards the thread
/// resets the role, and a connection that cannot is dropped and opened again on the next job.
final class DatabasePool: @unchecked Sendable {  // safe: jobs and flags under `lock`; a connection is one thread's
    private let lock = NSCondition()
    private var jobs: [(Connection?) -> Void] = []
    private var stopping = false
    private var running = 0
    private let url: String?

    init(size: Int, url: String?) throws {
        self.url = url
        // Open them all now: a wrong URL or a server that is down fails the start, not a page.
        let connections = try (0..<size).map { _ in try Connection(url: url, applicationName: "kakunin-console") }
        running = size
        for c in connections {
            let handOver = HandOver(connection: c)
            let t = Thread { [self] in self.work(handOver.connection) }
            t.name = "kakunin-db"
            t.start()
        }
    }

    private func work(_ first: Connection) {
        var conn: Connection? = first
        while true {
            lock.lock()
            while jobs.isEmpty && !stopping { lock.wait() }
            if jobs.isEmpty {
                running -= 1
                lock.broadcast()
                lock.unlock()
                return
            }
            let job = jobs.removeFirst()
            lock.unlock()
            if conn == nil || conn?.isAlive == false { conn = try? Connection(url: url, applicationName: "kakunin-console") }
            job(conn)
            if let c = conn, (try? c.execute("RESET ROLE")) == nil { conn = nil }
        }
    }

    /// Runs `body` on a pooled connection, off the event loops.
    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            lock.lock()
            defer { lock.unlock() }
            guard !stopping else {
                continuation.resume(throwing: DatabaseError(kind: .connection, message: "the console is shutting down"))
                return
            }
            jobs.append { conn in
                guard let conn else {
                    continuation.resume(
                        throwing: DatabaseError(
                            kind: .connection, message: "cannot reach PostgreSQL",
                            hint: "is the server running? the console reconnects on the next request"))
                    return
                }
                do { continuation.resume(returning: try body(conn)) } catch { continuation.resume(throwing: error) }
            }
            lock.signal()
        }
    }

    /// A connection given to the one thread that will use it.
    private final class HandOver: @unchecked Sendable {  // safe: the connection is given to one thread and used by it alone
        let connection: Connection
        init(connection: Connection) { self.connection = connection }
    }

    /// Lets queued jobs finish, then closes the connections.
    func shutdown() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while running > 0 { lock.wait() }
        lock.unlock()
    }
}
