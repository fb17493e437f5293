import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// The vendor records of the mailing files: their columns and how a certificate, a notice or a
/// held member is written into them.
extension MailStaging {
    static let person = [
        "member_id", "scheme", "insurer_number", "insurer_name", "symbol", "number", "branch", "family_name",
        "given_name", "family_name_kana", "given_name_kana", "birth_date", "birth_date_era", "sex", "copay_ratio",
    ]
    static let tail = ["preferred_language", "addressee", "postal_code", "address", "address_extra", "mail_class", "no_forwarding"]
    /// [2026-12] Appended after the older columns, which keep their places (SPEC.md 5.1): the
    /// variant (standard or special_care), the document's title and the copay line as printed.
    static let printedTail = ["variant", "title", "copay_text"]
    /// [2026-12] Certificates: the optional entries as printed (「＊」 for none; a date's ISO
    /// column is blank then and its era column 「＊」).
    static let entriesTail = [
        "limit_category", "limit_effective_on", "limit_effective_on_era", "long_stay_on", "long_stay_on_era",
        "specific_disease",
    ]
    static let envelopeHeader = [
        "envelope_id", "addressee", "postal_code", "address", "address_extra", "mail_class", "no_forwarding",
        "certificates", "eligibility_notices", "apply_notices", "documents", "member_ids", "postage_yen", "inserts", "honorific",
    ]
    static let exceptionHeader = [
        "member_id", "scheme", "outcome", "reasons", "document", "certificate_number", "field", "problem",
        "character", "code_point", "length", "limit",
    ]

    /// Writes a certificate's record; returns the problems' summary when it went to the
    /// exceptions instead (the certificate waits for staff), nil when it is in the vendor file.
    /// With [2026-12] the certificate's printed snapshot (SPEC.md 2.5, sql/031).
    func certificate(
        _ r: CopyRow, _ p: PersonColumns, number: Int64, kind: String, validFrom: LocalDate, validTo: LocalDate,
        issuedOn: LocalDate, reasons: [UInt8], replaces: Int64?
    ) throws -> (held: String?, printed: PrintedSnapshot) {
        let d = try printed(r, p, .certificate, validFrom: validFrom, issuedOn: issuedOn)
        let cls = settings.certificateClass
        let nf = settings.noForwardingCertificate
        let id = envelopeID(r, p, .certificate)
        let problems = try certificates.record { w in
            w.field(id)
            w.int(number)
            w.field(kind)
            person(&w, r, p, copay: d.copayRatio != nil)
            w.date(d.copayEffectiveOn)
            w.date(validFrom)
            w.date(validTo)
            w.date(issuedOn)
            w.field(reasons)
            w.int(replaces)
            tail(&w, r, p, cls, nf)
            printedTail(&w, d)
            if let e = d.entries {
                w.field(e.limitCategory)
                entryDate(&w, e.limitEffectiveOn)
                entryDate(&w, e.longStayOn)
                w.field(e.specificDisease)
            }
            w.field(EnvelopePolicy.honorific(key: id))
            w.field(certificateFormat)
        }
        let held = try placed(
            problems, r, p, envelope: id, document: "certificate", outcome: kind, number: number, reasons: reasons, cls: cls, nf: nf,
            validity: (validFrom, validTo))
        return (held, p.snapshot(r, d, insurerName: settings.parameters.insurerName))
    }

    /// `validFrom`/`validTo`: the period of a notice that carries 有効期限 (nhi, attained 70), whose
    /// first day is the copay's 発効期日.
    func notice(
        _ kind: Outcome, _ r: CopyRow, _ p: PersonColumns, sentOn: LocalDate, reasons: [UInt8],
        validFrom: LocalDate? = nil, validTo: LocalDate? = nil
    ) throws -> String? {
        let cls = settings.noticeClass
        let nf = settings.noForwardingNotice
        let d = try printed(r, p, .eligibilityNotice, validFrom: validFrom, issuedOn: sentOn)
        let id = envelopeID(r, p, .notice)
        let problems = try (kind == .eligibilityNotice ? eligibility : apply).record { w in
            w.field(id)
            person(&w, r, p, copay: d.copayRatio != nil)
            if kind == .eligibilityNotice {
                w.date(d.copayEffectiveOn)
                w.date(validTo)
            }
            w.date(sentOn)
            w.field(reasons)
            tail(&w, r, p, cls, nf)
            if kind == .eligibilityNotice { printedTail(&w, d) }
            w.field(EnvelopePolicy.honorific(key: id))
        }
        return try placed(
            problems, r, p, envelope: id, document: kind.rawValue, outcome: kind.rawValue, number: nil, reasons: reasons, cls: cls, nf: nf,
            validity: (validFrom, validTo))
    }

    /// A held member (nothing to mail this run).
    func exception(_ r: CopyRow, _ p: PersonColumns, outcome: String, reasons: [UInt8]) throws {
        _ = try exceptions.record { w in
            w.field(r, p.memberID)
            w.field(r, p.scheme)
            w.field(outcome)
            w.field(reasons)
            for _ in 0..<8 { w.field("") }
        }
    }

    /// What is printed for the member on this document (SPEC.md 5.1), from the row as the run saw it.
    func printed(
        _ r: CopyRow, _ p: PersonColumns, _ document: PrintedDetails.Document, validFrom: LocalDate?,
        issuedOn: LocalDate
    ) throws -> PrintedDetails {
        guard let m = try p.printedMember(r) else { throw OperatorError(.internalError, "a member row without scheme or birth date") }
        return PrintedDetails(m, document, validFrom: validFrom, issuedOn: issuedOn)
    }

    func printedTail(_ w: inout RecordLine, _ d: PrintedDetails) {
        w.field(d.variant.rawValue)
        w.field(d.title)
        w.field(d.copayText ?? "")
    }

    /// An optional entry's date: ISO and era, or blank and 「＊」.
    func entryDate(_ w: inout RecordLine, _ d: LocalDate?) {
        if let d {
            w.date(d)
        } else {
            w.field("")
            w.field(PrintedDetails.none)
        }
    }

    func person(_ w: inout RecordLine, _ r: CopyRow, _ p: PersonColumns, copay: Bool) {
        w.field(r, p.memberID)
        w.field(r, p.scheme)
        w.field(r, p.mail + 1)  // insurer_number
        w.field(insurerName)
        for i in p.mail + 2...p.mail + 8 { w.field(r, i) }  // symbol … given_name_kana
        w.date(r, p.birthDate)
        w.field(r, p.mail + 9)  // sex
        if copay { w.field(r, p.copayRatio) } else { w.field("") }
    }

    func tail(_ w: inout RecordLine, _ r: CopyRow, _ p: PersonColumns, _ cls: InsurerParameters.MailClass, _ nf: Bool) {
        w.field(r, p.language)
        for i in p.addressee...p.addressee + 3 { w.field(r, i) }
        w.field(cls.rawValue)
        w.field(nf ? "true" : "false")
    }
}
