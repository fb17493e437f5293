import Testing

@testable import KakuninCore

/// SPEC.md 2.5 "Printed details change" [2026-12]: an active certificate whose printed details no
/// longer match the record is replaced (renew, PRINTED_DETAILS_CHANGED) with the same end, unless
/// the ordinary renewal is already within the mailing horizon.
@Suite("Policy: SPEC.md 2.5 — printed details change")
struct PrintedDetailsChangeCaseTests {
    /// Certificate 7, 2026-08-01 … 2027-07-31, whose printed `field` no longer matches.
    static func changed(
        _ field: PrintedSnapshot.Field?, from: String = "2026-08-01", to: String = "2027-07-31",
        special: Bool = false, _ edit: (inout MemberFacts) -> Void = { _ in }
    ) -> MemberFacts {
        member { f in
            f.latestCertificate = cert(from, to, special: special)
            f.latestCertificate!.printedChange = field
            edit(&f)
        }
    }

    static let cases: [Case] = [
        Case(
            name: "name changed: replacement from D to the old end", facts: changed(.name),
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "限度区分 changed: the same", facts: changed(.limitCategory),
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "insurer name changed (a new parameter version): the same", facts: changed(.insurerName),
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-11-21", to: "2027-07-31"),
        Case(name: "nothing changed: covered", facts: changed(nil), outcome: .none, reasons: [.COVERED]),
        Case(
            name: "a renewal issued ahead (starts after D): replaced from its own valid_from",
            facts: changed(.copay, from: "2026-12-01", to: "2027-11-30") { $0.coveringCertificateEnd = d("2026-11-30") },
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-12-01", to: "2027-11-30"),
        Case(
            name: "old certificate ends the day after the horizon (2026-12-31 + 1): still replaced",
            facts: changed(.variant, from: "2026-01-01", to: "2027-01-01"),
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-11-21", to: "2027-01-01"),
        Case(
            name: "old certificate ends on the horizon (S = 2027-01-01 > D+40 = 2026-12-31): still replaced",
            facts: changed(.variant, from: "2026-01-01", to: "2026-12-31"),
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-11-21", to: "2026-12-31"),
        Case(
            name: "old certificate ends the day before the horizon: the ordinary renewal serves instead",
            facts: changed(.name, from: "2026-01-01", to: "2026-12-30"),
            outcome: .renew, reasons: [.NO_CARD], from: "2026-12-31", to: "2027-07-31"),
        Case(
            name: "a special consideration goes on with the replacement",
            facts: changed(.kana, special: true),
            outcome: .renew, reasons: [.PRINTED_DETAILS_CHANGED], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "no usable address: held, decided again next run",
            facts: changed(.name) { $0.deliverable = false },
            outcome: .held, reasons: [.PRINTED_DETAILS_CHANGED, .MISSING_ADDRESS]),
        Case(
            name: "disqualified: none, no replacement",
            facts: changed(.name) { $0.disqualifiedOn = d("2026-11-01") }, outcome: .none, reasons: [.NOT_QUALIFIED]),
        Case(
            name: "S on the 75th birthday: moves to the elderly scheme, no replacement",
            facts: changed(.name, from: "2026-08-01", to: "2026-12-09") { $0.birthDate = d("1951-12-10") },
            outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "a reissue application on file: served by rule 3 (APP_REISSUE), keeping the old dates",
            facts: changed(.name) { $0.application = OpenApplication(id: 3, kind: .reissue, receivedOn: d("2026-11-01")) },
            outcome: .issueOnApplication, reasons: [.APP_REISSUE], from: "2026-08-01", to: "2027-07-31"),
        Case(
            name: "the certificate ended (a special consideration kept): not active, no replacement",
            facts: changed(.name, from: "2025-08-01", to: "2026-07-31", special: true),
            outcome: .renew, reasons: [.SPECIAL_CONSIDERATION_CONTINUES], from: "2026-11-21", to: "2027-07-31"),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("the replacement names the certificate it voids, and explain names the field, not its value")
    func replacesAndExplains() {
        let (decision, steps) = Policy(parameters: InsurerParameters()).explain(Self.changed(.limitCategory), asOf: d("2026-11-21"))
        #expect(decision.replacesCertificate == 7)
        #expect(steps.contains { $0.contains("(limit_category)") && $0.contains("SPEC.md 2.5 printed details change") })
    }

    @Test("snapshots: the first field that differs, in field order; the stored form round-trips")
    func snapshots() {
        var a = PrintedSnapshot()
        a.set(.name, "山田", "太郎")
        a.set(.limitCategory, "区ア", "2026-08-01")
        var b = a
        #expect(a.firstDifference(from: b) == nil)
        b.set(.limitCategory, "区イ", "2026-08-01")
        #expect(a.firstDifference(from: b) == .limitCategory)
        b.set(.name, "山田", "花子")
        #expect(a.firstDifference(from: b) == .name)
        var c = a
        c.set(.name, "山田太", "郎")
        #expect(a.firstDifference(from: c) == .name, "parts are separated")
        #expect(PrintedSnapshot(bytes: b.bytes) == b && PrintedSnapshot(hex: b.hex) == b && b.bytes.count == 48)
        #expect(PrintedSnapshot(hex: "00") == nil && PrintedSnapshot(hex: String(repeating: "zz", count: 48)) == nil)
    }
    @Test(
        "the stored form does not move: set(PrintedDetails) hashes each field as set(field, texts…) does (dates as ISO text), and a known member's snapshot is the hex certificates keep since sql/031"
    )
    func storedFormIsStable() {
        let day = d("2026-12-01")
        let full = PrintedMember(
            scheme: .nhi, birthDate: d("1954-03-02"), copayRatio: 20, copayEffectiveOn: d("2026-08-01"), specialCare: true,
            limitCategory: "区ア", limitEffectiveOn: d("2026-08-01"), longStayOn: d("2025-12-24"), specificDisease: "B")
        let bare = PrintedMember(scheme: .employee, birthDate: d("1990-05-05"))
        var fast = PrintedSnapshot()
        var reference = PrintedSnapshot()
        for member in [full, bare] {
            let p = PrintedDetails(member, .certificate, validFrom: day, issuedOn: day)
            fast.set(p)
            reference.set(.copay, p.copayText, p.copayEffectiveOn?.description)
            reference.set(.variant, p.variant.rawValue)
            reference.set(.limitCategory, p.entries?.limitCategory, p.entries?.limitEffectiveOn?.description)
            reference.set(.longStayOn, p.entries?.longStayOn?.description)
            reference.set(.specificDisease, p.entries?.specificDisease)
            #expect(fast == reference)
        }
        var known = PrintedSnapshot()
        known.set(.name, "山田", "太郎")
        known.set(PrintedDetails(full, .certificate, validFrom: day, issuedOn: day))
        #expect(known.hex == "1185a156" + String(repeating: "811c9dc5", count: 6) + "cd58c90827aedd0143e78b583b4d0be8f1dd136e")
        var out: [UInt8] = [1]
        known.appendHex(to: &out)
        #expect(out == [1] + Array(known.hex.utf8) && known.hashes.count == 12)
    }
}
