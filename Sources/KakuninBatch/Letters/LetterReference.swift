import KakuninCore

/// The identifiers printed at the top of a letter handed over at the counter (the mailed ones
/// get theirs from the inserts file, Mail/Inserts.swift).
public enum LetterReference {
    public static func counter(member: String, certificate: Int64) -> String {
        InsertFiles.reference(envelope: "counter", member: member, document: .certificate, number: certificate)
    }
}
