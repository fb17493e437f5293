import KakuninCore
import KakuninRuntime
import KakuninStore

/// [2026-12] establishment_list.csv (SPEC.md 5.1, employee_delivery = employer): for each
/// establishment's envelope, the documents it holds, one row each in the order they are
/// enclosed, so that the employer can check the envelope and hand each member theirs. Written
/// in the vendor's encoding, envelope by envelope as envelopes.csv is.
enum EstablishmentList {
    static let name = "establishment_list.csv"
    static let header = [
        "envelope_id", "establishment_id", "establishment", "position", "member_id", "family_name", "given_name",
        "document", "certificate_number",
    ]

    /// The documents of an establishment's envelope, their fields in one buffer: the envelope
    /// keeps it when it is closed and reuses it (nothing allocated per document).
    struct Entries {
        private struct Item {
            var member: Range<Int>, familyName: Range<Int>, givenName: Range<Int>
            let document: String
            let number: Int64?
        }
        private var bytes: [UInt8] = []
        private var items: [Item] = []

        var isEmpty: Bool { items.isEmpty }

        mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            items.removeAll(keepingCapacity: true)
        }

        mutating func append(_ r: CopyRow, _ p: PersonColumns, document: String, number: Int64?) {
            let member = add(r, p.memberID)
            let family = add(r, p.mail + 5)
            let given = add(r, p.mail + 6)
            items.append(Item(member: member, familyName: family, givenName: given, document: document, number: number))
        }

        private mutating func add(_ r: CopyRow, _ i: Int) -> Range<Int> {
            let start = bytes.count
            r.withField(i) { bytes.append(contentsOf: $0) }
            return start..<bytes.count
        }

        /// Each document in order: its position (from 1), its fields and the buffer.
        func eachDocument(
            _ body: (Int, _ member: Range<Int>, _ family: Range<Int>, _ given: Range<Int>, String, Int64?, UnsafeBufferPointer<UInt8>)
                throws
                -> Void
        ) rethrows {
            try bytes.withUnsafeBufferPointer { b in
                for (n, e) in items.enumerated() { try body(n + 1, e.member, e.familyName, e.givenName, e.document, e.number, b) }
            }
        }
    }

    /// The envelope's rows: `id` is `E-<establishment>`, `addressee` its name and contact.
    static func write(_ file: MailFileWriter, envelope id: [UInt8], addressee: [UInt8], entries: Entries) throws {
        try entries.eachDocument { position, member, family, given, document, number, b in
            let problems = try file.record { w in
                w.field(id)
                id.withUnsafeBufferPointer { w.field(UnsafeBufferPointer(rebasing: $0.dropFirst(2))) }
                w.field(addressee)
                w.int(Int64(position))
                w.field(UnsafeBufferPointer(rebasing: b[member]))
                w.field(UnsafeBufferPointer(rebasing: b[family]))
                w.field(UnsafeBufferPointer(rebasing: b[given]))
                w.field(document)
                w.int(number)
            }
            // Every field was checked in the document itself (addressee and name).
            guard problems.isEmpty else {
                throw OperatorError(
                    .internalError,
                    "establishment list of \(String(decoding: id, as: UTF8.self)) cannot be encoded: \(problems.map(\.summary))")
            }
        }
    }
}
