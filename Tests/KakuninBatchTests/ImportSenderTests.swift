import Foundation
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

@testable import KakuninBatch

/// Issue 34 item 6: an import's rows go to the server from a thread of their own
/// (`CopySender`), so that the reader's thread, and the workers it feeds, go on while the
/// server is busy elsewhere (a WAL segment's fsync, a data file's extension).
@Suite("Import: rows sent from a thread of their own")
struct ImportSenderTests {
    static let batches = 64, rowsPerBatch = 1000

    /// One batch of COPY text rows: numbers from `first`, each with 120 bytes of padding.
    static func batch(_ first: Int) -> [UInt8] {
        let pad = String(repeating: "x", count: 120)
        return Array((first..<first + rowsPerBatch).map { "\($0)\t\(pad)\n" }.joined().utf8)
    }

    @Test(
        "while the server takes no rows, the reader's thread still hands over 64 batches (7.8 MiB, far more than a socket holds); then every row arrives, in order"
    )
    func readerGoesOnWhileServerWaits() throws {
        let tdb = try TestDatabase()
        let holder = try tdb.connect()
        try holder.execute("CREATE TABLE public.sink (n int, pad text)")
        // At its first row the server waits for a lock the test holds: it reads no more data.
        try holder.execute(
            """
            CREATE FUNCTION public.sink_wait() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.n = 0 THEN PERFORM pg_advisory_lock(4711); PERFORM pg_advisory_unlock(4711); END IF;
                RETURN NEW;
            END $$
            """)
        try holder.execute("CREATE TRIGGER sink_wait BEFORE INSERT ON public.sink FOR EACH ROW EXECUTE FUNCTION public.sink_wait()")
        try holder.execute("SELECT pg_advisory_lock(4711)")
        let handed = Locked(0)
        let url = tdb.url
        let load = Background { () -> String in
            do {
                let db = try Connection(url: url)
                let rows = try db.copyIn("COPY public.sink FROM STDIN") { copy in
                    let sender = CopySender(copy)
                    defer { sender.stop() }
                    for b in 0..<Self.batches {
                        var bytes = Self.batch(b * Self.rowsPerBatch)
                        try sender.send(&bytes)
                        handed.withLock { $0 += 1 }
                    }
                    try sender.finish()
                }
                return "loaded \(rows)"
            } catch {
                return "failed: \(error)"
            }
        }
        let allHanded = eventually(20) { handed.current == Self.batches }
        #expect(allHanded, "handed over \(handed.current) of \(Self.batches) batches while the server waited")
        try holder.execute("SELECT pg_advisory_unlock(4711)")
        #expect(load.wait() == "loaded \(Self.batches * Self.rowsPerBatch)")
        let inOrder = try holder.query(
            "SELECT count(*), bool_and(n = r - 1) FROM (SELECT n, row_number() OVER (ORDER BY ctid) AS r FROM public.sink) s")
        #expect(inOrder.rows == [[String(Self.batches * Self.rowsPerBatch), "t"]])
    }

    @Test("a COPY the server refuses fails the import with the server's error, the sending thread stopped")
    func serverErrorReachesCaller() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TABLE public.sink (n int)")
        #expect {
            try db.copyIn("COPY public.sink FROM STDIN") { copy in
                let sender = CopySender(copy)
                defer { sender.stop() }
                for b in 0..<Self.batches {
                    var bytes = Array("\(b)\nnot a number\n".utf8)
                    try sender.send(&bytes)
                }
                try sender.finish()
            }
        } throws: { error in
            (error as? DatabaseError)?.sqlState == "22P02"
        }
        #expect(try db.query("SELECT 1").scalar == "1")
    }
}
