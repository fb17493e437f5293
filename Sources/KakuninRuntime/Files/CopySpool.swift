import Foundation
import KakuninStore

#if canImport(Glibc)
import Glibc
#endif

/// Rows in COPY text format held in an anonymous file until they can be sent: a connection
/// carries one COPY at a time, so what a stream produces for a second table waits here.
/// The file is created owner-only and unlinked at once, so a crash leaves nothing behind;
/// memory stays at one 64 KiB buffer however many rows are spooled.
///
/// One thread appends rows; another may send, meanwhile, the rows already in the file
/// (`flushedBytes`, `send(to:from:upTo:)`).
public final class CopySpool: @unchecked Sendable {  // safe: one appender owns `file`, `rows`; `flushed` Locked
    private let file: BufferedFileWriter
    public private(set) var rows = 0
    /// Bytes of whole rows in the file (the buffer is flushed after a row).
    private let flushed = Locked(0)
    /// The appending thread's copy of `flushed` (it alone changes it).
    private var flushedByWriter = 0

    /// `directory` is where the nameless file lives (the run's output folder, owner-only);
    /// `label` names the spool in errors.
    public init(directory: URL, label: String) throws {
        file = try OwnerOnlyFile.anonymous(in: directory, label: "spool file for \(label)")
    }

    /// Appends one row; `body` writes the escaped fields and the line end.
    public func row(_ body: (inout [UInt8]) -> Void) throws {
        try file.append(body)
        rows += 1
        if file.bytesWritten != flushedByWriter {
            flushedByWriter = file.bytesWritten
            flushed.withLock { $0 = flushedByWriter }
        }
    }

    /// How many bytes of whole rows another thread can send now.
    public var flushedBytes: Int { flushed.current }

    /// Sends the rows in bytes [`start`, `end`) of the file, which must be flushed
    /// (`end` ≤ `flushedBytes`); safe while rows are appended.
    public func send(to writer: CopyInWriter, from start: Int, upTo end: Int) throws {
        try file.readFlushed(from: start, upTo: end) { try writer.write($0) }
    }

    /// Gives the rows in bytes [`start`, `end`) of the file, which must be flushed, to `body`
    /// in chunks (a row may span two); safe while rows are appended.
    public func read(from start: Int, upTo end: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try file.readFlushed(from: start, upTo: end, body)
    }

    /// Flushes the last rows into the file (`flushedBytes` then counts every row): the
    /// appending thread, once it has appended the last one.
    public func complete() throws {
        try file.flush()
        let written = file.bytesWritten
        flushed.withLock { $0 = written }
        flushedByWriter = file.bytesWritten
    }

    /// Sends every spooled row through `writer`, from the start of the file; call it once no
    /// more rows are appended.
    public func send(to writer: CopyInWriter) throws {
        try file.readBack { try writer.write($0) }
    }
}
