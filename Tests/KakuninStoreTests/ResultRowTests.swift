import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 30 item 2: read models read rows with the type each column must have; a NULL or a
/// malformed value is a `DatabaseError` naming the column and the statement, not a crash.
@Suite("Typed result rows")
struct ResultRowTests {
    @Test("text, integers, numbers, booleans and optional columns read what the server sent")
    func readsValues() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let r = try #require(
            try db.query(
                "SELECT 'a'::text AS name, 42 AS n, 9000000000::bigint AS big, 1.5::float8 AS x, true AS yes, NULL::text AS nothing, NULL::int AS none"
            )
            .firstRow)
        #expect(try r.text(0) == "a")
        #expect(try r.int(1) == 42)
        #expect(try r.int64(2) == 9_000_000_000)
        #expect(try r.double(3) == 1.5)
        #expect(try r.bool(4))
        #expect(r.optionalText(5) == nil)
        #expect(try r.optionalInt(6) == nil)
        #expect(r.shown(5) == "NULL" && r.shown(0) == "a")
        #expect(try db.query("SELECT 1 WHERE false").firstRow == nil)
        #expect(try db.query("SELECT g FROM generate_series(1, 3) g").typedRows.map { try $0.int(0) } == [1, 2, 3])
    }

    @Test(
        "a NULL where a value is expected, or a value of another type, throws naming the column and the statement",
        arguments: [
            (0, "column 0 (nothing) of the result is NULL where a value is expected"),
            (1, "column 1 (word) of the result is \"seven\", not an integer"),
            (7, "column 7 (the row has 2)"),
        ])
    func refusesWithTheColumn(_ column: Int, said: String) throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let r = try #require(try db.query("SELECT NULL::text AS nothing, 'seven' AS word").firstRow)
        do {
            _ = try r.int(column)
            Issue.record("column \(column) was read")
        } catch let e as DatabaseError {
            #expect(e.kind == .protocolViolation)
            #expect(e.message.contains(said), "\(e.message)")
            #expect(e.description.contains("statement: SELECT NULL::text AS nothing"), "\(e.description)")
        }
    }
}
