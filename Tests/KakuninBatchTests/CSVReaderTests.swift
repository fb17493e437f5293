import Foundation
import KakuninBatch
import KakuninTesting
import Testing

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

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
        #expect(recs[3].2?.contains("never closed") == true)
        #expect(recs[0].2 == nil)
    }

    @Test("records across the 1 MiB read boundary are whole")
    func boundary() throws {
        var text = "h\n"
        let long = String(repeating: "長", count: 200_000)  // 600 KB per field
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

    /// The count as it was taken byte by byte before memchr (the reference the fast count keeps).
    static func referenceCount(_ bytes: [UInt8]) -> Int {
        var quoted = false
        var content = false
        var records = 0
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""):
                quoted.toggle()
                content = true
            case UInt8(ascii: "\n") where !quoted:
                if content { records += 1 }
                content = false
            case UInt8(ascii: "\r") where !quoted: break
            default: content = true
            }
        }
        return content ? records + 1 : records
    }

    @Test(
        "counting with memchr (issue 34 item 5) agrees with the byte-by-byte count: quoted line ends, CR-only lines, no last line end, across the 1 MiB reads"
    )
    func countingAgrees() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("c.csv")
        let fixed: [String] = [
            "h\n\r\r\n\rx\n", "\r", "\"", "a\"\"b\n\"\n\n\"\n", "h\n\"a\nb\"\r\n\r\n,\n", "\n\n\n", "x,\"\n\"", "\"\"\n\"\"",
        ]
        var texts = fixed.map { Array($0.utf8) }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab,\"\n\r".utf8) + [0xE9, 0x95, 0xB7]  // 長 in UTF-8, bytes CP932 shares
        for size in [1, 7, 64, 500] { for _ in 0..<40 { texts.append((0..<size).map { _ in alphabet.randomElement(using: &rng)! }) } }
        // Across the reads: a quoted part, a CR-only line and a line end falling on the 1 MiB edge.
        let edge = 1 << 20
        for tail in ["\"\n\n\"\nx", "\r\r\n\n", "\n\"", "z"] {
            var big = [UInt8](repeating: UInt8(ascii: "a"), count: edge - 2)
            for i in stride(from: 100, to: big.count, by: 97) { big[i] = UInt8(ascii: "\n") }
            texts.append(big + Array(tail.utf8) + Array("row\n".utf8))
        }
        for text in texts {
            try Data(text).write(to: url)
            #expect(
                try CSVReader(path: url.path).countRecords() == Self.referenceCount(text),
                "\(String(decoding: text.prefix(80), as: UTF8.self).debugDescription)")
        }
    }

    @Test(
        "CSVField.quote decides on bytes where it can (issue 34 item 5) and gives what the character-level rule gives: CRLF and combining marks included"
    )
    func quoteAsCharacters() {
        func reference(_ s: String) -> String {
            if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return s
        }
        let cases = [
            "", "plain", "長い日本語の段落", "a,b", "say \"hi\"", "<h1>見出し</h1>\n<p>本文</p>\n", "a\r\nb", "a\rb", "\r\n",
            ",\u{301}", "\"\u{301}", "x\n\u{301}", "\r\u{301}", "\u{301}\n", "a\r\n\nb", "\r\n\"", "e\u{301},", "🇯🇵\n",
        ]
        for s in cases { #expect(CSVField.quote(s) == reference(s), "\(s.debugDescription)") }
        var rng = SystemRandomNumberGenerator()
        let parts = [",", "\"", "\n", "\r", "\r\n", "\u{301}", "\u{200D}", "a", "長", "🇯🇵", " "]
        for _ in 0..<2000 {
            let s = (0..<Int.random(in: 0..<8, using: &rng)).map { _ in parts.randomElement(using: &rng)! }.joined()
            #expect(CSVField.quote(s) == reference(s), "\(s.debugDescription)")
        }
    }

    @Test("an unclosed quote marks its line and every later line is read again (issue 9 item 6)")
    func unclosedQuote() throws {
        let recs = try read(Array("h1,h2\na,1\n\"b,2\nc,3\nd,4\n".utf8))
        #expect(recs.map(\.0) == [1, 2, 3, 4, 5], "every physical line is accounted for")
        #expect(recs[2].2?.contains("quote opened in field 1 is never closed") == true)
        #expect(recs[3].1 == ["c", "3"] && recs[3].2 == nil)
        #expect(recs[4].1 == ["d", "4"] && recs[4].2 == nil)
        // Two unclosed quotes: both lines marked, the rest read.
        let two = try read(Array("h\n\"x\ny\n\"z\nw\n".utf8))
        #expect(two.map(\.0) == [1, 2, 3, 4, 5])
        #expect(two.map { $0.2 != nil } == [false, true, false, true, false])
    }

    @Test("a record longer than 1 MiB refuses the file, memory stays bounded (issue 9 item 7)")
    func recordCap() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("zeros.csv")
        try Data(count: 3 << 20).write(to: url)  // like /dev/zero: no line end at all
        var seen = 0
        #expect(throws: CSVUnreadable.self) {
            try CSVReader(path: url.path).forEachRecord { _ in
                seen += 1
                return true
            }
        }
        #expect(seen == 0)
        let quoted = dir.appendingPathComponent("quote.csv")
        try Data(("h\n\"" + String(repeating: "x\n", count: 700_000)).utf8).write(to: quoted)
        do {
            try CSVReader(path: quoted.path).forEachRecord { _ in true }
            Issue.record("a 1.4 MB quoted field was accepted")
        } catch let e as CSVUnreadable {
            #expect(e.message.contains("quote opened on line 2 is never closed"), "\(e.message)")
        }
        // Real /dev/zero: refused after at most a few MiB, not read forever.
        #expect(throws: CSVUnreadable.self) { try CSVReader(path: "/dev/zero").forEachRecord { _ in true } }
    }

    @Test("a UTF-16 byte-order mark refuses the file")
    func utf16() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("u16.csv")
        try "a,b\n1,2\n".data(using: .utf16LittleEndian).map { Data([0xFF, 0xFE]) + $0 }!.write(to: url)
        #expect(throws: CSVUnreadable.self) { try CSVReader(path: url.path).forEachRecord { _ in true } }
    }

    @Test("a FIFO is opened once and can be rewound (issue 9 item 9)")
    func fifoRewind() throws {
        let dir = try temporaryDirectory()
        let fifo = dir.appendingPathComponent("feed.fifo")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let text = "h\n" + (1...5000).map { "row\($0),\"quoted \($0)\"" }.joined(separator: "\n") + "\n"
        let writer = Thread {
            let fd = open(fifo.path, O_WRONLY)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        writer.start()
        let reader = try CSVReader(path: fifo.path, spoolDirectory: dir)
        var first: [String] = []
        try reader.forEachRecord { r in
            first.append(r.string(0))
            return first.count < 3
        }
        try reader.rewind()
        var all: [String] = []
        try reader.forEachRecord { r in
            all.append(r.string(0))
            return true
        }
        #expect(first == ["h", "row1", "row2"])
        #expect(all.count == 5001 && all.last == "row5000")
        #expect(reader.bytesRead == text.utf8.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["feed.fifo"], "the scratch copy is nameless")
    }
}
