import Foundation
import KakuninRuntime
import KakuninStore

/// The row stream's COPY data, sent to the server from a thread of its own (issue 34 item 6).
///
/// The reader's thread hands over each batch's encoded rows whole (no copy) and goes on reading
/// and handing records to the workers while the server is busy elsewhere (a WAL segment's
/// fsync, a data file's extension): it used to wait in the socket's write then, and the
/// workers with it, two cores idle. At most `maxQueued` batches wait for the server (about
/// 8 MiB at the first load's 512 rows a batch); the buffers come back for the next batches.
/// The connection is this thread's from `init` to `finish` or `stop`; the COPY itself is begun
/// and ended by the caller, on its own thread.
final class CopySender {
    static let maxQueued = 64, maxFree = 16

    private var worker: WorkerThread<[UInt8]>!
    /// Buffers sent, emptied, for the reader's thread to fill again.
    private let free = Locked<[[UInt8]]>([])

    init(_ copy: CopyInWriter) {
        let free = self.free
        worker = WorkerThread(maxQueued: Self.maxQueued) { bytes in
            try copy.write(bytes)
            var spent: [UInt8] = []
            swap(&spent, &bytes)
            spent.removeAll(keepingCapacity: true)
            free.withLock { if $0.count < Self.maxFree { $0.append(spent) } }
        }
    }

    /// Hands `bytes` over whole and leaves an empty buffer (a sent one, reused) in its place.
    /// Throws the sending thread's error, if it failed.
    func send(_ bytes: inout [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        var next = free.withLock { $0.popLast() } ?? []
        swap(&next, &bytes)
        try worker.put(next)
    }

    /// Hands over a copy of `bytes` (the stream's header and trailer).
    func send(copying bytes: [UInt8]) throws {
        var b = bytes
        try send(&b)
    }

    /// Waits until everything handed over is sent; the connection is the caller's again.
    func finish() throws { try worker.finish() }

    /// Stops sending (the stream failed); the connection is the caller's again. Safe to call
    /// again.
    func stop() { worker.stop() }
}
