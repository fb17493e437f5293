import Foundation
import KakuninStore
#if canImport(Glibc)
import Glibc
#endif

/// Rows in COPY text format held in an anonymous file until they can be sent: a connection
/// carries one COPY at a time, so what a stream produces for a second table waits here.
/// The file is created owner-only and unlinked at once, so a crash leaves nothing behind;
/// memory stays at one 256 KiB buffer however many rows are spooled.
public final class CopySpool {
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let limit = 1 << 18
    private let label: String
    public private(set) var rows = 0

    /// `directory` is where the nameless file lives (the run's output folder, owner-only).
    public init(directory: URL, label: String) throws {
        self.label = label
        var template = Array(directory.appendingPathComponent(".spool-XXXXXX").path.utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileReadError(path: directory.path, reason: "cannot create a spool file for \(label): \(String(cString: strerror(errno)))")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        buffer.reserveCapacity(limit + 4096)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends one row; `body` writes the escaped fields and the line end.
    public func row(_ body: (inout [UInt8]) -> Void) throws {
        body(&buffer)
        rows += 1
        if buffer.count >= limit { try flush() }
    }

    private func flush() throws {
        var off = 0
        while off < buffer.count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: "spool file for \(label)", reason: "write failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Sends every spooled row through `writer`, from the start of the file.
    public func send(to writer: CopyInWriter) throws {
        try flush()
        var offset: off_t = 0
        var chunk = [UInt8](repeating: 0, count: limit)
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: "spool file for \(label)", reason: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            try chunk.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += off_t(n)
        }
    }
}
