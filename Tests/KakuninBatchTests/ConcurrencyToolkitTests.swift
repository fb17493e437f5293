import Foundation
import KakuninRuntime
import Testing

/// Issue 30 item 4: the runtime's ordered parallel map (the import's encoders use it) gives back
/// batches in the order they were filled, with bounded memory, and stops cleanly.
@Suite("Concurrency toolkit")
struct ConcurrencyToolkitTests {
    final class Numbers: ReusableBatch, @unchecked Sendable {  // safe: one thread at a time, as the map hands it over
        var input: [Int] = [], output: [Int] = []
        var count: Int { input.count }
        init() {}
        func reset() {
            input.removeAll(keepingCapacity: true)
            output.removeAll(keepingCapacity: true)
        }
    }

    static func squares(workers: Int, ended: Locked<Int>) -> OrderedParallelMap<Numbers> {
        OrderedParallelMap(workers: workers, batchSize: 7, maxInFlight: 3) {
            return (
                { batch in
                    // Uneven work, so that later batches often finish first.
                    if Int.random(in: 0..<4) == 0 { usleep(UInt32.random(in: 0..<800)) }
                    batch.output = batch.input.map { $0 * $0 }
                }, { ended.withLock { $0 += 1 } }
            )
        }
    }

    @Test(
        "batches come back in the order they were filled, whatever order the workers finish in; at most maxInFlight + 1 batches exist",
        arguments: [1, 4])
    func orderKept(workers: Int) throws {
        let ended = Locked(0)
        let map = Self.squares(workers: workers, ended: ended)
        var out: [Int] = []
        var batches = Set<ObjectIdentifier>()
        let emit: (Numbers) throws -> Void = { b in
            batches.insert(ObjectIdentifier(b))
            out += b.output
        }
        for i in 0..<3001 { try map.add({ $0.input.append(i) }, emit) }
        try map.finish(emit)
        #expect(out == (0..<3001).map { $0 * $0 })
        #expect(batches.count <= 4, "\(batches.count) batches made")
        #expect(ended.current == workers)
    }

    @Test("an emit that throws stops the feeding; stop() then ends every worker, and may be called again")
    func stopsOnError() throws {
        struct Refused: Error {}
        let ended = Locked(0)
        let map = Self.squares(workers: 3, ended: ended)
        var emitted = 0
        #expect(throws: Refused.self) {
            for i in 0..<1000 {
                try map.add(
                    { $0.input.append(i) },
                    { _ in
                        emitted += 1
                        if emitted == 5 { throw Refused() }
                    })
            }
        }
        map.stop()
        map.stop()
        #expect(emitted == 5 && ended.current == 3)
    }
}
