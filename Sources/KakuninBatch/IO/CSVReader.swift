#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One record of a CSV file, valid only inside the reader's callback.
public struct CSVRecord {
    /// Line of the file on which the record starts (the header is line 1).
    public let line: Int
    /// Set when the record's quoting is broken; the record should be rejected.
    public let malformed: String?
    let bytes: UnsafeBufferPointer<UInt8>
    let ends: UnsafeBufferPointer<Int>

    public var count: Int { ends.count }

    /// The unescaped bytes of field `i`.
    public func field(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        let start = i == 0 ? 0 : ends[i - 1]
        return UnsafeBufferPointer(rebasing: bytes[start..<ends[i]])
    }

    public func string(_ i: Int) -> String { String(decoding: field(i), as: UTF8.self) }
}

/// An error reading a file (not a bad row: those are records with `malformed` set).
public struct FileReadError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot read \(path): \(reason)" }
}

/// A streaming RFC 4180 reader working on bytes: quoted fields with doubled quotes, embedded
/// newlines, CRLF or LF line ends. Reads 1 MiB at a time, so memory does not grow with the file.
public final class CSVReader {
    private let fd: Int32
    public let path: String
    /// Called with every chunk read, e.g. to hash the file.
    public var onChunk: ((UnsafeRawBufferPointer) -> Void)?
    public private(set) var bytesRead = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
    }

    deinit { close(fd) }

    /// The number of records in the file, the header included, counted without splitting
    /// fields: line ends outside quotes, blank lines skipped, as `forEachRecord` reads a
    /// well-formed file (it is for files kakunin wrote; a stray quote inside an unquoted field,
    /// which the reader marks malformed, is taken here as opening a quoted part).
    public func countRecords() throws -> Int {
        var quoted = false, content = false, records = 0
        _ = try readChunks { chunk, n in
            for i in 0..<n {
                switch chunk[i] {
                case UInt8(ascii: "\""): quoted.toggle(); content = true
                case UInt8(ascii: "\n") where !quoted:
                    if content { records += 1 }
                    content = false
                case UInt8(ascii: "\r") where !quoted: break
                default: content = true
                }
            }
            return true
        }
        return content ? records + 1 : records
    }

    /// Reads the rest of the file 1 MiB at a time, giving each chunk to `onChunk`, then to
    /// `body` until it returns false. Returns false when `body` stopped the reading.
    private func readChunks(_ body: (UnsafeMutablePointer<UInt8>, Int) throws -> Bool) throws -> Bool {
        let chunkSize = 1 << 20
        let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        while true {
            let n = read(fd, chunk, chunkSize)
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
        var record: [UInt8] = []
        record.reserveCapacity(4096)
        var ends: [Int] = []
        ends.reserveCapacity(64)

        enum State { case fieldStart, unquoted, quoted, quoteInQuoted }
        var state = State.fieldStart
        var line = 1, recordLine = 1
        var malformed: String?
        var pendingCR = false
        var first = true

        func emit() throws -> Bool {
            defer {
                record.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                malformed = nil
                state = .fieldStart
            }
            if ends.count == 1 && ends[0] == 0 && malformed == nil { return true } // blank line
            return try record.withUnsafeBufferPointer { rb in
                try ends.withUnsafeBufferPointer { eb in
                    try body(CSVRecord(line: recordLine, malformed: malformed, bytes: rb, ends: eb))
                }
            }
        }

        let finished = try readChunks { chunk, n in
            var i = 0
            // Skip a UTF-8 byte-order mark at the start of the file.
            if first {
                first = false
                if n >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF { i = 3 }
            }
            while i < n {
                let b = chunk[i]
                i += 1
                if pendingCR {
                    pendingCR = false
                    if b != 10 { record.append(13) } // a lone CR is data
                    else {
                        ends.append(record.count)
                        line += 1
                        if !(try emit()) { return false }
                        recordLine = line
                        continue
                    }
                }
                switch state {
                case .fieldStart, .unquoted:
                    // Fast path: copy a run of ordinary bytes in one go.
                    if b != 44 && b != 10 && b != 13 && b != 34 {
                        var j = i
                        while j < n {
                            let c = chunk[j]
                            if c == 44 || c == 10 || c == 13 || c == 34 { break }
                            j += 1
                        }
                        record.append(contentsOf: UnsafeBufferPointer(start: chunk + (i - 1), count: j - i + 1))
                        i = j
                        state = .unquoted
                        continue
                    }
                    if b == 44 { // ,
                        ends.append(record.count); state = .fieldStart
                    } else if b == 10 {
                        ends.append(record.count)
                        line += 1
                        if !(try emit()) { return false }
                        recordLine = line
                    } else if b == 13 {
                        pendingCR = true
                    } else if b == 34 { // "
                        if state == .fieldStart { state = .quoted }
                        else {
                            if malformed == nil { malformed = "quote inside an unquoted field (field \(ends.count + 1))" }
                            record.append(b)
                        }
                    } else {
                        record.append(b); state = .unquoted
                    }
                case .quoted:
                    if b == 34 { state = .quoteInQuoted }
                    else {
                        if b == 10 { line += 1 }
                        record.append(b)
                    }
                case .quoteInQuoted:
                    if b == 34 { record.append(34); state = .quoted }
                    else if b == 44 { ends.append(record.count); state = .fieldStart }
                    else if b == 10 {
                        ends.append(record.count)
                        line += 1
                        if !(try emit()) { return false }
                        recordLine = line
                    } else if b == 13 {
                        pendingCR = true; state = .unquoted
                    } else {
                        if malformed == nil { malformed = "text after a closing quote (field \(ends.count + 1))" }
                        record.append(b); state = .unquoted
                    }
                }
            }
            return true
        }
        guard finished else { return }
        if pendingCR { pendingCR = false }
        if state == .quoted { malformed = "quoted field not closed before end of file" }
        if !record.isEmpty || !ends.isEmpty || state != .fieldStart || malformed != nil {
            ends.append(record.count)
            _ = try emit()
        }
    }
}
