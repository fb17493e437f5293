import Foundation
import KakuninStore
import KakuninTesting
import Testing

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

    @Test("COPY binary: every type the imports write arrives as the value it is, NULL distinct from empty")
    func binaryRoundTrip() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE b (i bigint, v text, d date, f boolean, s smallint, n integer, h bytea)")
        let types: [CopyBinary.ColumnType] = try ["bigint", "text", "date", "boolean", "smallint", "integer", "bytea"].map {
            try #require(CopyBinary.ColumnType(sqlName: $0))
        }
        #expect(types == [.int8, .text, .date, .boolean, .int2, .int4, .bytea])
        #expect(CopyBinary.ColumnType(sqlName: "numeric") == nil)
        #expect(CopyBinary.ColumnType.int2.holds(32767) && !CopyBinary.ColumnType.int2.holds(32768))
        #expect(CopyBinary.ColumnType.int4.holds(-2_147_483_648) && !CopyBinary.ColumnType.int4.holds(2_147_483_648))
        // Days since 1970-01-01: 1970-01-01, 2000-01-01 (PostgreSQL's epoch), 1868-01-25, 2200-12-31.
        let days: [Int32] = [0, 10_957, -37_231, 84_370]
        let loaded = try db.copyIn("COPY b FROM STDIN (FORMAT binary)") { w in
            var out = CopyBinary.header
            for (i, v) in Self.awkward.enumerated() {
                let text = v.map { Array($0.utf8) }
                let size = 2 + 12 + (text.map { 4 + $0.count } ?? 4) + 8 + 5 + 6 + 8 + 4 + 3
                CopyBinary.Writer.append(to: &out, size: size) { r in
                    r.int16(7)
                    r.integer(Int64(i) - 3, as: .int8)
                    if let text { text.withUnsafeBytes { r.bytes($0) } } else { r.int32(-1) }
                    r.date(daysSince1970: days[i % days.count])
                    r.boolean(i % 2 == 0)
                    r.integer(Int64(i) * 1000 - 32_768 + 1, as: .int2)
                    r.integer(-2_000_000_000 + Int64(i), as: .int4)
                    [UInt8(i), 0, 0xFF].withUnsafeBytes { r.bytes($0) }
                }
            }
            out += CopyBinary.trailer
            try w.write(out)
        }
        #expect(loaded == Self.awkward.count)
        let dates = ["1970-01-01", "2000-01-01", "1868-01-25", "2200-12-31"]
        for (i, v) in Self.awkward.enumerated() {
            let r = try db.query(
                """
                SELECT v IS NULL, v = $2, d::text, f::text, s::text, n::text, encode(h, 'hex') FROM b WHERE i = $1
                """, [String(i - 3), v]
            ).rows
            #expect(
                r == [
                    [
                        v == nil ? "t" : "f", v == nil ? nil : "t", dates[i % 4], i % 2 == 0 ? "true" : "false",
                        String(i * 1000 - 32_767), String(-2_000_000_000 + i),
                        String(format: "%02x00ff", i),
                    ]
                ], "row \(i)")
        }
    }

    @Test("text arrays, nullable dates and bigints in COPY's binary format, as the run writes decisions")
    func binaryArraysAndNulls() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE a (i integer, r text[] NOT NULL, d date, n bigint)")
        let sets: [[String]] = [[], ["MYNA_USABLE"], ["NO_ADDRESS", "NO_HOUSEHOLD_HEAD", "資格確認書"], ["a,b", "{x}", "\"q\"", ""]]
        let loaded = try db.copyIn("COPY a FROM STDIN (FORMAT binary)") { w in
            var out = CopyBinary.header
            for (i, set) in sets.enumerated() {
                let array = CopyBinary.Writer.textArrayField(set)
                let day: Int32? = i % 2 == 0 ? nil : 20_000 + Int32(i)
                let number: Int64? = i % 2 == 0 ? Int64(i) * 1_000_000_000_000 : nil
                let size = 2 + 8 + array.count + CopyBinary.Writer.dateSize(day) + (number == nil ? 4 : 12)
                CopyBinary.Writer.append(to: &out, size: size) { r in
                    r.int16(4)
                    r.integer(Int64(i), as: .int4)
                    array.withUnsafeBytes { r.raw($0) }
                    r.date(day)
                    r.int8(number)
                }
            }
            out += CopyBinary.trailer
            try w.write(out)
        }
        #expect(loaded == sets.count)
        for (i, set) in sets.enumerated() {
            let r = try db.query(
                """
                SELECT cardinality(r), array_to_json(r)::text, (d - date '1970-01-01')::text, n::text FROM a WHERE i = $1
                """, [String(i)]
            ).rows
            let json = "[" + set.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "]"
            #expect(
                r == [
                    [
                        String(set.count), json, i % 2 == 0 ? nil : String(20_000 + i),
                        i % 2 == 0 ? String(i * 1_000_000_000_000) : nil,
                    ]
                ], "row \(i)")
        }
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
            // Escapes in fields apart, plain fields between (the next backslash is looked for
            // once for the fields before it), NULL among them, and a backslash ending the row.
            (
                "a\\tb\tplain\tc\\\\d\tplain two\t\\N\tlast\\n\tx\\",
                ["a\tb", "plain", "c\\d", "plain two", nil, "last\n", "x\\"]
            ),
        ]
        var parser = CopyTextParser()
        var row = CopyRow()
        // Long rows first, then short ones: the reused row must not keep stale fields.
        let long: [(String, [String?])] = [
            ("long field\twith\\\\escapes\tand more\t\\N\n", ["long field", "with\\escapes", "and more", nil])
        ]
        for (input, expected) in long + cases {
            let bytes = Array(input.utf8)
            let got = bytes.withUnsafeBytes { parser.parseRow($0) }
            #expect(got == expected, "input \(input.debugDescription)")
            bytes.withUnsafeBytes { row.load($0) }
            #expect((0..<row.count).map { row.string($0) } == expected, "CopyRow, input \(input.debugDescription)")
            #expect((0..<row.count).map { row.isNull($0) } == expected.map { $0 == nil })
        }
    }

    @Test("a COPY row's integers: digits, a minus sign, NULL and text that is not a number")
    func copyRowIntegers() {
        var row = CopyRow()
        let text = Array("12\t-7\t\\N\t-\tx1\t\t9223372036854775807\t-9223372036854775807\n".utf8)
        text.withUnsafeBytes { row.load($0) }
        #expect((0..<row.count).map { row.int64($0) } == [12, -7, nil, 0, nil, nil, Int64.max, -Int64.max])
    }

    @Test("an error inside a COPY body aborts the COPY and leaves the connection usable")
    func abortedCopy() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        try db.execute("CREATE TEMP TABLE t (v int)")
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.copyIn("COPY t FROM STDIN") { w in
                try w.writeRow(["1"])
                throw Stop()
            }
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
