import Foundation
import Testing
import KakuninBatch
import KakuninTesting

@Suite("CSV reader")
struct CSVReaderTests {
    func read(_ text: [UInt8]) throws -> [(Int, [String], String?)] {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("f.csv")
        try Data(text).write(to: url)
        var out: [(Int, [String], String?)] = []
        try CSVReader(path: url.path).forEachRecord { r in
            out.append((r.line, (0..<r.count).map { r.string($0) }, r.malformed))
            return true
        }
        if out.allSatisfy({ $0.2 == nil }) {
            #expect(try CSVReader(path: url.path).countRecords() == out.count, "the fast count agrees with the reader")
        }
        return out
    }

    @Test("RFC 4180: quotes, doubled quotes, embedded newlines, CRLF, BOM, blank lines, line numbers")
    func rfc4180() throws {
        let text = Array([0xEF, 0xBB, 0xBF]) + Array("a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n\n,,\nlast,row,𠮷".utf8)
        let recs = try read(text)
        #expect(recs.map(\.0) == [1, 2, 5, 6])
        #expect(recs.map(\.1) == [["a", "b", "c"], ["x,1", "say \"hi\"", "two\nlines"], ["", "", ""], ["last", "row", "𠮷"]])
        #expect(recs.allSatisfy { $0.2 == nil })
    }

    @Test("broken quoting marks the record, not the file")
    func malformed() throws {
        let recs = try read(Array("a,b\nx\"y,z\n\"ok\"junk,1\n\"open,2\n".utf8))
        #expect(recs.count == 4)
        #expect(recs[1].2 != nil && recs[2].2 != nil)
        #expect(recs[3].2 == "quoted field not closed before end of file")
        #expect(recs[0].2 == nil)
    }

    @Test("records across the 1 MiB read boundary are whole")
    func boundary() throws {
        var text = "h\n"
        let long = String(repeating: "長", count: 200_000) // 600 KB per field
        for i in 0..<4 { text += "\"\(long)\(i)\"\n" }
        let recs = try read(Array(text.utf8))
        #expect(recs.count == 5)
        #expect(recs.dropFirst().enumerated().allSatisfy { $1.1 == [long + String($0)] })
    }

    @Test("counting records: quoted line ends are not record ends; blank lines and a missing last line end are handled")
    func counting() throws {
        let dir = try temporaryDirectory()
        for (text, n) in [("", 0), ("h\n", 1), ("h", 1), ("h\r\n\r\n\n", 1), ("h\n\"a\nb\",\"\"\"\n\"\n1\n", 3), ("h\n\"x\"\"\n\"\n", 2)] {
            let url = dir.appendingPathComponent("c.csv")
            try Data(text.utf8).write(to: url)
            #expect(try CSVReader(path: url.path).countRecords() == n, "\(text.debugDescription)")
        }
    }
}
