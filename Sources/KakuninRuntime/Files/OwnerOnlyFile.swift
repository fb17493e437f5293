import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writing a file or folder failed. Its exit status tells an operator which kind of fix is
/// needed: 73 (the folder cannot be used: read-only, not a folder, shared, a link) or 74 (the
/// write itself failed: disk full, I/O error). A rerun finishes the job once it is fixed.
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let what: String
    public let code: Int32

    public init(path: String, _ what: String, code: Int32 = errno) {
        self.path = path
        self.what = what
        self.code = code
    }

    /// True when the write itself failed (disk full, quota, I/O error) rather than the place.
    public var isIOError: Bool { [ENOSPC, EDQUOT, EIO, EFBIG].contains(code) }

    public var reason: String { code == 0 ? what : "\(what): \(String(cString: strerror(code)))" }

    public var fix: String {
        switch code {
        case ENOSPC, EDQUOT:
            return "free space on the filesystem holding \(path) (df -h), then run the same command again; nothing is lost or duplicated"
        case EROFS: return "the filesystem is read-only: choose a writable folder (--out / --report-dir)"
        case EACCES, EPERM: return "give the user running kakunin write access to \(path), or choose another folder"
        case ENOTDIR, EEXIST: return "\(path) must be a folder (or not exist yet): move the file away or choose another path"
        case ELOOP: return "remove the symbolic link \(path): kakunin never writes through links"
        default: return "check \(path) and the filesystem holding it, then run the same command again"
        }
    }

    public var description: String { "cannot write \(path): \(reason)\n  fix: \(fix)" }
}

