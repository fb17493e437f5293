import Foundation
import KakuninRuntime
import KakuninTesting
import Testing

@testable import KakuninBatch

/// Issue 34 item 5: the report reads the published files back record by record, in buffers it
/// reuses (no allocation per record or field). Each way of breaking a file still fails the
/// check that reads it, with the same message; files written another way that mean the same
/// (CRLF line ends, a quoted field, no line end after the last record) still pass.
@Suite("Report's reading back of the published files", .serialized)
struct EnvelopeReadBackTests {
    let mail = MailFilesTests()

    /// One run of the nhi household (D1, D2, H in one envelope) and S alone; the report of run 1
    /// read again after `edit` changed file `name`, then the file put back.
    func report(_ tdb: TestDatabase, _ dir: URL, _ name: String, _ edit: (String) -> String) throws -> String {
        let url = mail.files(dir).appendingPathComponent(name)
        let original = try Data(contentsOf: url)
        defer { try? original.write(to: url) }
        let text = String(decoding: original, as: UTF8.self)
        let changed = edit(text)
        #expect(changed != text, "the edit of \(name) changed it")
        try Data(changed.utf8).write(to: url)
        let r = try runKakunin(["report", "--run", "1", "--out", dir.appendingPathComponent("out").path], database: tdb)
        return r.stdout + r.stderr
    }

    func prepared() throws -> (TestDatabase, URL) {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try mail.household(tdb, dir)
        let r = try mail.run(tdb, dir, params: try mail.params(dir, ["nhi_mixed_household = stricter_class"]))
        #expect(r.status == 0 && r.stdout.contains("[pass] every document is in exactly one envelope"), "\(r.stdout)\(r.stderr)")
        return (tdb, dir)
    }

    static let envelopeCheck = "every document is in exactly one envelope"
    static let letterCheck = "one member letter per mailed document"

    @Test("files written another way that mean the same pass: CRLF line ends, quoted fields, no line end after the last record")
    func sameMeaning() throws {
        let (tdb, dir) = try prepared()
        // envelopes.csv in CRLF with its member lists quoted: the general split, not the fast one.
        let crlf = try report(tdb, dir, "envelopes.csv") {
            $0.replacingOccurrences(of: "D1;D2;H", with: "\"D1;D2;H\"").replacingOccurrences(of: "\n", with: "\r\n")
        }
        #expect(crlf.contains("[pass] \(Self.envelopeCheck)") && crlf.contains("Postage: 2 envelopes, 430 yen"), "\(crlf)")
        #expect(crlf.contains("[pass] \(Self.letterCheck)"), "\(crlf)")
        // The last record without its line end: still read, still counted.
        let unended = try report(tdb, dir, "certificates.csv") { String($0.dropLast()) }
        #expect(unended.contains("[pass] \(Self.envelopeCheck)") && unended.contains("2 envelopes (manifest 2), 4 documents"), "\(unended)")
        #expect(unended.contains("[pass] certificates issued = mailing records"), "\(unended)")
        // A letter's member quoted (its paragraphs after it are read as they are).
        let quoted = try report(tdb, dir, "inserts.csv") { $0.replacingOccurrences(of: "H-HH1,D2,", with: "H-HH1,\"D2\",") }
        #expect(quoted.contains("[pass] \(Self.letterCheck)"), "\(quoted)")
    }

