import Foundation
import KakuninCore
import KakuninRuntime

/// The printable member letters of a run (`letters_<language>.html`: A4, a page per letter,
/// self-contained), written on request from the run's published `inserts.csv` and
/// `letter_paragraphs.csv` alone (`kakunin letters html`). A page is the letter's opening and
/// reference line (envelope · member · document No. certificate), each of its paragraphs' page
/// parts with the name as printed filled in (escaped), then its footer: the bytes the nightly
/// run wrote itself before the letters became variable data by reference.
public enum LetterPages {
    /// One HTML file written.
    public struct File: Sendable {
        public let name: String, language: String
        public let pages: Int, bytes: Int
        public let sha256: String
    }

    /// Writes the HTML files of run `runID` (its folder `dir`) into `out`, one per letter
    /// language, or only `language`'s. Files are owner-only; an existing one is replaced.
    public static func write(runID: Int, from dir: URL, language: String?, to out: URL) throws -> [File] {
        let inserts = dir.appendingPathComponent(InsertFiles.csvName)
        guard let reader = try? CSVReader(path: inserts.path) else {
            throw OperatorError(
                .notFound, "run \(runID) has no \(InsertFiles.csvName) in \(dir.path)",
                fix:
                    "give the folder the run wrote its mailing files to (--files); a run under member_letters = off (its manifest says so) has no letters"
            )
        }
        let paragraphs = try pageParts(dir.appendingPathComponent(InsertFiles.paragraphsName), runFolder: dir)
        try OwnerOnlyFile.makeDirectory(out)
        var writer = PageWriter(runID: runID, out: out, paragraphs: paragraphs)
        var columns: [Int]?
        do {
            try reader.forEachRecord { r in
                guard let c = columns else {
                    let header = (0..<r.count).map { r.string($0) }
                    columns = try InsertFiles.header.map { name in
                        guard let i = header.firstIndex(of: name) else {
                            throw OperatorError(
                                .checkFailed, "\(inserts.path) has no column \(name)",
                                fix: "only runs that wrote letter_paragraphs.csv have their pages written on request")
                        }
                        return i
                    }
                    return true
                }
                let l = r.string(c[3])
                if language == nil || language == l { try writer.add(r, c, language: l) }
                return true
            }
            return try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Per paragraph id, its page part split at the name's placeholder.
    private static func pageParts(_ url: URL, runFolder: URL) throws -> [[UInt8]: [[UInt8]]] {
        guard let reader = try? CSVReader(path: url.path) else {
            throw OperatorError(
                .notFound, "no \(InsertFiles.paragraphsName) in \(runFolder.path)",
                fix:
                    "give the folder the run wrote its mailing files to (--files); runs before letter_paragraphs.csv carry their pages already"
            )
        }
        var parts: [[UInt8]: [[UInt8]]] = [:]
        var columns: (id: Int, html: Int)?
        try reader.forEachRecord { r in
            guard let c = columns else {
                let header = (0..<r.count).map { r.string($0) }
                guard let id = header.firstIndex(of: "paragraph_id"), let html = header.firstIndex(of: "html") else {
                    throw OperatorError(
                        .checkFailed, "\(url.path) lacks the columns paragraph_id and html",
                        fix: "write the run's files again (kakunin run --rebuild-files)")
                }
                columns = (id, html)
                return true
            }
            parts[Array(r.field(c.id))] = split(Array(r.field(c.html)))
            return true
        }
        return parts
    }

    /// `text` cut at each `{name}`.
    static func split(_ text: [UInt8]) -> [[UInt8]] {
        let marker = Array(InsertFiles.namePlaceholder.utf8)
        var parts: [[UInt8]] = []
        var start = 0
        var i = 0
        while i + marker.count <= text.count {
            if text[i..<i + marker.count].elementsEqual(marker) {
                parts.append(Array(text[start..<i]))
                i += marker.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Array(text[start...]))
        return parts
    }
}

/// The files being written, one per language, opened at its first page.
private struct PageWriter {
    let runID: Int, out: URL
    let paragraphs: [[UInt8]: [[UInt8]]]
    var files: [String: HashedFile] = [:]
    var page: [UInt8] = [], name: [UInt8] = []

    init(runID: Int, out: URL, paragraphs: [[UInt8]: [[UInt8]]]) {
        self.runID = runID
        self.out = out
        self.paragraphs = paragraphs
    }

    /// One row of inserts.csv (its columns `c` in `InsertFiles.header` order) as a page.
    mutating func add(_ r: CSVRecord, _ c: [Int], language: String) throws {
        let file =
            try files[language]
            ?? {
                let url = out.appendingPathComponent(InsertFiles.htmlName(language))
                try? FileManager.default.removeItem(at: url)
                let f = try HashedFile(
                    out, InsertFiles.htmlName(language),
                    head: LetterHTML.head(language: language, title: "kakunin run \(runID): member letters (\(language))"))
                files[language] = f
                return f
            }()
        let number = r.string(c[5])
        let reference = InsertFiles.reference(
            envelope: r.string(c[0]), member: r.string(c[1]),
            document: LetterDocument(rawValue: r.string(c[2])) ?? .certificate, number: Int64(number))
        name.removeAll(keepingCapacity: true)
        LetterHTML.escape(Array(r.field(c[4])), to: &name)
        page.removeAll(keepingCapacity: true)
        page.append(contentsOf: LetterHTML.pageStart(language: language, reference: LetterHTML.escape(reference)).utf8)
        for k in 6..<c.count {
            guard let parts = paragraphs[Array(r.field(c[k]))] else {
                throw OperatorError(
                    .checkFailed,
                    "the letter of member \(r.string(c[1])) refers to paragraph \(r.string(c[k])), which \(InsertFiles.paragraphsName) does not define",
                    fix: "the run's files are damaged: write them again (kakunin run --rebuild-files)")
            }
            for (i, part) in parts.enumerated() {
                if i > 0 { page.append(contentsOf: name) }
                page.append(contentsOf: part)
            }
        }
        page.append(contentsOf: LetterHTML.pageEnd(language: language).utf8)
        try file.add(page)
    }

    /// Closes the files (fsync), in the languages' order.
    func finish() throws -> [LetterPages.File] {
        try files.keys.sorted(by: InsertFiles.languageOrder).map { language in
            let e = try files[language]!.finish(tail: LetterHTML.tail)
            return LetterPages.File(name: e.name, language: language, pages: e.records, bytes: e.bytes, sha256: e.sha256)
        }
    }

    func abandon() {
        for f in files.values { f.remove() }
    }
}