/// Files written by kakunin hold personal data: they are created readable by their owner only
/// (0600), in folders that are 0700, and published atomically (temp file, fsync, rename, fsync
/// of the folder). Files are never opened through a symbolic link.
public enum OwnerOnlyFile {
    /// Creates the folder (and its parents) or takes an existing one, and makes it 0700. A
    /// folder owned by someone else that others can enter, or a sticky shared folder such as
    /// /tmp, is refused: personal data needs a folder of its own.
    public static func makeDirectory(_ url: URL) throws {
        let path = url.path
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT else { throw FileWriteError(path: path, "cannot use the folder") }
            let parent = url.deletingLastPathComponent()
            if parent.path != path { try makeParents(parent) }
            if mkdir(path, 0o700) != 0 && errno != EEXIST { throw FileWriteError(path: path, "cannot create the folder") }
            guard stat(path, &st) == 0 else { throw FileWriteError(path: path, "cannot use the folder") }
        } else if (st.st_mode & S_IFMT) == S_IFLNK {
            guard stat(path, &st) == 0 else { throw FileWriteError(path: path, "the folder is a broken link") }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw FileWriteError(path: path, "it exists and is not a folder", code: ENOTDIR) }
        if st.st_mode & S_ISVTX != 0 {
            throw FileWriteError(
                path: path, "it is a shared folder (sticky bit, like /tmp); files holding personal data need a folder of their own",
                code: 0)
        }
        if st.st_uid == geteuid() {
            if st.st_mode & 0o777 != 0o700 && chmod(path, 0o700) != 0 {
                throw FileWriteError(path: path, "cannot make the folder owner-only")
            }
        } else if st.st_mode & 0o077 != 0 {
            throw FileWriteError(
                path: path,
                "the folder belongs to another user and others can enter it (mode \(String(st.st_mode & 0o7777, radix: 8))); files holding personal data need an owner-only folder",
                code: EACCES)
        }
        guard access(path, W_OK | X_OK) == 0 else { throw FileWriteError(path: path, "cannot write into the folder") }
    }

    /// Parents are created 0700 when missing and left as they are when they exist.
    private static func makeParents(_ url: URL) throws {
        var st = stat()
        if stat(url.path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw FileWriteError(path: url.path, "it exists and is not a folder", code: ENOTDIR)
            }
            return
        }
        let parent = url.deletingLastPathComponent()
        if parent.path != url.path { try makeParents(parent) }
        if mkdir(url.path, 0o700) != 0 && errno != EEXIST { throw FileWriteError(path: url.path, "cannot create the folder") }
    }

    /// Opens a new file for writing, mode 0600, replacing a regular file of that name; a
    /// symbolic link (or anything but a regular file) there is refused, never followed.
    public static func create(_ url: URL) throws -> BufferedFileWriter {
        var st = stat()
        if lstat(url.path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw FileWriteError(
                    path: url.path, "something other than a regular file is in the way (a link?); kakunin never writes through it",
                    code: ELOOP)
            }
            unlink(url.path)
        }
        return try BufferedFileWriter(path: url.path)
    }

    /// Writes `data` to `url` atomically: a new temp file beside it (mkstemp: O_EXCL, 0600),
    /// fsync, rename, fsync the folder. Renaming replaces a link at `url`, never follows it.
    public static func publish(_ url: URL, _ write: (BufferedFileWriter) throws -> Void) throws {
        var template = Array(url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileWriteError(path: url.path, "cannot create a file beside it") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let w = BufferedFileWriter(adopting: fd, path: url.path)
        do {
            try write(w)
            try w.close(sync: true)
        } catch {
            try? w.close(sync: false)
            unlink(tmp)
            throw error
        }
        guard rename(tmp, url.path) == 0 else {
            let e = FileWriteError(path: url.path, "cannot rename the finished file into place")
            unlink(tmp)
            throw e
        }
        syncDirectory(url.deletingLastPathComponent())
    }

    /// A nameless owner-only scratch file in `directory` (created with mkstemp and unlinked at
    /// once): nothing is left behind whatever happens to the process.
    public static func anonymous(in directory: URL, label: String) throws -> BufferedFileWriter {
        var template = Array(directory.appendingPathComponent(".kakunin-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileWriteError(path: directory.path, "cannot create a scratch file for \(label)") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        return BufferedFileWriter(adopting: fd, path: "\(label) in \(directory.path)")
    }

    public static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// A buffered writer to a file created with mode 0600.
public final class BufferedFileWriter {
    private var fd: Int32
    private var buffer: [UInt8] = []
    public let path: String
    public private(set) var bytesWritten = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileWriteError(path: path, "cannot create the file") }
        fchmod(fd, 0o600)
        buffer.reserveCapacity(1 << 16)
    }

    /// Takes over an open descriptor (closed with the writer); `path` names it in errors.
    package init(adopting fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(1 << 16)
    }

    /// The open descriptor, e.g. to read back what was written once it is flushed.
    package var descriptor: Int32 { fd }

    /// Reads back up to `buffer.count` bytes written earlier, from `offset` (after `flush`);
    /// 0 at the end.
    package func read(at offset: off_t, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, offset)
            if n >= 0 { return n }
            if errno != EINTR { throw FileWriteError(path: path, "reading back failed") }
        }
    }

    /// Flushes, then gives everything written so far to `body`, in chunks, from the start.
    package func readBack(chunkSize: Int = 1 << 18, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try flush()
        try readFlushed(from: 0, upTo: nil, chunkSize: chunkSize, body)
    }

    /// Gives the bytes [`start`, `end`) already flushed to `body`, in chunks, without touching
    /// the buffer: another thread may call it while this one appends (`end` nil: to the end of
    /// the file).
    package func readFlushed(
        from start: Int, upTo end: Int?, chunkSize: Int = 1 << 18,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 1)
        defer { chunk.deallocate() }
        var offset = start
        while end.map({ offset < $0 }) ?? true {
            let want = min(chunkSize, end.map { $0 - offset } ?? chunkSize)
            let n = try read(at: off_t(offset), into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<want]))
            if n == 0 {
                if end != nil { throw FileWriteError(path: path, "reading back failed: the file ends early") }
                return
            }
            try body(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            offset += n
        }
    }

    /// Direct access for encoders that append already-formatted bytes.
    package func append(_ body: (inout [UInt8]) -> Void) throws {
        body(&buffer)
        if buffer.count >= 1 << 16 { try flush() }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func write(_ s: String) throws {
        var s = s
        try s.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    public func write(bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    public func flush() throws {
        var off = 0
        while off < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileWriteError(path: path, "write failed")
            }
            off += n
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
        if writebackEvery > 0 && bytesWritten - writebackFrom >= writebackEvery { startWriteback() }
    }

    /// A file that will be fsync'd when closed (the mailing files): every this many bytes
    /// flushed, the disk is asked to start writing them (sync_file_range, without waiting),
    /// so that the fsync at the end waits for the last part only. 0: never (files that are
    /// not synced, such as spools). The fsync still decides durability and reports errors.
    public var writebackEvery = 0
    private var writebackFrom = 0

    private func startWriteback() {
        guard let start = Self.syncFileRange else { return }
        _ = start(fd, Int64(writebackFrom), Int64(bytesWritten - writebackFrom), 2)  // SYNC_FILE_RANGE_WRITE
        writebackFrom = bytesWritten
    }

    /// sync_file_range(2), which Glibc's Swift module does not declare (it is a GNU extension).
    private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
    }()

    public func close(sync: Bool) throws {
        guard fd >= 0 else { return }
        try flush()
        if sync && fsync(fd) != 0 {
            throw FileWriteError(path: path, "fsync failed")
        }
        Glibc.close(fd)
        fd = -1
    }
}

/// Quoting for CSV files kakunin writes (RFC 4180).
public enum CSVField {
    public static func quote(_ s: String?) -> String {
        guard let s else { return "" }
        switch scan(s) {
        case .plain: return s
        case .lineEnd: return "\"" + s + "\""
        case .other: break
        }
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    private enum Scan { case plain, lineEnd, other }

    /// What the UTF-8 bytes say without looking at characters (a letter's page part is long
    /// Japanese text): `plain` when none of `,` `"` CR LF occurs (no character can then be one of
    /// them); `lineEnd` when an LF not after a CR occurs (a character of its own) and no `"`:
    /// quoted, nothing doubled; `other` when the characters must decide.
    private static func scan(_ s: String) -> Scan {
        var special = false
        var lineEnd = false
        var quote = false
        var previous: UInt8 = 0
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: ","), UInt8(ascii: "\r"): special = true
            case UInt8(ascii: "\""): quote = true
            case UInt8(ascii: "\n"):
                special = true
                if previous != UInt8(ascii: "\r") { lineEnd = true }
            default: break
            }
            previous = b
        }
        if quote { return .other }
        return !special ? .plain : lineEnd ? .lineEnd : .other
    }

    public static func line(_ fields: [String?]) -> String {
        join(fields) + "\n"
    }

    /// The fields of one record, without the line end.
    public static func join(_ fields: [String?]) -> String {
        fields.map(quote).joined(separator: ",")
    }
}
