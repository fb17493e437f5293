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
                open[i].listed.append(r, p, document: document, number: number)
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

    /// An envelope being filled. Its storage is kept when it is closed (`MailStaging.open`
    /// holds the closed ones after the open ones) and reused by a later envelope: a run
    /// allocates nothing per envelope once the first few have been made.
    struct Envelope {
        var id: [UInt8] = []
        var addressee: [UInt8] = [], postal: [UInt8] = [], address: [UInt8] = [], extra: [UInt8] = []
        /// Certificates, eligibility notices, apply notices (in place: no array per envelope).
        var counts = SIMD3<Int>(0, 0, 0)
        var members: [UInt8] = []
        var cls = InsurerParameters.MailClass.ordinary
        var noForwarding = false
        /// The member letters of its documents, written to inserts.csv when it is closed, so
        /// that inserts.csv keeps the envelopes' order whatever order the documents came in.
        var letters = 0
        /// Its place among the envelopes open for the key (`InsertFiles` keeps its letters by it).
        var index = 0
        /// 様, or 御中 for an establishment.
        var honorific = EnvelopePolicy.personHonorific
        /// [2026-12] An establishment's: its documents, for establishment_list.csv.
        var listed = EstablishmentList.Entries()

        /// Empties the envelope for the document `r` opens it with, keeping its storage.
        mutating func reopen(
            id: [UInt8], _ r: CopyRow, _ p: PersonColumns, cls: InsurerParameters.MailClass, noForwarding: Bool, index: Int
        ) {
            Self.set(&self.id, id)
            r.withField(p.addressee) { Self.set(&addressee, $0) }
            r.withField(p.addressee + 1) { Self.set(&postal, $0) }
            r.withField(p.addressee + 2) { Self.set(&address, $0) }
            r.withField(p.addressee + 3) { Self.set(&extra, $0) }
            members.removeAll(keepingCapacity: true)
            (counts, letters, self.cls, self.noForwarding, self.index) = (.zero, 0, cls, noForwarding, index)
            honorific = EnvelopePolicy.honorific(key: id)
            listed.removeAll()
        }

        private static func set(_ a: inout [UInt8], _ v: some Collection<UInt8>) {
            a.removeAll(keepingCapacity: true)
            a.append(contentsOf: v)
        }
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
        // Compared in place: a new key is copied (into the key's kept storage) only when the
        // stream reaches it.
        if !(hasOpenKey && r.withField(p.envelope) { openKey.elementsEqual($0) }) {
            try flushEnvelope()
            openKey.removeAll(keepingCapacity: true)
            r.withField(p.envelope) { openKey.append(contentsOf: $0) }
            hasOpenKey = true
        }
        let i = openEnvelope(id) ?? newEnvelope(r, p, id: id, cls: cls, noForwarding: noForwarding)
        open[i].counts[document == "certificate" ? 0 : document == Outcome.eligibilityNotice.rawValue ? 1 : 2] += 1
        if !open[i].members.isEmpty { open[i].members.append(UInt8(ascii: ";")) }
        r.withField(p.memberID) { open[i].members.append(contentsOf: $0) }
        open[i].cls = max(open[i].cls, cls)
        open[i].noForwarding = open[i].noForwarding || noForwarding
        return i
    }

    /// The open envelope with this id (the last one opened with it); read in place.
    private func openEnvelope(_ id: [UInt8]) -> Int? {
        let n = openCount
        return open.withUnsafeBufferPointer { all in
            var i = n - 1
            while i >= 0 {
                if all[i].id == id { return i }
                i -= 1
            }
            return nil
        }
    }

    /// Opens an envelope for the key, in the storage of a closed one when there is one.
    private func newEnvelope(
        _ r: CopyRow, _ p: PersonColumns, id: [UInt8], cls: InsurerParameters.MailClass, noForwarding: Bool
    ) -> Int {
        let i = openCount
        if i == open.count { open.append(Envelope()) }
        openCount += 1
        open[i].reopen(id: id, r, p, cls: cls, noForwarding: noForwarding, index: i)
        return i
    }

    /// Writes the open envelopes in id order (the stream's order), each with its letters.
    func flushEnvelope() throws {
        // Worked on as a local array (read in place, no copy of an envelope), then kept.
        var closing: [Envelope] = []
        swap(&closing, &open)
        defer { swap(&closing, &open) }
        let n = openCount
        openCount = 0
        hasOpenKey = false
        // Sorted in place (a sorted ArraySlice would copy the envelopes).
        if n > 1 { closing.withUnsafeMutableBufferPointer { $0[..<n].sort { $0.id.lexicographicallyPrecedes($1.id) } } }
        try closing.withUnsafeBufferPointer { all in
            for k in 0..<n {
                try writeEnvelope(all.baseAddress! + k)
                try inserts.write(envelope: all[k].index)
                if let list = establishmentList, !all[k].listed.isEmpty {
                    try EstablishmentList.write(list, envelope: all[k].id, addressee: all[k].addressee, entries: all[k].listed)
                }
            }
        }
        inserts.endGroup()
    }

    /// `e`: read in place (a closure that captured the envelope itself would copy it).
    func writeEnvelope(_ e: UnsafePointer<Envelope>) throws {
        let cls = e.pointee.cls
        let yen = settings.parameters.postage(cls)
        let problems = try envelopes.record { w in
            w.field(e.pointee.id)
            w.field(e.pointee.addressee)
            w.field(e.pointee.postal)
            w.field(e.pointee.address)
            w.field(e.pointee.extra)
            w.field(cls.rawValue)
            w.field(e.pointee.noForwarding ? "true" : "false")
            for k in 0..<3 { w.int(Int64(e.pointee.counts[k])) }
            w.int(Int64(e.pointee.counts.wrappedSum()))
            w.field(e.pointee.members)
            w.int(Int64(yen))
            w.int(Int64(e.pointee.letters))
            w.field(e.pointee.honorific)
        }
        // Its fields were checked in the documents it holds.
        guard problems.isEmpty else {
            throw OperatorError(
                .internalError, "envelope \(String(decoding: e.pointee.id, as: UTF8.self)) cannot be encoded: \(problems.map(\.summary))")
        }
        envelopeCount += 1
        postage[cls, default: (0, 0)].envelopes += 1
        postage[cls, default: (0, 0)].yen += yen
    }
}
