import Foundation
import KakuninBatch
import KakuninRuntime
import KakuninStore
import KakuninTesting
import Testing

@Suite("COPY spool")
struct CopySpoolTests {
    @Test("rows spooled across many buffer flushes reach the table whole and in order; the file has no name")
    func roundTrip() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let dir = try temporaryDirectory()
        let spool = try CopySpool(directory: dir, label: "test")
        // The file is unlinked as soon as it is made: nothing is left in the folder, even by a crash.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let n = 60_000  // about 1.5 MB: several 256 KiB flushes and reads
        for i in 0..<n {
            try spool.row { b in
                CopyText.appendField(String(i), to: &b)
                b.append(UInt8(ascii: "\t"))
                CopyText.appendField(i % 7 == 0 ? nil : "名前\t\(i)\\x", to: &b)
                b.append(UInt8(ascii: "\n"))
            }
        }
        #expect(spool.rows == n)
        try db.execute("CREATE TEMP TABLE t (i int, s text)")
        let loaded = try db.copyIn("COPY t FROM STDIN") { try spool.send(to: $0) }
        #expect(loaded == n)
        let r = try db.query(
            """
            SELECT count(*), count(*) FILTER (WHERE s IS DISTINCT FROM CASE WHEN i % 7 = 0 THEN NULL ELSE '名前' || E'\\t' || i || E'\\\\x' END),
                   min(i), max(i), count(DISTINCT i)
            FROM t
            """
        ).rows[0]
        #expect(r == [String(n), "0", "0", String(n - 1), String(n)])
        // Sending again replays the same rows from the start.
        let again = try db.copyIn("COPY t FROM STDIN") { try spool.send(to: $0) }
        #expect(again == n)
    }
}
