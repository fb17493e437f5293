import Testing

@testable import KakuninCore

func d(_ s: String) -> LocalDate { LocalDate(s)! }

enum Myna {
    static let usable = MynaStatus(
        hasCard: true, registration: .registered, cardState: .active,
        ecertExpiry: d("2030-01-31"), cardExpiry: d("2034-01-31"))
    static let noCard = MynaStatus(hasCard: false, registration: nil, cardState: .none)
    static func card(
        _ r: MynaStatus.Registration = .registered, _ s: MynaStatus.CardState = .active,
        ecert: String? = "2030-01-31", card: String? = nil
    ) -> MynaStatus {
        MynaStatus(hasCard: true, registration: r, cardState: s, ecertExpiry: ecert.map(d), cardExpiry: card.map(d))
    }
}

/// One row of the case table: facts, as-of date, and what SPEC.md says must come out.
struct Case: CustomTestStringConvertible, Sendable {
    let name: String
    var facts: MemberFacts
    var asOf = "2026-11-21"
    var parameters = InsurerParameters()
    let outcome: Outcome
    let reasons: [ReasonCode]
    var from: String? = nil
    var to: String? = nil
    var testDescription: String { name }
}

/// A member for whom nothing special holds: nhi, born 1980-04-01, qualified 2020-04-01.
func member(
    _ scheme: Scheme = .nhi, born: String = "1980-04-01", qualified: String = "2020-04-01",
    myna: MynaStatus? = Myna.noCard, _ edit: (inout MemberFacts) -> Void = { _ in }
) -> MemberFacts {
    var f = MemberFacts(scheme: scheme, birthDate: d(born), qualifiedOn: d(qualified), myna: myna)
    edit(&f)
    return f
}

func cert(_ from: String, _ to: String, number: Int64 = 7, special: Bool = false, active: Bool = true) -> CertificateFacts {
    CertificateFacts(number: number, validFrom: d(from), validTo: d(to), active: active, specialConsiderationContinues: special)
}

func params(_ edit: (inout InsurerParameters) -> Void) -> InsurerParameters {
    var p = InsurerParameters()
    edit(&p)
    return p
}

