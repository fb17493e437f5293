import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files written by kakunin hold personal data: they are created readable by their owner only
/// (0600), in folders that are 0700, and published atomically (temp file, fsync, rename, fsync
/// of the folder).
public enum OwnerOnlyFile {
    public static func makeDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    /// Opens a new file for writing (truncating), mode 0600.
    public static func create(_ url: URL) throws -> BufferedFileWriter {
        try BufferedFileWriter(path: url.path)
    }

    /// Writes `data` to `url` atomically: a temp file beside it, fsync, rename, fsync the folder.
    public static func publish(_ url: URL, _ write: (BufferedFileWriter) throws -> Void) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        let w = try BufferedFileWriter(path: tmp.path)
        do {
            try write(w)
            try w.close(sync: true)
        } catch {
            try? w.close(sync: false)
            unlink(tmp.path)
            throw error
        }
        guard rename(tmp.path, url.path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp.path)
            throw FileReadError(path: url.path, reason: "rename failed: \(e)")
        }
        syncDirectory(url.deletingLastPathComponent())
    }

    public static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
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
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileReadError(path: path, reason: String(cString: strerror(errno))) }
        fchmod(fd, 0o600)
        buffer.reserveCapacity(1 << 16)
    }

    /// Takes over an open descriptor (closed with the writer); `path` names it in errors.
    init(adopting fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(1 << 16)
    }

    /// The open descriptor, e.g. to read back what was written once it is flushed.
    var descriptor: Int32 { fd }

    /// Direct access for encoders that append already-formatted bytes.
    func append(_ body: (inout [UInt8]) -> Void) throws {
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
                throw FileReadError(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    public func close(sync: Bool) throws {
        guard fd >= 0 else { return }
        try flush()
        if sync && fsync(fd) != 0 {
            throw FileReadError(path: path, reason: "fsync failed: \(String(cString: strerror(errno)))")
        }
        Glibc.close(fd)
        fd = -1
    }
}

/// Quoting for CSV files kakunin writes (RFC 4180).
public enum CSVField {
    public static func quote(_ s: String?) -> String {
        guard let s else { return "" }
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    public static func line(_ fields: [String?]) -> String {
        fields.map(quote).joined(separator: ",") + "\n"
    }
}
