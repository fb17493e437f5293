import Crypto
import Foundation
import KakuninCore
import KakuninStore

#if canImport(Glibc)
import Glibc
import KakuninRuntime
#endif

/// Where a mailing record's member columns are in a row: the member id, scheme and birth date,
/// then `MemberFactsQuery.mailColumns` from `mail` on.
struct PersonColumns {
    let memberID: Int, scheme: Int, birthDate: Int, mail: Int
    var envelope: Int { mail }
    var copayRatio: Int { mail + 10 }
    var language: Int { mail + 11 }
    var addressee: Int { mail + 12 }
    /// [2026-12] copay_effective_on, special_care, limit_category, limit_effective_on,
    /// long_stay_on, specific_disease.
    var entries: Int { mail + 16 }

    /// What the member's record holds for the printed fields (`PrintedDetails`), as the run saw it.
    func printedMember(_ r: some FactsRow) throws -> PrintedMember? {
        guard let scheme = r.value(self.scheme, Scheme.self), let birth = try r.date(birthDate) else { return nil }
        let e = entries
        return PrintedMember(
            scheme: scheme, birthDate: birth, copayRatio: r.int64(copayRatio).map(Int.init),
            copayEffectiveOn: try r.date(e), specialCare: r.isTrue(e + 1),
            limitCategory: r.string(e + 2), limitEffectiveOn: try r.date(e + 3),
            longStayOn: try r.date(e + 4), specificDisease: r.string(e + 5))
    }

    /// [2026-12] The printed snapshot of a certificate for the member of `r` (SPEC.md 2.5).
    func snapshot(_ r: some FactsRow, validFrom: LocalDate, issuedOn: LocalDate, insurerName: String?) throws -> PrintedSnapshot? {
        guard let m = try printedMember(r) else { return nil }
        return snapshot(r, PrintedDetails(m, .certificate, validFrom: validFrom, issuedOn: issuedOn), insurerName: insurerName)
    }

    func snapshot(_ r: some FactsRow, _ d: PrintedDetails, insurerName: String?) -> PrintedSnapshot {
        var s = PrintedSnapshot()
        // Hashed in place, each column a part (NULL and empty alike); a column range, not a
        // variadic list: no array per field.
        func field(_ f: PrintedSnapshot.Field, _ columns: ClosedRange<Int>) {
            var h = PrintedSnapshot.Part()
            for c in columns {
                r.withBytes(c) { h.add($0) }
                h.end()
            }
            s.set(f, h)
        }
        field(.name, mail + 5...mail + 6)
        field(.kana, mail + 7...mail + 8)
        field(.birthDate, birthDate...birthDate)
        field(.sex, mail + 9...mail + 9)
        field(.symbolNumberBranch, mail + 2...mail + 4)
        field(.insurerNumber, mail + 1...mail + 1)
        var name = PrintedSnapshot.Part()
        name.add(insurerName)
        name.end()
        s.set(.insurerName, name)
        s.set(d)
        return s
    }
}

/// What the mailing files of an insurer look like (SPEC.md 2.6, 5.1), from its parameters.
struct MailSettings: Sendable {
    let parameters: InsurerParameters

    init(_ p: InsurerParameters) { parameters = p }

    var encoding: InsurerParameters.VendorEncoding { parameters.vendorEncoding }
    var certificateClass: InsurerParameters.MailClass { parameters.mailClassCertificate }
    var noticeClass: InsurerParameters.MailClass { parameters.mailClassNotice }
    var noForwardingCertificate: Bool { parameters.noForwardingCertificate }
    var noForwardingNotice: Bool { parameters.noForwardingNotice }
}