    @Test("each broken file fails its check with what is wrong: counts, order, strays, members, letters")
    func broken() throws {
        let (tdb, dir) = try prepared()
        let cases: [(String, (String) -> String, [String])] = [
            (
                "envelopes.csv", { $0.replacingOccurrences(of: ",2,1,0,3,D1;D2;H,", with: ",3,1,0,3,D1;D2;H,") },
                ["[FAIL] \(Self.envelopeCheck)", "envelope H-HH1: certificates.csv count 3, documents 2"]
            ),
            (
                "envelopes.csv",
                { t in
                    let lines = t.split(separator: "\n", omittingEmptySubsequences: false)
                    return ([lines[0], lines[2], lines[1]] + lines[3...]).joined(separator: "\n")
                },
                ["[FAIL] \(Self.envelopeCheck)", "envelope H-HH1 is out of order or listed twice"]
            ),
            (
                "eligibility_notices.csv", { $0.replacingOccurrences(of: "\nH-HH1,D1,", with: "\nH-HH0,D1,") },
                [
                    "envelope H-HH1: eligibility_notices.csv count 1, documents 0",
                    "2 records of eligibility_notices.csv are in no envelope of envelopes.csv (first: member D1 in envelope H-HH0)",
                ]
            ),
            (
                "envelopes.csv", { $0.replacingOccurrences(of: "D1;D2;H", with: "D1;D2;D2") },
                ["envelope H-HH1: lists members D1;D2;D2, its documents are for D2;H;D1"]
            ),
            (
                "inserts.csv", { $0.replacingOccurrences(of: "H-HH1,D2,", with: "H-HH1,D9,") },
                ["[FAIL] \(Self.envelopeCheck)", "envelope H-HH1: 3 letters in inserts.csv for 3 documents (letters for", "D9"]
            ),
            (
                "envelopes.csv", { $0.replacingOccurrences(of: ",D1;D2;H,320,3,", with: ",D1;D2;H,320,4,") },
                ["envelope H-HH1: envelopes.csv counts 4 inserts, inserts.csv has 3"]
            ),
            (
                "inserts.csv", { $0 + "Z-ZZ,Q,certificate,ja,x,1\n" },
                ["[FAIL] \(Self.envelopeCheck)", "1 letters of inserts.csv are in no envelope of envelopes.csv"]
            ),
        ]
        for (name, edit, expected) in cases {
            let out = try report(tdb, dir, name, edit)
            for e in expected { #expect(out.contains(e), "\(name): \(e)\n\(out)") }
        }
        // Everything put back: the check passes again.
        let r = try runKakunin(["report", "--run", "1", "--out", dir.appendingPathComponent("out").path], database: tdb)
        #expect(r.stdout.contains("[pass] \(Self.envelopeCheck)") && r.stdout.contains("[pass] \(Self.letterCheck)"), "\(r.stdout)")
    }

    @Test("CP932 files: the walk and the counts read them back (ids and numbers are ASCII in both encodings)")
    func cp932() throws {
        let tdb = try TestDatabase()
        let dir = try temporaryDirectory()
        try mail.household(tdb, dir)
        let r = try mail.run(tdb, dir, params: try mail.params(dir, ["nhi_mixed_household = stricter_class", "vendor_encoding = cp932"]))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[pass] \(Self.envelopeCheck)") && r.stdout.contains("Postage: 2 envelopes, 430 yen"), "\(r.stdout)")
        #expect(r.stdout.contains("[pass] certificates issued = mailing records"), "\(r.stdout)")
        let broken = try report(tdb, dir, "envelopes.csv") { _ in "" }
        #expect(broken.contains("[FAIL] \(Self.envelopeCheck)"), "\(broken)")
    }
}

/// The record reader itself: the fast split (eight bytes at a time) and the general one give
/// the fields a plain reading of the line gives.
@Suite("Line records: fields as a plain reading gives them")
struct LineRecordsTests {
    /// The line's fields, quotes undone, CRs outside quotes dropped (the reference).
    static func plain(_ line: [UInt8]) -> [[UInt8]] {
        var fields: [[UInt8]] = [[]]
        var quoted = false
        var i = 0
        while i < line.count {
            let b = line[i]
            if quoted {
                if b == 34 && i + 1 < line.count && line[i + 1] == 34 {
                    fields[fields.count - 1].append(34)
                    i += 1
                } else if b == 34 {
                    quoted = false
                } else {
                    fields[fields.count - 1].append(b)
                }
            } else if b == 34 {
                quoted = true
            } else if b == 44 {
                fields.append([])
            } else if b != 13 {
                fields[fields.count - 1].append(b)
            }
            i += 1
        }
        return fields
    }

    @Test("random lines (commas, quotes, CRs, multibyte text, long fields), all columns and some, with and without a last line end")
    func randomLines() throws {
        let dir = try temporaryDirectory()
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefgh0123,,\"\r".utf8) + [0xE9, 0x95, 0xB7]
        for round in 0..<40 {
            var lines: [[UInt8]] = [Array("c0,c1,c2,c3,c4,c5".utf8)]
            for _ in 0..<200 {
                lines.append((0..<Int.random(in: 0..<60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            }
            lines[lines.count - 1].append(UInt8(ascii: "x"))  // a last line, whether a line end follows it or not
            let url = dir.appendingPathComponent("r.csv")
            let text = lines.map { $0 + [10] }.joined().dropLast(round % 2)
            try Data(text).write(to: url)
            let columns = round % 3 == 0 ? [3, 0] : [1, 4, 2]
            let records = try LineRecords(url)
            #expect(records.header == ["c0", "c1", "c2", "c3", "c4", "c5"])
            records.keep(columns)
            var read: [[[UInt8]]] = []
            while try records.peek() {
                read.append((0..<records.count).map { records.field($0) })
                records.consume()
            }
            let expected = lines.dropFirst().map { line in
                let f = Self.plain(line)
                return columns.map { $0 < f.count ? f[$0] : [] }
            }
            #expect(read == Array(expected), "round \(round)")
        }
    }
}
