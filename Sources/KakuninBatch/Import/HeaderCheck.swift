import Foundation
import KakuninCore
import KakuninRuntime

/// The header check: the file's first row names the feed's columns, in any order, the optional
/// ones or not, and no Individual Number column. Anything else refuses the whole file before a
/// row is stored.
struct HeaderCheck {
    let format: FeedFormat

    /// Maps the header to the format's columns, in any order (-1: an optional column the file
    /// leaves out, read as blank on every row); refuses a wrong header. The
    /// message never quotes what was found (a file without a header starts with a member's
    /// data): only column names close to an expected one are named, the rest are counted.
    func map(_ record: CSVRecord) throws -> [Int] {
        let expected = format.columns.map(\.name)
        let want = "Expected the header row: \(expected.joined(separator: ","))"
        var names: [String] = []
        for i in 0..<record.count {
            let f = record.field(i)
            if f.contains(0) {
                throw FeedImporter.Refusal(
                    message:
                        "the header holds NUL bytes: the file looks like UTF-16 or a binary file; feeds must be UTF-8 (convert with `iconv -f UTF-16LE -t UTF-8 FILE > FILE.utf8`)"
                )
            }
            if f.contains(13) {
                throw FeedImporter.Refusal(
                    message:
                        "the file uses CR-only line ends (old Mac format), so it reads as one line; convert it: tr '\\r' '\\n' < FILE > FILE.lf"
                )
            }
            guard FieldValidator.isValidUTF8(f) else {
                throw FeedImporter.Refusal(
                    message: "the header is not UTF-8; feeds must be UTF-8: convert with `iconv -f CP932 -t UTF-8 FILE > FILE.utf8`")
            }
            names.append(record.string(i).trimmingCharacters(in: .whitespaces).lowercased())
        }
        if let bad = names.first(where: FieldValidator.isIndividualNumberHeader) {
            let shown = bad.count <= 40 ? "'\(bad)'" : "at position \(names.firstIndex(of: bad)! + 1)"
            throw FeedImporter.Refusal(
                message:
                    "column \(shown) is an Individual Number (個人番号) column; kakunin never stores Individual Numbers: remove the column from the extract and import again"
            )
        }
        let optional = Set(format.columns.filter(\.optional).map(\.name))
        let missing = expected.filter { !names.contains($0) && !optional.contains($0) }
        let unexpected = names.enumerated().filter { !expected.contains($0.element) }
        var dupes: [String] = []
        for n in Set(names) where expected.contains(n) && names.filter({ $0 == n }).count > 1 { dupes.append(n) }
        if !names.contains(where: expected.contains) {
            throw FeedImporter.Refusal(
                message:
                    "this is not a \(format.name.rawValue) feed: the first line has \(record.count) fields and none of them is a column name of the feed (a file without its header row starts with data). \(want)"
            )
        }
        if !missing.isEmpty || !unexpected.isEmpty || !dupes.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing column(s) \(missing.joined(separator: ", "))") }
            var named: [String] = []
            var unnamed: [Int] = []
            for (position, name) in unexpected {
                if let close = missing.first(where: {
                    ParameterFile.editDistance($0, name) <= 2
                        || (name.count >= 4 && ($0.contains(name) || name.contains($0)))
                }) {
                    named.append("'\(name)' (did you mean \(close)?)")
                } else {
                    unnamed.append(position + 1)
                }
            }
            if !named.isEmpty { parts.append("unexpected column(s) \(named.prefix(10).joined(separator: ", "))") }
            if !unnamed.isEmpty {
                let where_ = unnamed.prefix(10).map(String.init).joined(separator: ", ") + (unnamed.count > 10 ? ", …" : "")
                parts.append(
                    "\(unnamed.count) field(s) that are not column names of the feed, at position(s) \(where_) (not shown: they may hold data)"
                )
            }
            if !dupes.isEmpty { parts.append("repeated column(s) \(dupes.sorted().joined(separator: ", "))") }
            throw FeedImporter.Refusal(message: "this is not a \(format.name.rawValue) feed: \(parts.joined(separator: "; ")). \(want)")
        }
        return expected.map { names.firstIndex(of: $0) ?? -1 }
    }
}
