import KakuninCore

/// Random members over a wide range of dates, for properties that must hold for every input.
public struct RandomFacts {
    private var rng: SplitMix64
    public init(state: UInt64) { rng = SplitMix64(seed: state) }
    public mutating func next() -> UInt64 { rng.next() }
    public mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    public mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }
    public mutating func date(around base: LocalDate, _ r: ClosedRange<Int>) -> LocalDate { base.adding(days: int(r)) }

    public mutating func facts(asOf d: LocalDate) -> MemberFacts {
        let schemes: [Scheme] = [.nhi, .elderly, .employee]
        let scheme = schemes[int(0...2)]
        let birth = date(around: d, -36500...(-1))
        var f = MemberFacts(
            scheme: scheme, birthDate: chance(1) ? d.adding(days: int(1...30)) : birth,
            qualifiedOn: max(birth, date(around: d, -7000...60)))
        if chance(5) { f.disqualifiedOn = date(around: f.qualifiedOn, 0...800) }
        if chance(5) { f.residenceExpiry = date(around: d, -30...2000) }
        if chance(20) { f.legacyCardExpiry = date(around: LocalDate("2025-06-01")!, -300...600) }
        f.accessRestricted = chance(2)
        if !chance(5) {
            let regs: [MynaStatus.Registration?] = [.registered, .registered, .notRegistered, .cancelRequested, .cancelled, nil]
            let states: [MynaStatus.CardState] = [.active, .active, .active, .suspended, .renewing, .returned, .none]
            let has = chance(80)
            f.myna = MynaStatus(
                hasCard: has, registration: has ? regs[int(0...5)] : nil, cardState: has ? states[int(0...5)] : states[int(5...6)],
                ecertExpiry: chance(80) ? date(around: d, -200...2000) : nil, cardExpiry: chance(50) ? date(around: d, -100...3000) : nil)
        }
        if chance(5) {
            let kinds: [OpenApplication.Kind] = [.specialConsideration, .cardLost, .cardRenewing, .reissue]
            f.application = OpenApplication(id: Int64(int(1...1000)), kind: kinds[int(0...3)], receivedOn: date(around: d, -60...0))
        }
        if chance(50) {
            let from = date(around: d, -1500...60)
            f.latestCertificate = CertificateFacts(
                number: Int64(int(1...99999)), validFrom: from, validTo: date(around: from, 0...1000),
                active: chance(95), specialConsiderationContinues: chance(10))
        }
        f.eligibilityNoticeSent = chance(30)
        if chance(10) { f.lastApplyNotice = date(around: d, -200...0) }
        f.applicationOnFile = chance(3)
        f.deliverable = !chance(2)
        f.householdHeads = chance(2) ? int(0...2) : 1
        return f
    }
}
