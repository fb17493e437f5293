import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// Where each written document goes: its envelope (built as the stream goes by and written when
/// the next envelope key begins), its member letter and, for an establishment, the list.
extension MailStaging {
    /// A document written: into its envelope, with its member letter. Refused: one exceptions
    /// row per problem (no letter: nothing is mailed).
    func placed(
        _ problems: [RecordProblem], _ r: CopyRow, _ p: PersonColumns, envelope id: [UInt8], document: String, outcome: String,
        number: Int64?, reasons: [UInt8], cls: InsurerParameters.MailClass, nf: Bool,
        validity: (LocalDate?, LocalDate?)
    ) throws -> String? {
        guard !problems.isEmpty else {
            let i = try addToEnvelope(r, p, id: id, document: document, cls: cls, noForwarding: nf)
            if inserts.letter(
                r, p, envelope: i, id: id, kind: outcome, number: number, reasons: reasons,
                validFrom: validity.0, validTo: validity.1)
            {
                open[i].letters += 1
            }
            if establishmentList != nil && EnvelopePolicy.isEstablishment(id) {
                open[i].listed.append(EstablishmentList.Entry(r, p, document: document, number: number))
            }
            return nil
        }
        for problem in problems {
            _ = try exceptions.record { w in
                w.field(r, p.memberID)
                w.field(r, p.scheme)
                w.field(outcome)
                w.field(reasons)
                w.field(document)
                w.int(number)
                w.field(problem.field)
                w.field(problem.kind.rawValue)
                w.field(problem.character ?? "")
                w.field(problem.codePoint ?? "")
                w.int(problem.length.map(Int64.init))
                w.int(problem.limit.map(Int64.init))
            }
        }
        return problems.map(\.summary).joined(separator: "; ")
    }

    struct Envelope {
        var id: [UInt8]
        var addressee: [UInt8], postal: [UInt8], address: [UInt8], extra: [UInt8]
        var counts = [0, 0, 0]
        var members: [UInt8] = []
        var cls: InsurerParameters.MailClass
        var noForwarding: Bool
        /// The member letters of its documents, written to inserts.csv when it is closed, so
        /// that inserts.csv keeps the envelopes' order whatever order the documents came in.
        var letters = 0
        /// Its place among the envelopes open for the key (`InsertFiles` keeps its letters by it).
        var index = 0
        /// 様, or 御中 for an establishment.
        var honorific = EnvelopePolicy.personHonorific
        /// [2026-12] An establishment's: its documents, for establishment_list.csv.
        var listed: [EstablishmentList.Entry] = []
    }

    /// [2026-12] The envelope a document of `group` goes in (`EnvelopePolicy`).
    func envelopeID(_ r: CopyRow, _ p: PersonColumns, _ group: EnvelopePolicy.Group) -> [UInt8] {
        r.withField(p.envelope) { key in r.withField(p.memberID) { policy.envelopeID(key: key, member: $0, group: group) } }
    }

    /// Adds a document to its envelope among those open for the stream's current key (one,
    /// or a household's envelopes under `split` / `per_person_to_head`); returns its index.
    func addToEnvelope(
        _ r: CopyRow, _ p: PersonColumns, id: [UInt8], document: String, cls: InsurerParameters.MailClass,
        noForwarding: Bool
    ) throws -> Int {
        // Compared in place: a new key is copied only when the stream reaches it.
        if !(openKey.map { k in r.withField(p.envelope) { k.elementsEqual($0) } } ?? false) {
            try flushEnvelope()
            openKey = r.withField(p.envelope) { Array($0) }
        }
        let i =
            open.lastIndex { $0.id == id }
            ?? {
                open.append(
                    Envelope(
                        id: id, addressee: r.withField(p.addressee) { Array($0) }, postal: r.withField(p.addressee + 1) { Array($0) },
                        address: r.withField(p.addressee + 2) { Array($0) }, extra: r.withField(p.addressee + 3) { Array($0) },
                        cls: cls, noForwarding: noForwarding, index: open.count, honorific: EnvelopePolicy.honorific(key: id)))
                return open.count - 1
            }()
        open[i].counts[document == "certificate" ? 0 : document == Outcome.eligibilityNotice.rawValue ? 1 : 2] += 1
        if !open[i].members.isEmpty { open[i].members.append(UInt8(ascii: ";")) }
        r.withField(p.memberID) { open[i].members.append(contentsOf: $0) }
        open[i].cls = max(open[i].cls, cls)
        open[i].noForwarding = open[i].noForwarding || noForwarding
        return i
    }

    /// Writes the open envelopes in id order (the stream's order), each with its letters.
    func flushEnvelope() throws {
        var closing: [Envelope] = []
        swap(&closing, &open)
        openKey = nil
        closing.sort { $0.id.lexicographicallyPrecedes($1.id) }
        for e in closing {
            try writeEnvelope(e)
            try inserts.write(envelope: e.index)
            if let list = establishmentList, !e.listed.isEmpty {
                try EstablishmentList.write(list, envelope: e.id, addressee: e.addressee, entries: e.listed)
            }
        }
        inserts.endGroup()
    }

    func writeEnvelope(_ e: Envelope) throws {
        let yen = settings.parameters.postage(e.cls)
        let problems = try envelopes.record { w in
            w.field(e.id)
            w.field(e.addressee)
            w.field(e.postal)
            w.field(e.address)
            w.field(e.extra)
            w.field(e.cls.rawValue)
            w.field(e.noForwarding ? "true" : "false")
            for c in e.counts { w.int(Int64(c)) }
            w.int(Int64(e.counts.reduce(0, +)))
            w.field(e.members)
            w.int(Int64(yen))
            w.int(Int64(e.letters))
            w.field(e.honorific)
        }
        // Its fields were checked in the documents it holds.
        guard problems.isEmpty else {
            throw OperatorError(
                .internalError, "envelope \(String(decoding: e.id, as: UTF8.self)) cannot be encoded: \(problems.map(\.summary))")
        }
        envelopeCount += 1
        postage[e.cls, default: (0, 0)].envelopes += 1
        postage[e.cls, default: (0, 0)].yen += yen
    }
}