@Suite("Policy: SPEC.md 2.1 — issued without application")
struct AutomaticIssueTests {
    static let cases: [Case] = [
        Case(name: "NO_CARD", facts: member(), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-07-31"),
        Case(name: "NOT_REGISTERED", facts: member(myna: Myna.card(.notRegistered)), outcome: .issue, reasons: [.NOT_REGISTERED]),
        Case(
            name: "REGISTRATION_CANCELLED (requested)", facts: member(myna: Myna.card(.cancelRequested)), outcome: .issue,
            reasons: [.REGISTRATION_CANCELLED]),
        Case(
            name: "REGISTRATION_CANCELLED (completed)", facts: member(myna: Myna.card(.cancelled)), outcome: .issue,
            reasons: [.REGISTRATION_CANCELLED]),
        Case(
            name: "ECERT_EXPIRED: grace ends 2026-11-30, before D+40 = 2026-12-31",
            facts: member(myna: Myna.card(ecert: "2026-08-31")), outcome: .issue, reasons: [.ECERT_EXPIRED]),
        Case(
            name: "e-cert grace ends on D+40 exactly: still usable",
            facts: member(myna: Myna.card(ecert: "2026-09-15")), outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "e-cert grace ends one day before D+40: lapsed",
            facts: member(myna: Myna.card(ecert: "2026-09-15")), asOf: "2026-11-22", outcome: .issue, reasons: [.ECERT_EXPIRED]),
        Case(
            name: "card expiry (not only the e-cert) counts",
            facts: member(myna: Myna.card(ecert: "2030-01-01", card: "2026-08-01")), outcome: .issue, reasons: [.ECERT_EXPIRED]),
        Case(
            name: "ecert_grace_months = 4 keeps the card usable",
            facts: member(myna: Myna.card(ecert: "2026-08-31")), parameters: params { $0.ecertGraceMonths = 4 },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "CARD_RETURNED (no card any more)",
            facts: member(myna: MynaStatus(hasCard: false, registration: nil, cardState: .returned)),
            outcome: .issue, reasons: [.CARD_RETURNED]),
        Case(
            name: "CARD_RETURNED (card still reported)", facts: member(myna: Myna.card(.registered, .returned)), outcome: .issue,
            reasons: [.CARD_RETURNED]),
        Case(
            name: "ACCESS_RESTRICTED with an otherwise usable card", facts: member(myna: Myna.usable) { $0.accessRestricted = true },
            outcome: .issue, reasons: [.ACCESS_RESTRICTED]),
        Case(name: "MYNA_STATUS_UNKNOWN: fail safe", facts: member(myna: nil), outcome: .issue, reasons: [.MYNA_STATUS_UNKNOWN]),
        Case(
            name: "no card, registration cancelled: NO_CARD and REGISTRATION_CANCELLED (issue 10)",
            facts: member(myna: MynaStatus(hasCard: false, registration: .cancelled, cardState: .none)),
            outcome: .issue, reasons: [.NO_CARD, .REGISTRATION_CANCELLED]),
        Case(
            name: "no card, cancellation requested: NO_CARD and REGISTRATION_CANCELLED",
            facts: member(myna: MynaStatus(hasCard: false, registration: .cancelRequested, cardState: .none)),
            outcome: .issue, reasons: [.NO_CARD, .REGISTRATION_CANCELLED]),
        Case(
            name: "card returned, registration cancelled: CARD_RETURNED and REGISTRATION_CANCELLED",
            facts: member(myna: MynaStatus(hasCard: false, registration: .cancelled, cardState: .returned)),
            outcome: .issue, reasons: [.CARD_RETURNED, .REGISTRATION_CANCELLED]),
        Case(
            name: "no card, not registered: NO_CARD only (NOT_REGISTERED needs a card)",
            facts: member(myna: MynaStatus(hasCard: false, registration: .notRegistered, cardState: .none)),
            outcome: .issue, reasons: [.NO_CARD]),
        Case(
            name: "no card, access restricted: NO_CARD and ACCESS_RESTRICTED",
            facts: member { $0.accessRestricted = true }, outcome: .issue, reasons: [.ACCESS_RESTRICTED, .NO_CARD]),
        Case(
            name: "no Myna status, access restricted: MYNA_STATUS_UNKNOWN and ACCESS_RESTRICTED",
            facts: member(myna: nil) { $0.accessRestricted = true }, outcome: .issue, reasons: [.ACCESS_RESTRICTED, .MYNA_STATUS_UNKNOWN]),
        Case(
            name: "cancelled registration and an e-cert past its grace: both",
            facts: member(myna: Myna.card(.cancelled, ecert: "2026-01-31")), outcome: .issue,
            reasons: [.ECERT_EXPIRED, .REGISTRATION_CANCELLED]),
        Case(
            name: "returned mail, address unchanged: held with MAIL_RETURNED (and the codes it would have had)",
            facts: member { $0.mailReturned = true }, outcome: .held, reasons: [.MAIL_RETURNED, .NO_CARD]),
        Case(
            name: "returned mail does not hold a member who needs no mail",
            facts: member {
                $0.mailReturned = true
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            }, outcome: .none, reasons: [.COVERED]),
        Case(
            name: "every code that applies",
            facts: member(myna: Myna.card(.notRegistered, .returned, ecert: "2026-01-31")) { $0.accessRestricted = true },
            outcome: .issue, reasons: [.ACCESS_RESTRICTED, .CARD_RETURNED, .ECERT_EXPIRED, .NOT_REGISTERED]),
        Case(
            name: "renew when an active certificate runs out within the lead",
            facts: member { $0.latestCertificate = cert("2025-12-02", "2026-12-15") },
            outcome: .renew, reasons: [.NO_CARD], from: "2026-12-16", to: "2027-07-31"),
        Case(
            name: "a renewal already issued (starts after D) while the current certificate covers D: covered, not issued again",
            facts: member {
                $0.latestCertificate = cert("2027-08-01", "2028-07-31", number: 8)
                $0.coveringCertificateEnd = d("2027-07-31")
            },
            asOf: "2027-06-26", outcome: .none, reasons: [.COVERED]),
        Case(
            name: "issue when the latest certificate has already ended",
            facts: member { $0.latestCertificate = cert("2025-08-01", "2026-07-31") },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "a voided certificate does not count",
            facts: member { $0.latestCertificate = cert("2026-08-01", "2027-07-31", active: false) },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21"),
        // Decided by us (SPEC.md is silent): a gap before a certificate already issued (the one
        // before it was voided) is filled up to the day before it starts, never overlapping it.
        Case(
            name: "a gap before a renewal already issued (employee, rolling): ends the day before the renewal starts",
            facts: member(.employee) { $0.latestCertificate = cert("2027-08-01", "2028-07-31", number: 8) },
            outcome: .renew, reasons: [.NO_CARD], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "a gap shorter than min_validity_days before a renewal already issued (nhi): not extended over the renewal",
            facts: member { $0.latestCertificate = cert("2027-08-01", "2028-07-31", number: 8) },
            asOf: "2027-06-26", outcome: .renew, reasons: [.NO_CARD], from: "2027-06-26", to: "2027-07-31"),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }
}

@Suite("Policy: SPEC.md 2.4 — dated measures")
struct DatedMeasureTests {
    static func elderly(_ born: String, _ q: String, _ edit: (inout MemberFacts) -> Void) -> MemberFacts {
        member(.elderly, born: born, qualified: q, myna: Myna.usable, edit)
    }
    static let cases: [Case] = [
        // Phase 1: 2024-12-02 … 2025-07-31
        Case(
            name: "phase 1: newly joined elderly member gets a certificate regardless of Myna",
            facts: elderly("1949-12-20", "2024-12-19") { _ in }, asOf: "2025-03-01",
            outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2025-03-01", to: "2025-07-31"),
        Case(
            name: "phase 1: long-standing member whose card ends inside the phase",
            facts: elderly("1940-05-05", "2015-05-04") { $0.legacyCardExpiry = d("2025-02-28") }, asOf: "2025-01-25",
            outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2025-03-01", to: "2025-07-31"),
        Case(
            name: "the day before phase 1: normal rules (eligibility notice)",
            facts: elderly("1949-10-01", "2024-10-01") { _ in }, asOf: "2024-12-01",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        // Phase 2: 2025-08-01 … 2026-07-31
        Case(
            name: "phase 2: every elderly member",
            facts: elderly("1940-05-05", "2015-05-04") { _ in }, asOf: "2026-03-01",
            outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-03-01", to: "2026-07-31"),
        Case(
            name: "phase 2 decided on S, not D: certificate ends 2026-07-30, S = 2026-07-31 is in force",
            facts: elderly("1940-05-05", "2015-05-04") { $0.latestCertificate = cert("2025-08-01", "2026-07-30") }, asOf: "2026-07-15",
            outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-07-31", to: "2027-07-31"),
        Case(
            name:
                "after phase 2, decided on S: certificate ends 2026-07-31, S = 2026-08-01 → normal rules for a member under 85 (card in regular use)",
            facts: elderly("1948-05-05", "2023-05-04") {
                $0.latestCertificate = cert("2025-08-01", "2026-07-31")
                $0.myna = Usage.status("2026-06-30", last: "2026-06-20")
            }, asOf: "2026-07-15",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "phase 2 → phase 3 without a gap: an 86-year-old's certificate ending 2026-07-31 is renewed from 2026-08-01",
            facts: elderly("1940-05-05", "2015-05-04") { $0.latestCertificate = cert("2025-08-01", "2026-07-31") }, asOf: "2026-07-15",
            outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-08-01", to: "2027-07-31"),
        Case(
            name: "the day after phase 2: normal rules for a member under 85 who uses the card (usage test passed)",
            facts: elderly("1948-05-05", "2023-05-04") { $0.myna = Usage.regular }, asOf: "2026-08-01",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "phase 2 does not apply to nhi members",
            facts: member(.nhi, myna: Myna.usable), asOf: "2026-03-01", outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        // Phase 3: from 2026-08-01, no end announced; elderly_85_continuation on by default.
        Case(
            name: "phase 3: born 1941-08-02 attains 85 on 2026-08-01 (the day before the birthday), usable Myna card",
            facts: elderly("1941-08-02", "2016-08-01") { _ in }, asOf: "2026-09-01",
            outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-09-01", to: "2027-07-31"),
        Case(
            name: "phase 3: born 1941-08-03 attains 85 on 2026-08-02: normal rules (card in regular use)",
            facts: elderly("1941-08-03", "2016-08-02") { $0.myna = Usage.regular }, asOf: "2026-09-01",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "phase 3: born 29 February 1940 (86 on 2026-08-01) is in the cohort",
            facts: elderly("1940-02-29", "2015-02-28") { _ in }, asOf: "2026-09-01",
            outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL], from: "2026-09-01", to: "2027-07-31"),
        Case(
            name: "phase 3: born 29 February 1944 (82 on 2026-08-01) is not (card in regular use)",
            facts: elderly("1944-02-29", "2019-02-28") { $0.myna = Usage.regular }, asOf: "2026-09-01",
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "phase 3: the cohort member decided with elderly_85_continuation off",
            facts: elderly("1941-08-02", "2016-08-01") { _ in }, asOf: "2026-09-01",
            parameters: params { $0.elderly85Continuation = false },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "phase 3 has no end: the cohort member is renewed in 2031",
            facts: elderly("1930-01-10", "2005-01-09") { $0.latestCertificate = cert("2030-08-01", "2031-07-31") }, asOf: "2031-07-01",
            outcome: .renew, reasons: [.ELDERLY_TRANSITIONAL], from: "2031-08-01", to: "2032-07-31"),
        Case(
            name: "phase 3 does not apply to nhi members of 85: they left nhi at 75 (2.5 rule 2)",
            facts: member(.nhi, born: "1930-01-10", myna: Myna.usable), asOf: "2026-09-01", outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "phase 3 does not apply to nhi members under 75",
            facts: member(.nhi, born: "1960-01-10", myna: Myna.usable), asOf: "2026-09-01", outcome: .eligibilityNotice,
            reasons: [.MYNA_USABLE]),
        // SPEC.md 2.2: an elderly member's application without a basis (the import lets it through
        // from 2026-08-01) is issued on, and renews like special consideration.
        Case(
            name: "elderly application without a basis, received 2026-08-01: issued on application",
            facts: elderly("1950-03-03", "2025-03-02") {
                $0.application = OpenApplication(id: 5, kind: .specialConsideration, receivedOn: d("2026-08-01"))
            },
            asOf: "2026-08-10", outcome: .issueOnApplication, reasons: [.APP_SPECIAL_CONSIDERATION], from: "2026-08-10", to: "2027-07-31"),
        Case(
            name: "its renewal a year later, card in regular use: SPECIAL_CONSIDERATION_CONTINUES",
            facts: elderly("1950-03-03", "2025-03-02") {
                $0.latestCertificate = cert("2026-08-10", "2027-07-31", special: true)
                $0.myna = Usage.status("2027-06-30", last: "2027-06-20")
            },
            asOf: "2027-07-10", outcome: .renew, reasons: [.SPECIAL_CONSIDERATION_CONTINUES], from: "2027-08-01", to: "2028-07-31"),
        // Legacy cards
        Case(
            name: "legacy card valid until its printed expiry: not due 41 days before",
            facts: member { $0.legacyCardExpiry = d("2025-09-30") }, asOf: "2025-08-21",
            outcome: .none, reasons: [.COVERED]),
        Case(
            name: "legacy card printed expiry 2025-09-30: due 40 days before, certificate from 2025-10-01",
            facts: member { $0.legacyCardExpiry = d("2025-09-30") }, asOf: "2025-08-22",
            outcome: .issue, reasons: [.NO_CARD], from: "2025-10-01", to: "2026-07-31"),
        Case(
            name: "legacy card printed 2026-03-31 counts only until 2025-12-01",
            facts: member { $0.legacyCardExpiry = d("2026-03-31") }, asOf: "2025-10-25",
            outcome: .issue, reasons: [.NO_CARD], from: "2025-12-02", to: "2026-07-31"),
        Case(
            name: "legacy card after 2025-12-01 is no document at all",
            facts: member { $0.legacyCardExpiry = d("2026-03-31") }, asOf: "2025-12-05",
            outcome: .issue, reasons: [.NO_CARD], from: "2025-12-05"),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("the measures are data with periods and sources")
    func catalogue() {
        for m in NationalMeasures.all { #expect(!m.source.isEmpty && !m.title.isEmpty, "\(m.id)") }
        #expect(NationalMeasures.elderlyPhase2.inForce(on: d("2026-07-31")))
        #expect(!NationalMeasures.elderlyPhase2.inForce(on: d("2026-08-01")))
        #expect(!NationalMeasures.elderlyPhase1.inForce(on: d("2024-12-01")))
        #expect(NationalMeasures.legacyCardsEndDate == d("2025-12-01"))
    }
}

@Suite("Policy: SPEC.md 2.2 and 2.3 — applications and application guidance")
struct ApplicationTests {
    static func app(_ kind: OpenApplication.Kind) -> OpenApplication { OpenApplication(id: 42, kind: kind, receivedOn: d("2026-11-10")) }
    static let cases: [Case] = [
        Case(
            name: "APP_SPECIAL_CONSIDERATION: issued even though the Myna card works",
            facts: member(myna: Myna.usable) { $0.application = app(.specialConsideration) },
            outcome: .issueOnApplication, reasons: [.APP_SPECIAL_CONSIDERATION], from: "2026-11-21", to: "2027-07-31"),
        Case(
            name: "APP_CARD_LOST: short-term certificate (2 months − 1 day)",
            facts: member(myna: Myna.card(.registered, .suspended)) { $0.application = app(.cardLost) },
            outcome: .issueOnApplication, reasons: [.APP_CARD_LOST], from: "2026-11-21", to: "2027-01-20"),
        Case(
            name: "APP_CARD_RENEWING: short-term certificate, short_term_months = 3",
            facts: member(myna: Myna.card(.registered, .renewing)) { $0.application = app(.cardRenewing) },
            parameters: params { $0.shortTermMonths = 3 },
            outcome: .issueOnApplication, reasons: [.APP_CARD_RENEWING], from: "2026-11-21", to: "2027-02-20"),
        Case(
            name: "APP_REISSUE keeps the replaced certificate's dates",
            facts: member {
                $0.application = app(.reissue)
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            outcome: .issueOnApplication, reasons: [.APP_REISSUE], from: "2026-08-01", to: "2027-07-31"),
        Case(
            name: "a reissue with no certificate to replace falls through to the other rules",
            facts: member(myna: Myna.usable) { $0.application = app(.reissue) },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "special consideration from a certificate holder: recorded on it, no second certificate",
            facts: member {
                $0.application = app(.specialConsideration)
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            outcome: .none, reasons: [.APP_SPECIAL_CONSIDERATION]),
        Case(
            name: "SPECIAL_CONSIDERATION_CONTINUES: renewed without a new application",
            facts: member(myna: Myna.usable) { $0.latestCertificate = cert("2026-01-01", "2026-12-15", special: true) },
            outcome: .renew, reasons: [.SPECIAL_CONSIDERATION_CONTINUES], from: "2026-12-16", to: "2027-07-31"),
        Case(
            name: "consideration ended by staff: normal rules",
            facts: member(myna: Myna.usable) { $0.latestCertificate = cert("2026-01-01", "2026-12-15", special: false) },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "card suspended, nothing on file: application guidance notice",
            facts: member(myna: Myna.card(.registered, .suspended)), outcome: .applyNotice, reasons: [.CARD_SUSPENDED]),
        Case(
            name: "card renewing: application guidance notice",
            facts: member(myna: Myna.card(.registered, .renewing)), outcome: .applyNotice, reasons: [.CARD_RENEWING]),
        Case(
            name: "guidance sent 89 days ago: not repeated",
            facts: member(myna: Myna.card(.registered, .suspended)) { $0.lastApplyNotice = d("2026-08-24") },
            outcome: .none, reasons: [.APPLY_NOTICE_RECENT]),
        Case(
            name: "guidance sent 90 days ago: sent again",
            facts: member(myna: Myna.card(.registered, .suspended)) { $0.lastApplyNotice = d("2026-08-23") },
            outcome: .applyNotice, reasons: [.CARD_SUSPENDED]),
        Case(
            name: "a pending application is on file: no guidance",
            facts: member(myna: Myna.card(.registered, .suspended)) { $0.applicationOnFile = true },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "short-term certificate running out, card still suspended: guidance",
            facts: member(myna: Myna.card(.registered, .suspended)) { $0.latestCertificate = cert("2026-11-21", "2027-01-20") },
            asOf: "2027-01-01", outcome: .applyNotice, reasons: [.CARD_SUSPENDED]),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("decisions name the application and the certificate to void or annotate")
    func actions() {
        let p = Policy(parameters: InsurerParameters())
        let reissue = p.decide(
            member {
                $0.application = Self.app(.reissue)
                $0.latestCertificate = cert("2026-08-01", "2027-07-31", number: 9)
            },
            asOf: d("2026-11-21"))
        #expect(reissue.replacesCertificate == 9 && reissue.applicationID == 42)
        let record = p.decide(
            member {
                $0.application = Self.app(.specialConsideration)
                $0.latestCertificate = cert("2026-08-01", "2027-07-31", number: 9)
            },
            asOf: d("2026-11-21"))
        #expect(record.recordsConsiderationOn == 9 && record.applicationID == 42 && record.specialConsideration)
    }
}

/// Issue 29 item 5 (SPEC.md 2.3 [2026-12]): "on file" is a pending, or approved and not yet
/// fulfilled, application of any kind. The facts carry it as `applicationOnFile` (the facts
/// query leaves out rejected and fulfilled applications: ApplicationOnFileTests in the batch
/// tests show that through a run); an approved, unfulfilled one is also `application`.
@Suite("Policy: SPEC.md 2.3 — an application on file and a suspended or renewing card")
struct ApplicationOnFileTests {
    static let suspended = Myna.card(.registered, .suspended)
    static let renewing = Myna.card(.registered, .renewing)
    static let cases: [Case] = [
        Case(
            name: "pending card_lost, card suspended: none, APPLICATION_PENDING and CARD_SUSPENDED",
            facts: member(myna: suspended) { $0.applicationOnFile = true },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "pending card_renewing, card renewing: none, APPLICATION_PENDING and CARD_RENEWING",
            facts: member(myna: renewing) { $0.applicationOnFile = true },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_RENEWING]),
        Case(
            name: "pending special_consideration, card suspended: no guidance notice",
            facts: member(myna: suspended) { $0.applicationOnFile = true },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "approved reissue without an active certificate, card renewing: none, APPLICATION_PENDING",
            facts: member(myna: renewing) {
                $0.application = ApplicationTests.app(.reissue)
                $0.applicationOnFile = true
            },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_RENEWING]),
        Case(
            name: "approved reissue without an active certificate: the approved application itself is on file",
            facts: member(myna: suspended) { $0.application = ApplicationTests.app(.reissue) },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "approved reissue whose certificate ended: nothing to replace, still on file",
            facts: member(myna: suspended) {
                $0.application = ApplicationTests.app(.reissue)
                $0.latestCertificate = cert("2025-08-01", "2026-07-31")
            },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "fulfilled or rejected only (nothing on file): application guidance notice",
            facts: member(myna: suspended) { $0.applicationOnFile = false },
            outcome: .applyNotice, reasons: [.CARD_SUSPENDED]),
        Case(
            name: "on file, guidance sent 10 days ago: APPLICATION_PENDING, not APPLY_NOTICE_RECENT",
            facts: member(myna: suspended) {
                $0.applicationOnFile = true
                $0.lastApplyNotice = d("2026-11-11")
            },
            outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "on file, short-term certificate running out, card still suspended: no guidance",
            facts: member(myna: suspended) {
                $0.applicationOnFile = true
                $0.latestCertificate = cert("2026-11-21", "2027-01-20")
            },
            asOf: "2027-01-01", outcome: .none, reasons: [.APPLICATION_PENDING, .CARD_SUSPENDED]),
        Case(
            name: "on file, not due (certificate beyond the horizon): covered",
            facts: member(myna: suspended) {
                $0.applicationOnFile = true
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            outcome: .none, reasons: [.COVERED]),
        Case(
            name: "on file, Myna card usable: the eligibility notice rule comes first",
            facts: member(myna: Myna.usable) { $0.applicationOnFile = true },
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "on file, no card at all: issued without application (the rule is for suspended/renewing cards)",
            facts: member(myna: Myna.noCard) { $0.applicationOnFile = true },
            outcome: .issue, reasons: [.NO_CARD]),
        Case(
            name: "on file, card returned: issued without application",
            facts: member(myna: Myna.card(.registered, .returned)) { $0.applicationOnFile = true },
            outcome: .issue, reasons: [.CARD_RETURNED]),
        Case(
            name: "on file, elderly member in phase 2 (2026-07-01): the elderly measure comes first",
            facts: member(.elderly, born: "1948-01-01", myna: suspended) { $0.applicationOnFile = true },
            asOf: "2026-07-01", outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL]),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }

    @Test("explain says the application on file is why no guidance notice goes out, citing SPEC 2.3")
    func explained() {
        let (decision, steps) = Policy(parameters: InsurerParameters())
            .explain(member(myna: Self.suspended) { $0.application = ApplicationTests.app(.reissue) }, asOf: d("2026-11-21"))
        #expect(decision.rule == .mustApply)
        #expect(steps.contains { $0.contains("an application is on file") && $0.contains("SPEC.md 2.3") }, "\(steps)")
        #expect(ReasonCode.APPLICATION_PENDING.explanation.source.contains("SPEC 2.3"))
    }
}

@Suite("Policy: SPEC.md 2.5 — timing, order and held")
struct OrderTests {
    static let cases: [Case] = [
        Case(
            name: "born after the as-of date: held", facts: member(born: "2026-12-01", qualified: "2026-12-01"),
            outcome: .held, reasons: [.BIRTH_AFTER_AS_OF]),
        Case(
            name: "disqualified on the as-of date: none", facts: member { $0.disqualifiedOn = d("2026-11-21") },
            outcome: .none, reasons: [.NOT_QUALIFIED]),
        Case(
            name: "disqualified in 10 days: certificate up to the day before",
            facts: member { $0.disqualifiedOn = d("2026-12-01") }, outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2026-11-30"),
        Case(
            name: "disqualified on S: none",
            facts: member {
                $0.latestCertificate = cert("2026-01-01", "2026-12-10")
                $0.disqualifiedOn = d("2026-12-11")
            },
            outcome: .none, reasons: [.NOT_QUALIFIED]),
        Case(
            name: "qualifies at D+41: not yet a member", facts: member(qualified: "2027-01-01"), outcome: .none, reasons: [.NOT_QUALIFIED]),
        // 2.5 rule 2 [2026-12]: at 75 nhi and employee members move to the elderly scheme.
        Case(
            name: "nhi, 75th birthday on the as-of date: moves to the elderly scheme",
            facts: member(born: "1951-11-21", qualified: "2000-01-01"), outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "nhi, 75th birthday the day after the as-of date: a certificate for one day",
            facts: member(born: "1951-11-22", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2026-11-21"),
        Case(
            name: "nhi, the first certificate ended the day before the 75th birthday: no renewal (the two-night defect)",
            facts: member(born: "1951-12-10", qualified: "2000-01-01") { $0.latestCertificate = cert("2026-08-01", "2026-12-09") },
            outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "nhi, Myna usable and past 75: no eligibility notice either",
            facts: member(born: "1951-01-01", qualified: "2000-01-01", myna: Myna.usable), outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "employee past 75 without a disqualification date in the extract: none",
            facts: member(.employee, born: "1950-06-30", qualified: "2000-01-01"), outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "nhi born on the 1st: the 75th birthday itself is the first elderly day",
            facts: member(born: "1951-12-01", qualified: "2000-01-01") { $0.latestCertificate = cert("2026-08-01", "2026-11-30") },
            outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "nhi born 29 February: in a common year the 75th birthday is 1 March",
            facts: member(born: "1952-02-29", qualified: "2000-01-01") { $0.latestCertificate = cert("2026-08-01", "2027-02-27") },
            asOf: "2027-02-01", outcome: .renew, reasons: [.NO_CARD], from: "2027-02-28", to: "2027-02-28"),
        Case(
            name: "nhi born 29 February: S = 1 March of a common year moves",
            facts: member(born: "1952-02-29", qualified: "2000-01-01") { $0.latestCertificate = cert("2026-08-01", "2027-02-28") },
            asOf: "2027-02-01", outcome: .none, reasons: [.MOVES_TO_ELDERLY]),
        Case(
            name: "elderly members are not moved: they are in the elderly scheme already",
            facts: member(.elderly, born: "1940-01-01", qualified: "2015-01-01"), outcome: .issue, reasons: [.ELDERLY_TRANSITIONAL]),
        Case(
            name: "a disqualification already recorded still says NOT_QUALIFIED",
            facts: member(born: "1951-11-21", qualified: "2000-01-01") { $0.disqualifiedOn = d("2026-11-21") }, outcome: .none,
            reasons: [.NOT_QUALIFIED]),
        Case(
            name: "qualifies at D+40: issued from that day", facts: member(qualified: "2026-12-31"),
            outcome: .issue, reasons: [.NO_CARD], from: "2026-12-31", to: "2027-07-31"),
        Case(
            name: "lead window edge: certificate ends D+39, S = D+40 → due",
            facts: member { $0.latestCertificate = cert("2026-01-01", "2026-12-30") }, outcome: .renew, reasons: [.NO_CARD],
            from: "2026-12-31"),
        Case(
            name: "lead window edge: certificate ends D+40, S = D+41 → covered",
            facts: member { $0.latestCertificate = cert("2026-01-01", "2026-12-31") }, outcome: .none, reasons: [.COVERED]),
        Case(
            name: "issue_lead_days = 41 makes the same member due",
            facts: member { $0.latestCertificate = cert("2026-01-01", "2026-12-31") }, parameters: params { $0.issueLeadDays = 41 },
            outcome: .renew, reasons: [.NO_CARD], from: "2027-01-01"),
        Case(
            name: "the night after issuing: the certificate starting at S covers it, no second one",
            facts: member {
                $0.legacyCardExpiry = d("2026-03-31")
                $0.latestCertificate = cert("2025-12-02", "2026-07-31")
            },
            asOf: "2025-10-26", outcome: .none, reasons: [.COVERED]),
        Case(
            name: "Myna usable, notice never sent: eligibility notice", facts: member(myna: Myna.usable),
            outcome: .eligibilityNotice, reasons: [.MYNA_USABLE]),
        Case(
            name: "Myna usable, notice with current details sent: none",
            facts: member(myna: Myna.usable) { $0.eligibilityNoticeSent = true }, outcome: .none, reasons: [.MYNA_USABLE]),
        Case(
            name: "no address: held with the codes it would have had",
            facts: member { $0.deliverable = false }, outcome: .held, reasons: [.MISSING_ADDRESS, .NO_CARD]),
        Case(
            name: "nhi household without a head: held", facts: member { $0.householdHeads = 0 },
            outcome: .held, reasons: [.NO_CARD, .NO_HOUSEHOLD_HEAD]),
        Case(
            name: "nhi household with two heads: held", facts: member(myna: Myna.usable) { $0.householdHeads = 2 },
            outcome: .held, reasons: [.MYNA_USABLE, .NO_HOUSEHOLD_HEAD]),
        Case(
            name: "employee mail is per person: household heads do not matter",
            facts: member(.employee) { $0.householdHeads = 0 }, outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2031-11-20"),
        Case(
            name: "nothing to mail: never held",
            facts: member {
                $0.deliverable = false
                $0.latestCertificate = cert("2026-08-01", "2027-07-31")
            },
            outcome: .none, reasons: [.COVERED]),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }
}

@Suite("Policy: SPEC.md 3 — certificate validity")
struct ValidityTests {
    static let cases: [Case] = [
        Case(
            name: "renewal day fewer than 60 days away moves a year on",
            facts: member(qualified: "2027-06-10"), asOf: "2027-06-10", outcome: .issue, reasons: [.NO_CARD], from: "2027-06-10",
            to: "2028-07-31"),
        Case(
            name: "renewal day exactly 60 days away is kept",
            facts: member(qualified: "2027-06-01"), asOf: "2027-06-01", outcome: .issue, reasons: [.NO_CARD], from: "2027-06-01",
            to: "2027-07-31"),
        Case(
            name: "min_validity_days = 0 keeps a close renewal day",
            facts: member(qualified: "2027-06-10"), asOf: "2027-06-10", parameters: params { $0.minValidityDays = 0 },
            outcome: .issue, reasons: [.NO_CARD], from: "2027-06-10", to: "2027-07-31"),
        Case(
            name: "renewal_day 03-31 and validity_years 2",
            facts: member(),
            parameters: params {
                $0.renewalMonth = 3
                $0.renewalDay = 31
                $0.validityYearsNHI = 2
            },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2028-03-31"),
        Case(
            name: "employee: five years less a day", facts: member(.employee), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2031-11-20"),
        Case(
            name: "employee: validity_years 3", facts: member(.employee), parameters: params { $0.validityYearsEmployee = 3 },
            outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21", to: "2029-11-20"),
        Case(
            name: "the five-year legal maximum caps a long scheme end",
            facts: member(born: "1990-01-01", qualified: "2027-06-15"), asOf: "2027-06-15", parameters: params { $0.validityYearsNHI = 5 },
            outcome: .issue, reasons: [.NO_CARD], from: "2027-06-15", to: "2032-06-14"),
        Case(
            name: "nhi turning 70, born on the 1st: attains 70 the day before, in the previous month",
            facts: member(born: "1957-01-01", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2026-12-31"),
        Case(
            name: "nhi turning 70, born on the 2nd: end of the birthday's month",
            facts: member(born: "1957-01-02", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2027-01-31"),
        Case(
            name: "nhi turning 70, born 29 February: attains 70 on 28 February of a common year",
            facts: member(born: "1956-02-29", qualified: "2000-01-01"), asOf: "2025-12-02", outcome: .issue, reasons: [.NO_CARD],
            from: "2025-12-02", to: "2026-02-28"),
        Case(
            name: "nhi turning 75: the day before the 75th birthday",
            facts: member(born: "1952-03-10", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2027-03-09"),
        Case(
            name: "nhi turning 75, born 29 February, common year: 28 February",
            facts: member(born: "1952-02-29", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2027-02-28"),
        Case(
            name: "employee turning 75: the day before the 75th birthday [2026-12]",
            facts: member(.employee, born: "1952-03-10", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2027-03-09"),
        Case(
            name: "employee dependant turning 75 the day after S: one day of validity",
            facts: member(.employee, born: "1951-11-22", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2026-11-21"),
        Case(
            name: "employee turning 70 is not capped",
            facts: member(.employee, born: "1957-01-01", qualified: "2000-01-01"), outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2031-11-20"),
        Case(
            name: "residence expiry before the renewal day",
            facts: member { $0.residenceExpiry = d("2027-03-15") }, outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2027-03-15"),
        Case(
            name: "residence period ended before S: held",
            facts: member { $0.residenceExpiry = d("2026-11-20") }, outcome: .held, reasons: [.NO_CARD, .RESIDENCE_EXPIRED]),
        Case(
            name: "disqualification inside the validity",
            facts: member(.employee) { $0.disqualifiedOn = d("2027-02-01") }, outcome: .issue, reasons: [.NO_CARD], from: "2026-11-21",
            to: "2027-01-31"),
        Case(
            name: "short-term from a month end clamps (12-31 + 2 months − 1 day)",
            facts: member { $0.application = OpenApplication(id: 1, kind: .cardLost, receivedOn: d("2026-12-20")) }, asOf: "2026-12-31",
            outcome: .issueOnApplication, reasons: [.APP_CARD_LOST], from: "2026-12-31", to: "2027-02-27"),
    ]

    @Test(arguments: cases) func check(_ c: Case) { verify(c) }
}

func verify(_ c: Case, sourceLocation: SourceLocation = #_sourceLocation) {
    let policy = Policy(parameters: c.parameters)
    let decision = policy.decide(c.facts, asOf: d(c.asOf))
    #expect(decision.outcome == c.outcome, "\(c.name)", sourceLocation: sourceLocation)
    #expect(decision.reasons.sorted == c.reasons.sorted { $0.rawValue < $1.rawValue }, "\(c.name)", sourceLocation: sourceLocation)
    if let from = c.from { #expect(decision.validFrom?.description == from, "\(c.name)", sourceLocation: sourceLocation) }
    if let to = c.to { #expect(decision.validTo?.description == to, "\(c.name)", sourceLocation: sourceLocation) }
    if !c.outcome.issuesCertificate && c.to == nil {
        #expect(decision.validFrom == nil && decision.validTo == nil, "\(c.name)", sourceLocation: sourceLocation)
    }
    // explain() reaches the same decision by the same code.
    let (explained, steps) = policy.explain(c.facts, asOf: d(c.asOf))
    #expect(explained == decision, sourceLocation: sourceLocation)
    #expect(!steps.isEmpty, sourceLocation: sourceLocation)
}
