import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// One CSV file built record by record on bytes, in the vendor's encoding: each date is
/// followed by its era form. A record that cannot be carried is not written; `record` returns
/// its problems.
final class MailFileWriter {
    let name: String
    private let file: BufferedFileWriter
    private let encoder: VendorEncoder
    private let header: [String]
    /// Field index → length limit (the name is checked as family + given name).
    private let limits: [Int: (String, Int)]
    private let nameFields: (family: Int, given: Int)?
    private let nameLimit: Int
    private let checked: Bool
    /// Starts with a UTF-8 byte-order mark (`StaffCSV`).
    private let forStaff: Bool
    private var hasher = SHA256()
    private var records = 0
    private var bytes = 0
    private var line = RecordLine()
    /// Where a record is encoded (CP932): grown to twice the longest record seen.
    private var scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096)
    private var scratchCapacity = 4096

    init(
        _ dir: URL, _ name: String, encoder: VendorEncoder, limits: [String: Int], header: [String], checked: Bool = true,
        forStaff: Bool = false
    ) throws {
        precondition(!forStaff || encoder.encoding == .utf8, "a file for staff is UTF-8")
        self.name = name
        self.encoder = encoder
        self.header = header
        self.checked = checked
        self.forStaff = forStaff
        var l: [Int: (String, Int)] = [:]
        for (field, limit) in limits where field != "name" {
            if let i = header.firstIndex(of: field) { l[i] = (field, limit) }
        }
        self.limits = l
        if let limit = limits["name"], let f = header.firstIndex(of: "family_name"), let g = header.firstIndex(of: "given_name") {
            nameFields = (f, g)
            nameLimit = limit
        } else {
            nameFields = nil
            nameLimit = 0
        }
        file = try OwnerOnlyFile.create(dir.appendingPathComponent(name))
        file.writebackEvery = MailFiles.writebackBytes
        if forStaff { try StaffCSV.byteOrderMark.withUnsafeBytes { try emit($0) } }
        line.bytes.append(contentsOf: CSVField.join(header).utf8)
        guard try write(line.bytes) else { throw OperatorError(.internalError, "header of \(name) cannot be encoded") }
        line.bytes.removeAll(keepingCapacity: true)
    }
    deinit { scratch.deallocate() }

    /// Writes one line (UTF-8 fields, no line end) in the file's encoding with its line end;
    /// false when it cannot be encoded (nothing written).
    private func write(_ line: [UInt8]) throws -> Bool {
        if scratchCapacity < 2 * line.count + 1 {
            scratch.deallocate()
            scratchCapacity = 2 * line.count + 1024
            scratch = .allocate(capacity: scratchCapacity)
        }
        let utf8 = encoder.encoding == .utf8
        guard let n = line.withUnsafeBufferPointer({ encoder.encode($0, into: utf8 ? nil : scratch) }) else { return false }
        if utf8 {
            try line.withUnsafeBytes { try emit($0) }
            try withUnsafeBytes(of: UInt8(10)) { try emit($0) }
        } else {
            scratch[n] = 10
            try emit(UnsafeRawBufferPointer(start: scratch, count: n + 1))
        }
        return true
    }

    /// Appends one record whose fields `build` adds, or returns why it cannot be written.
    func record(_ build: (inout RecordLine) -> Void) throws -> [RecordProblem] {
        var l = line
        line = RecordLine.empty
        defer {
            l.reset()
            line = l
        }
        build(&l)
        if !checked {
            l.bytes.append(10)
            records += 1
            try l.bytes.withUnsafeBytes { try emit($0) }
            return []
        }
        if withinLimits(l), try write(l.bytes) {
            records += 1
            return []
        }
        // The slow path, for the rare record: only the fields that fail are decoded; a base
        // character and a following combining mark are composed where CP932 has the result.
        var problems: [RecordProblem] = []
        var replaced: [Int: String] = [:]
        for i in l.starts.indices {
            let ok = l.bytes[l.range(i)].withUnsafeBufferPointer { encoder.encode($0, into: nil) != nil }
            if ok { continue }
            let composed = VendorEncoder.composePairs(l.value(i))
            let found = encoder.problems(field: header[i], value: composed)
            if found.isEmpty { replaced[i] = composed } else { problems += found }
        }
        func value(_ i: Int) -> String { replaced[i] ?? l.value(i) }
        for (i, (field, limit)) in limits.sorted(by: { $0.key < $1.key }) where l.length(i) > limit {
            let n = VendorEncoder.printedLength(value(i))
            if n > limit { problems.append(RecordProblem(field: field, kind: .length, length: n, limit: limit)) }
        }
        if let (f, g) = nameFields {
            let n = Self.nameLength(value(f), value(g))
            if n > nameLimit { problems.append(RecordProblem(field: "name", kind: .length, length: n, limit: nameLimit)) }
        }
        guard problems.isEmpty else { return problems }
        guard try write(Array(CSVField.join(l.starts.indices.map(value)).utf8)) else {
            throw OperatorError(.internalError, "a record of \(name) cannot be encoded after composing")
        }
        records += 1
        return []
    }

    /// The limited fields by bytes first (a field of no more bytes than its limit has no more
    /// characters), by characters only when that does not settle it.
    private func withinLimits(_ l: RecordLine) -> Bool {
        for (i, (_, limit)) in limits where l.length(i) > limit && l.scalars(i) > limit {
            if VendorEncoder.printedLength(l.value(i)) > limit { return false }
        }
        if let (f, g) = nameFields, l.scalars(f) + l.scalars(g) + 1 > nameLimit, Self.nameLength(l.value(f), l.value(g)) > nameLimit {
            return false
        }
        return true
    }

    /// The name as printed: family and given name with a space between.
    private static func nameLength(_ family: String, _ given: String) -> Int {
        VendorEncoder.printedLength(family) + (given.isEmpty ? 0 : 1 + VendorEncoder.printedLength(given))
    }

    private func emit(_ b: UnsafeRawBufferPointer) throws {
        guard b.count > 0 else { return }
        hasher.update(bufferPointer: b)
        bytes += b.count
        try file.write(b)
    }

    func finish() throws -> MailFiles.FileEntry {
        try file.close(sync: true)
        return MailFiles.FileEntry(
            name: name, records: records, bytes: bytes, sha256: hex(hasher.finalize()),
            encoding: forStaff ? StaffCSV.encodingName : encoder.manifestName)
    }

    func abandon() throws { try file.close(sync: false) }
}
