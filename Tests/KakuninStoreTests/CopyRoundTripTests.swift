import Testing
import KakuninStore
import KakuninTesting

@Suite("COPY streams and the text-format parser")
struct CopyRoundTripTests {
    /// Values that break naive COPY handling.
    static let awkward: [String?] = [
        "plain", "", nil, "tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "\\",
        "𠮷野家", "髙橋 﨑", "emoji 👨‍👩‍👧 🎌", "trailing\n", "\t", "quote\"s, commas", String(repeating: "長", count: 5000),
    ]

    @Test("COPY FROM STDIN then TO STDOUT returns every value byte for byte, NULL distinct from empty")
    func roundTrip() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE t (i int, v text)")
        let loaded = try db.copyIn("COPY t FROM STDIN") { w in
            for (i, v) in Self.awkward.enumerated() { try w.writeRow([String(i), v]) }
        }
        #expect(loaded == Self.awkward.count)

        // The server stored exactly what was sent: compare with parameters, not with COPY.
        for (i, v) in Self.awkward.enumerated() {
            let r = try db.query("SELECT v IS NULL, v = $2 FROM t WHERE i = $1", [String(i), v])
            #expect(r.rows[0][0] == (v == nil ? "t" : "f"), "row \(i)")
            if v != nil { #expect(r.rows[0][1] == "t", "row \(i)") }
        }

        var parser = CopyTextParser()
        var back: [[String?]] = []
        let rows = try db.copyOut("COPY (SELECT i::text, v FROM t ORDER BY t.i) TO STDOUT") { back.append(parser.parseRow($0)) }
        #expect(rows == Self.awkward.count)
        #expect(back.map { $0[1] } == Self.awkward)
        #expect(back.map { $0[0] } == Self.awkward.indices.map { String($0) })
    }

    @Test("the parser decodes every escape COPY may send")
    func parserEscapes() {
        let cases: [(String, [String?])] = [
            ("a\\tb\tc\n", ["a\tb", "c"]),
            ("\\N\t\n", [nil, ""]),
            ("\\101\\x42\\\\\n", ["AB\\"]),
            ("\\b\\f\\v\\r\\n\n", ["\u{8}\u{c}\u{b}\r\n"]),
            ("𠮷\t\\N\n", ["𠮷", nil]),
            ("\n", [""]),
            // Plain fields around an escaped one, empty fields, and no line end.
            ("plain\tes\\tcaped\t\tend", ["plain", "es\tcaped", "", "end"]),
            ("\t\t\n", ["", "", ""]),
        ]
        var parser = CopyTextParser()
        var row = CopyRow()
        // Long rows first, then short ones: the reused row must not keep stale fields.
        let long: [(String, [String?])] = [("long field\twith\\\\escapes\tand more\t\\N\n", ["long field", "with\\escapes", "and more", nil])]
        for (input, expected) in long + cases {
            let bytes = Array(input.utf8)
            let got = bytes.withUnsafeBytes { parser.parseRow($0) }
            #expect(got == expected, "input \(input.debugDescription)")
            bytes.withUnsafeBytes { row.load($0) }
            #expect((0..<row.count).map { row.string($0) } == expected, "CopyRow, input \(input.debugDescription)")
            #expect((0..<row.count).map { row.isNull($0) } == expected.map { $0 == nil })
        }
    }

    @Test("an error inside a COPY body aborts the COPY and leaves the connection usable")
    func abortedCopy() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE t (v int)")
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.copyIn("COPY t FROM STDIN") { w in try w.writeRow(["1"]); throw Stop() }
        }
        #expect(try db.query("SELECT count(*) FROM t").scalar == "0")
    }

    @Test("a bad value in COPY data reports the server's SQLSTATE")
    func badCopyData() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE t (v int)")
        let error = #expect(throws: DatabaseError.self) {
            try db.copyIn("COPY t FROM STDIN") { w in try w.writeRow(["not a number"]) }
        }
        #expect(error?.sqlState == "22P02")
        #expect(try db.query("SELECT 1").scalar == "1")
    }
}

@Suite("Queries, parameters and errors")
struct QueryTests {
    @Test("parameters carry any text unchanged, including SQL")
    func parameters() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let nasty = "'; DROP TABLE kakunin.member; --"
        #expect(try db.query("SELECT $1::text", [nasty]).scalar == nasty)
        #expect(try db.query("SELECT $1::text IS NULL", [nil]).scalar == "t")
        #expect(try db.query("SELECT to_regclass('kakunin.member') IS NOT NULL").scalar == "t")
    }

    @Test("errors carry SQLSTATE, message and detail")
    func errors() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let e1 = #expect(throws: DatabaseError.self) { try db.execute("SELECT 1/0") }
        #expect(e1?.sqlState == "22012")
        #expect(e1?.message.contains("division by zero") == true)
        try db.execute("INSERT INTO insurer (insurer_number) VALUES ('131016')")
        let e2 = #expect(throws: DatabaseError.self) { try db.execute("INSERT INTO insurer (insurer_number) VALUES ($1)", ["131016"]) }
        #expect(e2?.sqlState == "23505")
        #expect(e2?.detail?.contains("131016") == true)
    }

    @Test("a transaction that throws is rolled back")
    func rollback() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.execute("INSERT INTO insurer (insurer_number) VALUES ('131016')")
                throw Boom()
            }
        }
        #expect(try db.query("SELECT count(*) FROM insurer").scalar == "0")
    }

    @Test("connecting to a server that is not there says how to fix it")
    func unreachable() throws {
        let e = #expect(throws: DatabaseError.self) { _ = try Connection(url: "host=/nonexistent-socket-dir port=1") }
        #expect(e?.isConnectionFailure == true)
        #expect(e?.hint?.contains("PGHOST") == true)
    }
}
