import KakuninCore
import KakuninRuntime
import Testing

/// Issue 34 item 5: the short cuts of the mailing thread's inner loops give what the plain
/// loops gave.
@Suite("Mailing thread short cuts (issue 34 item 5)")
struct MailingHotPathTests {
    /// What the vendor's UTF-8 check let through one byte at a time: printable ASCII.
    static func printable(_ b: UInt8) -> Bool { b >= 0x20 && b != 0x7F && b < 0x80 }

    @Test("UTF-8 vendor lines: eight ASCII bytes checked at once refuse a control character or DEL wherever it stands, as byte by byte")
    func asciiWords() {
        let utf8 = VendorEncoder(.utf8)
        for v in UInt8(0)..<0x80 {
            for at in 0..<19 {
                var line = Array(repeating: UInt8(ascii: "7"), count: 19)
                line[at] = v
                let got = line.withUnsafeBufferPointer { utf8.encode($0, into: nil) }
                #expect(got == (Self.printable(v) ? line.count : nil), "byte \(v) at \(at)")
            }
        }
        // Multi-byte text beside ASCII runs of every length up to two words.
        for n in 0..<17 {
            let line = Array((String(repeating: "a", count: n) + "東京都" + String(repeating: "-", count: n)).utf8)
            #expect(line.withUnsafeBufferPointer { utf8.encode($0, into: nil) } == line.count)
        }
    }

    @Test("mail classes compare in their listed order: the stricter class an envelope takes")
    func mailClassOrder() {
        let all = InsurerParameters.MailClass.allCases
        #expect(all.sorted() == all)
        for (i, a) in all.enumerated() {
            for (j, b) in all.enumerated() { #expect((a < b) == (i < j)) }
        }
    }
}
