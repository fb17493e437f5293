import Testing

@testable import KakuninCore

/// Issue 31 [2026-12]: delivery through employers in KakuninCore (SPEC.md 5.1): the hold when
/// the establishment has no address, the 32nd reason code, the parameter and the envelope rules.
@Suite("Policy and parameters: employee_delivery = employer")
struct EmployerDeliveryCaseTests {
    static let cases: [Case] = [
        Case(
            name: "an establishment without a usable address holds its member (with the codes it would have had)",
            facts: member(.employee) { $0.establishmentAddressMissing = true }, outcome: .held,
            reasons: [.ESTABLISHMENT_ADDRESS_MISSING, .NO_CARD]),
        Case(
            name: "the establishment's address does not matter to a member who needs no mail",
            facts: member(.employee) {
                $0.establishmentAddressMissing = true
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            outcome: .none, reasons: [.COVERED]),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("ESTABLISHMENT_ADDRESS_MISSING is the last code and the 32nd: ReasonSet's UInt32 holds every code")
    func thirtySecondCode() {
        #expect(ReasonCode.allCases.last == .ESTABLISHMENT_ADDRESS_MISSING)
        #expect(ReasonCode.allCases.count <= UInt32.bitWidth)
        let all = ReasonSet(ReasonCode.allCases)
        #expect(all.count == ReasonCode.allCases.count && all.contains(.ESTABLISHMENT_ADDRESS_MISSING) && all.contains(.NO_CARD))
        #expect(ReasonCode.ESTABLISHMENT_ADDRESS_MISSING.explanation.text.contains("import establishments.csv"))
        #expect(ReasonCode.ESTABLISHMENT_ADDRESS_MISSING.japanese.contains("事業所"))
    }

    @Test("employee_delivery: home by default, employer when set, listed; another value names the fix")
    func parameter() throws {
        #expect(InsurerParameters().employeeDelivery == .home)
        let p = try ParameterFile.parse("employee_delivery = employer", file: "x.conf")
        #expect(p.employeeDelivery == .employer)
        #expect(p.listing.contains { $0 == ("employee_delivery", "employer") })
        let e = #expect(throws: ParameterError.self) { try ParameterFile.parse("employee_delivery = office", file: "x.conf") }
        #expect(e?.parameter == "employee_delivery" && e?.fix.contains("employer") == true)
    }

    @Test("an establishment's envelope is addressed 御中, a person's 様; only H- envelopes are divided")
    func honorific() {
        #expect(EnvelopePolicy.honorific(key: Array("E-E001".utf8)) == "御中")
        #expect(EnvelopePolicy.honorific(key: Array("M-E001".utf8)) == "様" && EnvelopePolicy.honorific(key: Array("E-".utf8)) == "様")
        let policy = EnvelopePolicy(InsurerParameters())
        let id = Array("E-E001".utf8).withUnsafeBufferPointer { k in
            Array("A1".utf8).withUnsafeBufferPointer { policy.envelopeID(key: k, member: $0, group: .certificate) }
        }
        #expect(id == Array("E-E001".utf8))
    }
}
