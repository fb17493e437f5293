/// [2026-12] Which envelope a mailed document goes in (SPEC.md 5.1, parameters
/// `nhi_mixed_household` and `nhi_envelope`).
///
/// The run streams members ordered by an envelope key: `H-<household>` for an nhi household
/// (addressed to its head), `M-<member>` for everyone else. The key is the envelope itself
/// unless the household's policy divides it: then the envelope id is the key, `+` and either
/// the document group (`C` certificates, `N` notices: `split`) or the member id
/// (`per_person_to_head`). `+` sorts before every character an identifier may hold (letters,
/// digits, `-`, `_`), so the ids stay in the stream's order and envelopes.csv stays sorted.
public struct EnvelopePolicy: Sendable, Equatable {
    public enum Group: Sendable { case certificate, notice }

    public let mixedHousehold: InsurerParameters.MixedHousehold
    public let nhiEnvelope: InsurerParameters.NHIEnvelope
    public static let separator = UInt8(ascii: "+")
    /// [2026-12] The honorific the vendor prints after the addressee (SPEC.md 5.1): the files
    /// carry the name without one, in a column of its own, so no envelope reads 「様様」.
    public static let personHonorific = "様"
    /// For an envelope addressed to an establishment (事業主経由).
    public static let establishmentHonorific = "御中"

    public init(_ p: InsurerParameters) {
        mixedHousehold = p.nhiMixedHousehold
        nhiEnvelope = p.nhiEnvelope
    }

    /// The envelope id of a document of `group` for `member`, whose stream key is `key`.
    public func envelopeID(key: UnsafeBufferPointer<UInt8>, member: UnsafeBufferPointer<UInt8>, group: Group) -> [UInt8] {
        var id = Array(key)
        guard Self.isHousehold(key) else { return id }
        switch (nhiEnvelope, mixedHousehold) {
        case (.perPersonToHead, _):
            id.append(Self.separator)
            id.append(contentsOf: member)
        case (.household, .split):
            id.append(Self.separator)
            id.append(group == .certificate ? UInt8(ascii: "C") : UInt8(ascii: "N"))
        case (.household, .stricterClass):
            break
        }
        return id
    }

    /// [2026-12] An establishment's envelope (`E-<establishment>`, employee_delivery = employer).
    /// Inlinable, and comparing two bytes in place: the mailing thread asks this for every
    /// document (an array literal per call and an unspecialised generic cost more than the rest).
    @inlinable
    public static func isEstablishment(_ key: some Collection<UInt8>) -> Bool {
        guard key.count > 2 else { return false }
        var i = key.makeIterator()
        return i.next() == UInt8(ascii: "E") && i.next() == UInt8(ascii: "-")
    }

    /// What the vendor prints after the addressee of the envelope with this key: 御中 for an
    /// establishment, 様 for a person.
    @inlinable
    public static func honorific(key: some Collection<UInt8>) -> String {
        isEstablishment(key) ? establishmentHonorific : personHonorific
    }

    /// An nhi household's key (`H-…`): the only envelopes a household policy divides.
    static func isHousehold(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        key.count > 2 && key[0] == UInt8(ascii: "H") && key[1] == UInt8(ascii: "-")
    }
}
