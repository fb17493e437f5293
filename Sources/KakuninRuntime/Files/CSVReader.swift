import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One record of a CSV file, valid only inside the reader's callback.
public struct CSVRecord {
    /// Line of the file on which the record starts (the header is line 1).
    public let line: Int
    /// Set when the record's quoting is broken; the record should be rejected.
    public let malformed: String?
    @usableFromInline package let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline package let ends: UnsafeBufferPointer<Int>

    package init(line: Int, malformed: String?, bytes: UnsafeBufferPointer<UInt8>, ends: UnsafeBufferPointer<Int>) {
        self.line = line
        self.malformed = malformed
        self.bytes = bytes
        self.ends = ends
    }

    @inlinable public var count: Int { ends.count }

    /// The unescaped bytes of field `i` (inlinable: an import asks for every field of a
    /// million records several times, across modules).
    @inlinable public func field(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        let start = i == 0 ? 0 : ends[i &- 1]
        let end = ends[i]
        precondition(start <= end && end <= bytes.count, "a record's field ends lie within its bytes")
        return UnsafeBufferPointer(start: bytes.baseAddress.map { $0 + start }, count: end &- start)
    }

    public func string(_ i: Int) -> String { String(decoding: field(i), as: UTF8.self) }
}

/// An error reading a file (not a bad row: those are records with `malformed` set).
public struct FileReadError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot read \(path): \(reason)" }

    package init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// The input is not a CSV file kakunin can read at all (refused as a whole): a record longer
/// than the limit (a binary file, a file without line ends), or a UTF-16 byte-order mark.
/// The message never quotes the data.
public struct CSVUnreadable: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The records of a file given chunk by chunk (`CSVReader.countRecords`): line ends outside
/// quotes, lines holding nothing but CRs skipped. memchr finds the next quote and the line
/// ends before it: a line is not looked at byte by byte.
struct RecordCount {
    private var quoted = false
    /// The line read so far holds something (a quote, or a byte other than CR).
    private var content = false
    private var records = 0

    /// The records counted, the last line's too when no line end follows it.
    var total: Int { content ? records + 1 : records }

    mutating func add(_ chunk: UnsafeBufferPointer<UInt8>) {
        guard let base = chunk.baseAddress else { return }
        let n = chunk.count
        var i = 0
        while i < n {
            if quoted {
                // Up to the closing quote: line ends in a quoted field end no record.
                guard let q = memchr(base + i, 34, n - i) else { return }
                i = UnsafeRawPointer(q).assumingMemoryBound(to: UInt8.self) - base + 1
                quoted = false
                continue
            }
            let q = memchr(base + i, 34, n - i).map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) - base } ?? n
            lines(base, from: i, to: q)
            guard q < n else { return }
            quoted = true
            content = true
            i = q + 1
        }
    }

    /// The line ends of `from..<to` (no quote there).
    private mutating func lines(_ base: UnsafePointer<UInt8>, from: Int, to: Int) {
        var i = from
        while i < to {
            let nl = memchr(base + i, 10, to - i).map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) - base } ?? to
            if !content {
                var j = i
                while j < nl && base[j] == 13 { j += 1 }
                content = j < nl
            }
            guard nl < to else { return }
            if content { records += 1 }
            content = false
            i = nl + 1
        }
    }
}

