import Foundation
import KakuninStore
#if canImport(Glibc)
import Glibc
#endif

/// Rows in COPY text format held in an anonymous file until they can be sent: a connection
/// carries one COPY at a time, so what a stream produces for a second table waits here.
/// The file is created owner-only and unlinked at once, so a crash leaves nothing behind;
/// memory stays at one 64 KiB buffer however many rows are spooled.
public final class CopySpool {
    private let file: BufferedFileWriter
    public private(set) var rows = 0

    /// `directory` is where the nameless file lives (the run's output folder, owner-only);
    /// `label` names the spool in errors.
    public init(directory: URL, label: String) throws {
        file = try OwnerOnlyFile.anonymous(in: directory, label: "spool file for \(label)")
    }

    /// Appends one row; `body` writes the escaped fields and the line end.
    public func row(_ body: (inout [UInt8]) -> Void) throws {
        try file.append(body)
        rows += 1
    }

    /// Sends every spooled row through `writer`, from the start of the file.
    public func send(to writer: CopyInWriter) throws {
        try file.readBack { try writer.write($0) }
    }
}
