import Foundation

/// A batch an `OrderedParallelMap` fills, hands to a worker and reuses once emitted.
package protocol ReusableBatch: AnyObject {
    init()
    /// Items put in so far (the map hands the batch over at `batchSize`).
    var count: Int { get }
    /// Empties the batch for reuse (keeping its capacity).
    func reset()
}

/// An ordered parallel map: one thread feeds items into batches; worker threads (one per core,
/// at most four) transform each batch; the feeding thread gets them back in the order it filled
/// them, so whatever it writes is the same as when one thread did everything. Memory is bounded:
/// at most `maxInFlight` batches exist, and they are reused.
///
/// Threads: `add`, `finish` and `stop` are the feeding thread's (so are `current`, `inFlight` and
/// `free`); a batch belongs to the feeding thread until handed over, then to the one worker that
/// takes it, then to the feeding thread again once it is marked done under `lock`.
package final class OrderedParallelMap<Batch: ReusableBatch>: @unchecked Sendable {  // safe: `pending`, `done`, `stopped` under `lock`
    @usableFromInline let batchSize: Int
    private let maxInFlight: Int
    private let lock = NSCondition()
    private var pending: [Batch] = []  // handed over, waiting for a worker (under `lock`)
    private var done = Set<ObjectIdentifier>()  // transformed, not yet emitted (under `lock`)
    private var stopped = false  // under `lock`
    private let exited = DispatchSemaphore(value: 0)
    private var running = 0
    private var inFlight: [Batch] = []  // handed over, in order, not yet emitted
    private var free: [Batch] = []
    @usableFromInline var current = Batch()

    /// `worker` runs once on each worker thread and returns what that thread does to each batch
    /// (`transform`, with state of its own, such as scratch buffers) and what it does when the map
    /// stops (`end`: release that state).
    package init(
        workers: Int = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount)), batchSize: Int, maxInFlight: Int,
        worker: @escaping @Sendable () -> (transform: (Batch) -> Void, end: () -> Void)
    ) {
        self.batchSize = batchSize
        self.maxInFlight = maxInFlight
        for _ in 0..<workers {
            let t = Thread { [self] in work(worker()) }
            t.stackSize = 1 << 22
            running += 1
            t.start()
        }
    }

    /// Puts one item into the batch being filled (`put`); a full batch goes to the workers, and
    /// `emit` receives finished batches in order (it may throw: the feeding stops there).
    @inlinable
    package func add(_ put: (Batch) -> Void, _ emit: (Batch) throws -> Void) throws {
        put(current)
        if current.count >= batchSize { try handOver(emit) }
    }

    /// Emits everything still on its way, then stops the workers.
    package func finish(_ emit: (Batch) throws -> Void) throws {
        if current.count > 0 { try handOver(emit) }
        while !inFlight.isEmpty { try emitFirst(emit) }
        stop()
    }

    /// Stops the workers without emitting (the feeding failed); safe to call again.
    package func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
        while running > 0 {
            exited.wait()
            running -= 1
        }
    }

    @usableFromInline
    func handOver(_ emit: (Batch) throws -> Void) throws {
        while inFlight.count >= maxInFlight { try emitFirst(emit) }
        let batch = current
        inFlight.append(batch)
        lock.lock()
        pending.append(batch)
        lock.broadcast()
        lock.unlock()
        current = free.popLast() ?? Batch()
        // What is already done goes out now, without waiting.
        while let first = inFlight.first, isDone(first) { try emitFirst(emit) }
    }

    private func isDone(_ batch: Batch) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return done.contains(ObjectIdentifier(batch))
    }

    private func emitFirst(_ emit: (Batch) throws -> Void) throws {
        let batch = inFlight.removeFirst()
        lock.lock()
        while !done.contains(ObjectIdentifier(batch)) { lock.wait() }
        done.remove(ObjectIdentifier(batch))
        lock.unlock()
        try emit(batch)
        batch.reset()
        free.append(batch)
    }

    private func work(_ worker: (transform: (Batch) -> Void, end: () -> Void)) {
        defer { exited.signal() }
        defer { worker.end() }
        while true {
            lock.lock()
            while pending.isEmpty && !stopped { lock.wait() }
            if stopped {
                lock.unlock()
                return
            }
            let batch = pending.removeFirst()
            lock.unlock()
            worker.transform(batch)
            lock.lock()
            done.insert(ObjectIdentifier(batch))
            lock.broadcast()
            lock.unlock()
        }
    }
}