/// Where the bytes come from: a file, a FIFO, a pipe or standard input (`-`), opened once.
/// A regular file is rewound by seeking; anything else is copied, as it is read, into a nameless
/// owner-only scratch file (unlinked at once), and a rewind replays that copy before reading on.
package final class InputSource {
    package let fd: Int32
    private let owned: Bool
    private let seekable: Bool
    private let spoolDirectory: URL?
    private var spool: Int32 = -1
    private var spooled: off_t = 0
    private var position: off_t = 0

    package init(path: String, spoolDirectory: URL?) throws {
        if path == "-" {
            fd = 0
            owned = false
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
            owned = true
        }
        var st = stat()
        seekable = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && lseek(fd, 0, SEEK_CUR) >= 0
        self.spoolDirectory = spoolDirectory
        if !seekable && (st.st_mode & S_IFMT) == S_IFDIR {
            if owned { close(fd) }
            throw FileReadError(path: path, reason: "it is a folder, not a file")
        }
    }

    deinit {
        if owned { close(fd) }
        if spool >= 0 { close(spool) }
    }

    package func read(_ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
        if seekable { return Glibc.read(fd, buffer, count) }
        if position < spooled {
            let n = pread(spool, buffer, min(count, Int(spooled - position)), position)
            if n > 0 { position += off_t(n) }
            return n
        }
        let n = Glibc.read(fd, buffer, count)
        if n > 0 {
            if spool < 0 { spool = makeSpool() }
            var off = 0
            while off < n && spool >= 0 {
                let w = pwrite(spool, buffer + off, n - off, spooled + off_t(off))
                if w < 0 {
                    if errno == EINTR { continue }
                    return -1
                }
                off += w
            }
            spooled += off_t(n)
            position = spooled
        }
        return n
    }

    /// Back to the first byte.
    package func rewind() throws {
        if seekable {
            guard lseek(fd, 0, SEEK_SET) == 0 else {
                throw FileReadError(path: "input", reason: "cannot rewind: \(String(cString: strerror(errno)))")
            }
        } else {
            position = 0
        }
    }

    private func makeSpool() -> Int32 {
        let dir = spoolDirectory ?? FileManager.default.temporaryDirectory
        var template = Array(dir.appendingPathComponent(".kakunin-input-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd >= 0 {
            unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return fd
    }
}

/// A streaming RFC 4180 reader working on bytes: quoted fields with doubled quotes, embedded
/// newlines, CRLF or LF line ends. Reads 1 MiB at a time, so memory does not grow with the file,
/// and a record may hold at most `maxRecordBytes`: a longer one refuses the file.
///
/// A quote that is never closed does not swallow the rest of the file: the record where it
/// opened is marked malformed (its first line), and the lines after it are read again as rows
/// of their own, so every physical line is accounted for.
public final class CSVReader {
    private let input: InputSource
    public let path: String
    /// Called with every chunk read, e.g. to hash the file.
    public var onChunk: ((UnsafeRawBufferPointer) -> Void)?
    public private(set) var bytesRead = 0
    /// The largest record accepted (a member row is well under 1 KiB).
    public static let maxRecordBytes = 1 << 20

    /// `path` may be `-` for standard input; a pipe or FIFO is read once and kept in a
    /// nameless scratch file in `spoolDirectory` so that `rewind` can replay it.
    public init(path: String, spoolDirectory: URL? = nil) throws {
        self.path = path
        input = try InputSource(path: path, spoolDirectory: spoolDirectory)
    }

    /// Starts again from the first byte (`bytesRead` too).
    public func rewind() throws {
        try input.rewind()
        bytesRead = 0
    }

    /// The number of records in the file, the header included, counted without splitting
    /// fields: line ends outside quotes, blank lines skipped, as `forEachRecord` reads a
    /// well-formed file (it is for files kakunin wrote; a stray quote inside an unquoted field,
    /// which the reader marks malformed, is taken here as opening a quoted part).
    public func countRecords() throws -> Int {
        var count = RecordCount()
        _ = try readChunks { chunk, n in
            count.add(UnsafeBufferPointer(start: chunk, count: n))
            return true
        }
        return count.total
    }

    /// Reads the rest of the input 1 MiB at a time, giving each chunk to `onChunk`, then to
    /// `body` until it returns false. Returns false when `body` stopped the reading.
    private func readChunks(_ body: (UnsafeMutablePointer<UInt8>, Int) throws -> Bool) throws -> Bool {
        let chunkSize = 1 << 20
        let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        while true {
            let n = input.read(chunk, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { return true }
            bytesRead += n
            onChunk?(UnsafeRawBufferPointer(start: chunk, count: n))
            if !(try body(chunk, n)) { return false }
        }
    }

    /// Calls `body` for each record; blank lines are skipped. Stops early when `body` returns false.
    public func forEachRecord(_ body: (CSVRecord) throws -> Bool) throws {
        enum Mode { case fieldStart, unquoted, quoted, quoteInQuoted }
        // The parser's state, passed `inout` to the functions below: one exclusive access per
        // chunk instead of one per byte (captured variables are checked at run time).
        struct State {
            var record: [UInt8] = []
            var ends: [Int] = []
            var state = Mode.fieldStart
            var line = 1, recordLine = 1
            var malformed: String?
            var pendingCR = false
            var first = true
            var sawCR = false
            // From the first line end inside a quoted field on, the raw bytes of the record are
            // kept, so that a quote never closed can be cut off and the lines after it read again.
            var capturing = false
            var raw: [UInt8] = []
            var cut = (record: 0, ends: 0, field: 0, line: 0)
            // Bytes to read again before going on: the lines after a malformed record's first.
            var replay: [UInt8]? = nil
        }
        var st = State()
        st.record.reserveCapacity(4096)
        st.ends.reserveCapacity(64)

        func emit(_ st: inout State) throws -> Bool {
            if st.capturing && st.malformed != nil {
                // A broken record that runs over several lines is most likely a stray quote:
                // it ends at its first line end, and the lines after it are read again.
                st.record.removeSubrange(st.cut.record...)
                st.ends.removeSubrange(st.cut.ends...)
                st.ends.append(st.record.count)
                st.replay = st.raw
                st.line = st.cut.line + 1
            }
            defer {
                st.record.removeAll(keepingCapacity: true)
                st.ends.removeAll(keepingCapacity: true)
                st.malformed = nil
                st.state = .fieldStart
                st.capturing = false
                st.raw.removeAll(keepingCapacity: true)
            }
            if st.ends.count == 1 && st.ends[0] == 0 && st.malformed == nil { return true }  // blank line
            return try st.record.withUnsafeBufferPointer { rb in
                try st.ends.withUnsafeBufferPointer { eb in
                    try body(CSVRecord(line: st.recordLine, malformed: st.malformed, bytes: rb, ends: eb))
                }
            }
        }

        func tooLong(_ st: State) -> CSVUnreadable {
            var m = "the record starting at line \(st.recordLine) is longer than \(Self.maxRecordBytes / 1024) KiB: "
            if st.state == .quoted {
                m +=
                    "a quote opened on line \(st.capturing ? st.cut.line : st.recordLine) is never closed. Close the quote (a quote inside a field is written twice: \"\")"
            } else if st.sawCR {
                m += "the file seems to use CR-only line ends (old Mac format). Convert it: tr '\\r' '\\n' < FILE > FILE.lf"
            } else {
                m += "this is not a CSV feed (a binary file, or a file without line ends). Check the file given"
            }
            return CSVUnreadable(message: m)
        }

        /// A line end outside quotes (`i`: the byte after it) ends the record. False when `body`
        /// stopped the reading; `handOff` set when the lines after a malformed record's first
        /// must be read again before the rest of the chunk.
        @inline(__always)
        func endRecord(_ st: inout State, _ chunk: UnsafePointer<UInt8>, _ n: Int, _ i: Int, _ handOff: inout [UInt8]?) throws -> Bool {
            st.ends.append(st.record.count)
            st.line += 1
            if !(try emit(&st)) { return false }
            st.recordLine = st.line
            if let r = st.replay {
                st.replay = nil
                handOff = r + Array(UnsafeBufferPointer(start: chunk + i, count: n - i))
            }
            return true
        }

        func process(_ st: inout State, _ chunk: UnsafePointer<UInt8>, _ n: Int, start: Int, handOff: inout [UInt8]?) throws -> Bool {
            var i = start
            while i < n {
                let b = chunk[i]
                i += 1
                if st.capturing { st.raw.append(b) }
                if st.pendingCR {
                    st.pendingCR = false
                    if b != 10 {
                        st.record.append(13)
                        st.sawCR = true
                    }  // a lone CR is data
                    else {
                        if !(try endRecord(&st, chunk, n, i, &handOff)) { return false }
                        if handOff != nil { return true }
                        continue
                    }
                }
                switch st.state {
                case .fieldStart, .unquoted:
                    // Fast path: copy a run of ordinary bytes in one go.
                    if b != 44 && b != 10 && b != 13 && b != 34 {
                        var j = i
                        while j < n {
                            let c = chunk[j]
                            if c == 44 || c == 10 || c == 13 || c == 34 { break }
                            j += 1
                        }
                        st.record.append(contentsOf: UnsafeBufferPointer(start: chunk + (i - 1), count: j - i + 1))
                        if st.capturing { st.raw.append(contentsOf: UnsafeBufferPointer(start: chunk + i, count: j - i)) }
                        i = j
                        st.state = .unquoted
                        continue
                    }
                    if b == 44 {  // ,
                        st.ends.append(st.record.count)
                        st.state = .fieldStart
                    } else if b == 10 {
                        if !(try endRecord(&st, chunk, n, i, &handOff)) { return false }
                        if handOff != nil { return true }
                    } else if b == 13 {
                        st.pendingCR = true
                    } else if b == 34 {  // "
                        if st.state == .fieldStart {
                            st.state = .quoted
                        } else {
                            if st.malformed == nil { st.malformed = "quote inside an unquoted field (field \(st.ends.count + 1))" }
                            st.record.append(b)
                        }
                    } else {
                        st.record.append(b)
                        st.state = .unquoted
                    }
                case .quoted:
                    if b == 34 {
                        st.state = .quoteInQuoted
                    } else {
                        if b == 10 {
                            if !st.capturing {
                                st.capturing = true
                                st.cut = (st.record.count, st.ends.count, st.ends.count + 1, st.line)
                            }
                            st.line += 1
                        }
                        st.record.append(b)
                    }
                case .quoteInQuoted:
                    if b == 34 {
                        st.record.append(34)
                        st.state = .quoted
                    } else if b == 44 {
                        st.ends.append(st.record.count)
                        st.state = .fieldStart
                    } else if b == 10 {
                        if !(try endRecord(&st, chunk, n, i, &handOff)) { return false }
                        if handOff != nil { return true }
                    } else if b == 13 {
                        st.pendingCR = true
                        st.state = .unquoted
                    } else {
                        if st.malformed == nil { st.malformed = "text after a closing quote (field \(st.ends.count + 1))" }
                        st.record.append(b)
                        st.state = .unquoted
                    }
                }
            }
            if st.record.count + st.ends.count + st.raw.count > Self.maxRecordBytes { throw tooLong(st) }
            return true
        }

        /// `process`, stopping after an emit that asks for a replay: the replayed bytes and the
        /// rest of the chunk become the next buffer to read (no recursion, at most 2 MiB).
        func run(_ st: inout State, _ chunk: UnsafePointer<UInt8>, _ n: Int, start: Int = 0) throws -> Bool {
            var buffer: [UInt8]? = nil
            var go = try process(&st, chunk, n, start: start, handOff: &buffer)
            while go, let b = buffer {
                buffer = nil
                go = try b.withUnsafeBufferPointer { try process(&st, $0.baseAddress!, $0.count, start: 0, handOff: &buffer) }
            }
            return go
        }

        let finished = try readChunks { chunk, n in
            var start = 0
            if st.first {
                st.first = false
                if n >= 2 && ((chunk[0] == 0xFF && chunk[1] == 0xFE) || (chunk[0] == 0xFE && chunk[1] == 0xFF)) {
                    throw CSVUnreadable(
                        message:
                            "the file starts with a UTF-16 byte-order mark; feeds must be UTF-8: convert it with `iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8`"
                    )
                }
                // Skip a UTF-8 byte-order mark at the start of the file.
                if n >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF { start = 3 }
            }
            return try run(&st, chunk, n, start: start)
        }
        guard finished else { return }
        while true {
            if st.pendingCR { st.pendingCR = false }
            if st.state == .quoted && st.capturing {
                // The quote opened in field `cut.field` never closes: the record ends at the
                // first line end inside it, and what follows is read again as rows.
                st.record.removeSubrange(st.cut.record...)
                st.ends.removeSubrange(st.cut.ends...)
                st.ends.append(st.record.count)
                st.malformed =
                    "a quote opened in field \(st.cut.field) is never closed (the file ends inside it); the lines after line \(st.cut.line) are read as rows of their own"
                let rest = st.raw
                st.capturing = false
                st.replay = nil
                if !(try emit(&st)) { return }
                st.line = st.cut.line + 1
                st.recordLine = st.line
                let go = try rest.withUnsafeBufferPointer { try run(&st, $0.baseAddress!, $0.count) }
                if !go { return }
                continue
            }
            if st.state == .quoted { st.malformed = "a quote opened on line \(st.recordLine) is never closed (the file ends inside it)" }
            if !st.record.isEmpty || !st.ends.isEmpty || st.state != .fieldStart || st.malformed != nil {
                st.ends.append(st.record.count)
                if !(try emit(&st)) { return }
                if let r = st.replay {
                    st.replay = nil
                    st.recordLine = st.line
                    if !(try r.withUnsafeBufferPointer { try run(&st, $0.baseAddress!, $0.count) }) { return }
                    continue
                }
            }
            return
        }
    }
}
