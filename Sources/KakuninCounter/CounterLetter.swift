import KakuninBatch
import KakuninCore

extension CounterDesk.IssuedCertificate {
    /// The member letter for this certificate (SPEC.md 5.2): the words the vendor prints with a
    /// mailed one, in the member's language, or in `language` (the console shows Japanese).
    public func letter(_ parameters: InsurerParameters, language: String? = nil) -> MemberLetter {
        MemberLetter(
            LetterFacts(
                kind: kind, reasons: reasons, name: family_name + (given_name.map { " " + $0 } ?? ""),
                validFrom: LocalDate(valid_from), validTo: LocalDate(valid_to),
                preferredLanguage: language ?? preferred_language, insurer: InsurerContact(parameters)))
    }

    /// The identifiers printed at the top of the letter.
    public var letterReference: String {
        LetterReference.counter(member: member_id, certificate: certificate_number)
    }
}
