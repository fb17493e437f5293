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

    /// One document in an establishment's envelope.
    struct Entry {
        let member: [UInt8], familyName: [UInt8], givenName: [UInt8]
        let document: String
        let number: Int64?

        init(_ r: CopyRow, _ p: PersonColumns, document: String, number: Int64?) {
            member = r.withField(p.memberID) { Array($0) }
            familyName = r.withField(p.mail + 5) { Array($0) }
            givenName = r.withField(p.mail + 6) { Array($0) }
            self.document = document
            self.number = number
        }
    }

    /// The envelope's rows: `id` is `E-<establishment>`, `addressee` its name and contact.
    static func write(_ file: MailFileWriter, envelope id: [UInt8], addressee: [UInt8], entries: [Entry]) throws {
        for (n, e) in entries.enumerated() {
            let problems = try file.record { w in
                w.field(id)
                w.field(Array(id.dropFirst(2)))
                w.field(addressee)
                w.int(Int64(n + 1))
                w.field(e.member)
                w.field(e.familyName)
                w.field(e.givenName)
                w.field(e.document)
                w.int(e.number)
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
