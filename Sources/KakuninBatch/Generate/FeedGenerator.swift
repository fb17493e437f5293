import Foundation
import KakuninCore
import KakuninRuntime

/// Writes the three feeds of SPEC.md section 4 with realistic content for demos, tests and
/// benchmarks: households with one head, all three schemes, foreign residents with residence
/// expiry, every Myna state in plausible proportions, applications, and a small share of
/// deliberately bad rows. Streams to disk; the same seed gives the same bytes.
public struct FeedGenerator {
    public struct Counts: Sendable { public var members = 0, myna = 0, applications = 0, bad = 0, establishments = 0 }

    public static let insurers = (nhi: "131016", elderly: "39131015", employee: "06139999")

    private var rng: SplitMix64
    private let reference: LocalDate
    private let badRate: Double
    /// [2026-12] Fill the optional usage columns of myna_status.csv (uses_12m, last_used_on),
    /// from a generator of their own: the other values, and the files without the option,
    /// stay the same bytes.
    public var mynaUsage = false
    private var usageRng: SplitMix64
    /// [2026-12] Fill the optional columns of members.csv (SPEC.md 4): copay 発効期日, 特別療養
    /// households, optional printed entries, establishments and 任意継続, from a generator of
    /// their own, like `mynaUsage`.
    public var optionalEntries = false
    private var entriesRng: SplitMix64
    /// [2026-12] establishments.csv (with `optionalEntries`), from a generator of its own.
    private var establishmentsRng: SplitMix64

    public init(seed: UInt64, referenceDate: String, badRate: Double) throws {
        guard let ref = LocalDate(referenceDate) else {
            throw OperatorError(.usage, "reference date '\(referenceDate)' is not YYYY-MM-DD")
        }
        guard (0...1).contains(badRate) else { throw OperatorError(.usage, "--bad-rate must be between 0 and 1") }
        rng = SplitMix64(seed: seed)
        usageRng = SplitMix64(seed: seed ^ 0x7573_6573_3132_6d00)
        entriesRng = SplitMix64(seed: seed ^ 0x656e_7472_6965_7300)
        establishmentsRng = SplitMix64(seed: seed ^ 0x6573_7461_626c_6973)
        reference = ref
        self.badRate = badRate
    }

    public mutating func write(members total: Int, to dir: URL) throws -> Counts {
        try OwnerOnlyFile.makeDirectory(dir)
        establishmentIDs = 1...max(10, min(4000, total / 100))
        var counts = Counts()
        let m = try OwnerOnlyFile.create(dir.appendingPathComponent("members.csv"))
        let s = try OwnerOnlyFile.create(dir.appendingPathComponent("myna_status.csv"))
        let a = try OwnerOnlyFile.create(dir.appendingPathComponent("applications.csv"))
        try m.write(FeedFormat.members.columns.filter { optionalEntries || !$0.optional }.map(\.name).joined(separator: ",") + "\n")
        // The optional usage columns (SPEC.md 4 [2026-12]) only with `mynaUsage`: without it the
        // files stay as they were.
        try s.write(FeedFormat.mynaStatus.columns.filter { mynaUsage || !$0.optional }.map(\.name).joined(separator: ",") + "\n")
        try a.write(FeedFormat.applications.columns.map(\.name).joined(separator: ",") + "\n")

        var serial = 0
        var household = 0
        while counts.members < total {
            household += 1
            let roll = rng.below(100)
            let scheme = roll < 45 ? "nhi" : roll < 80 ? "employee" : "elderly"
            let size = scheme == "elderly" ? 1 : min(total - counts.members, rng.pick([1, 1, 2, 2, 2, 3, 3, 4, 5]))
            let place = rng.pick(Names.places)
            let family = rng.pick(Names.family)
            let foreign = rng.chance(0.04) ? rng.pick(Names.foreign) : nil
            let street = "\(rng.int(1...5))丁目\(rng.int(1...30))番\(rng.int(1...20))号"
            let extra = rng.chance(0.3) ? "\(rng.pick(Names.buildings))\(rng.int(1...12))0\(rng.int(1...9))号室" : ""
            let extraWithComma = rng.chance(0.02) ? "\(rng.pick(Names.buildings)), 別館" : extra
            let householdID = "H\(String(format: "%08d", household))"
            let noHead = scheme == "nhi" && size > 1 && rng.chance(0.003)
            let noAddress = rng.chance(0.004)
            let shared = optionalEntries ? householdEntries(scheme: scheme) : nil
            for k in 0..<size {
                serial += 1
                let memberID = "M\(String(format: "%09d", serial))"
                let insurer = scheme == "nhi" ? Self.insurers.nhi : scheme == "elderly" ? Self.insurers.elderly : Self.insurers.employee
                var sex = k == 1 ? "2" : rng.chance(0.5) ? "1" : "2"
                if rng.chance(0.003) { sex = "9" }
                let age: Int
                switch (scheme, k) {
                case ("elderly", _): age = rng.int(75...99)
                case (_, 0): age = scheme == "nhi" ? rng.int(20...74) : rng.int(18...64)
                case (_, 1): age = scheme == "nhi" ? rng.int(20...74) : rng.int(18...64)
                default: age = rng.int(0...17)
                }
                var birth = reference.adding(years: -age).adding(days: -rng.int(0...364))
                if rng.chance(0.001) { birth = LocalDate(year: 1948, month: 2, day: 29)! }
                let given = sex == "1" ? rng.pick(Names.givenMale) : rng.pick(Names.givenFemale)
                let (fam, giv, famKana, givKana, lang): (String, String, String, String, String)
                if let f = foreign {
                    (fam, giv, famKana, givKana, lang) = (f.0, f.1, f.2, f.3, f.4)
                } else {
                    (fam, giv, famKana, givKana, lang) = (family.0, given.0, family.1, given.1, "ja")
                }
                let qualifiedBase = max(birth, reference.adding(years: -rng.int(0...20)))
                var qualified = qualifiedBase.adding(days: rng.int(0...200))
                if qualified > reference { qualified = reference }
                if rng.chance(0.02) { qualified = reference.adding(days: rng.int(-40...20)) }  // newly joining
                let disqualified = rng.chance(0.03) ? max(qualified, reference.adding(days: rng.int(-100...60))).description : ""
                let legacy = rng.chance(0.25) ? rng.pick(["2025-07-31", "2025-12-01", "2025-11-30", "2026-07-31"]) : ""
                let copay: String = age >= 75 ? (rng.chance(0.1) ? "30" : "10") : age >= 70 ? "20" : age < 6 ? "20" : "30"
                let residence = foreign != nil ? reference.adding(days: rng.int(20...1500)).description : ""
                let isHead = noHead ? false : k == 0
                var fields: [String] = [
                    insurer, memberID, scheme,
                    scheme == "employee" ? String(rng.int(1000...9999)) : scheme == "nhi" ? "千代田" : "",
                    String(format: "%07d", serial % 10_000_000),
                    String(format: "%02d", k),
                    fam, giv, famKana, givKana, birth.description, sex, qualified.description, disqualified,
                    householdID, isHead ? "true" : "false",
                    noAddress ? "" : place.0, noAddress ? "" : place.1 + street, extraWithComma, lang, copay,
                    residence, legacy, rng.chance(0.003) ? "true" : "false",
                ]
                if rng.chance(badRate) {
                    corruptMember(&fields)
                    counts.bad += 1
                }
                if let shared { fields += memberEntries(shared, scheme: scheme, age: age) }
                try m.write(csvLine(fields))
                counts.members += 1

                if rng.chance(0.98) {
                    var row = mynaRow(insurer: insurer, memberID: memberID)
                    if mynaUsage { row += usageFields(hasCard: row[3] == "true", statusAsOf: LocalDate(row[2])!) }
                    if rng.chance(badRate) {
                        row[5] = "broken"
                        counts.bad += 1
                    }
                    try s.write(csvLine(row))
                    counts.myna += 1
                }
                if rng.chance(0.03) {
                    var row = applicationRow(insurer: insurer, memberID: memberID, age: age)
                    if rng.chance(badRate * 5) {
                        row[2] = "lost_card"
                        counts.bad += 1
                    }
                    try a.write(csvLine(row))
                    counts.applications += 1
                }
            }
        }
        try m.close(sync: true)
        try s.close(sync: true)
        try a.close(sync: true)
        if optionalEntries { counts.establishments = try writeEstablishments(to: dir) }
        return counts
    }

    /// The members' establishments (`E00001` … , SPEC.md 4 [2026-12]) for the employee insurer,
    /// one per 100 members (at least 10, at most 4,000): every 25th is left out of
    /// establishments.csv (its members' establishment is unknown: they are mailed home), and
    /// `E00007` has no address (its members wait: ESTABLISHMENT_ADDRESS_MISSING).
    private var establishmentIDs = 1...10
    public static let establishmentWithoutAddress = "E00007"
    public static func establishmentKnown(_ k: Int) -> Bool { k % 25 != 0 }

    private mutating func writeEstablishments(to dir: URL) throws -> Int {
        let f = try OwnerOnlyFile.create(dir.appendingPathComponent("establishments.csv"))
        try f.write(FeedFormat.establishments.columns.map(\.name).joined(separator: ",") + "\n")
        var n = 0
        for k in establishmentIDs where Self.establishmentKnown(k) {
            let id = "E\(String(format: "%05d", k))"
            let place = establishmentsRng.pick(Names.places)
            let name = "\(establishmentsRng.pick(Names.family).0)\(establishmentsRng.pick(["商事", "工業", "製作所", "運輸", "建設"]))株式会社"
            let street = "\(establishmentsRng.int(1...5))丁目\(establishmentsRng.int(1...30))番\(establishmentsRng.int(1...20))号"
            let contact = establishmentsRng.pick(["人事部 健康保険担当", "総務課", "総務部 人事課", ""])
            let noAddress = id == Self.establishmentWithoutAddress
            try f.write(
                csvLine([
                    Self.insurers.employee, id, name, noAddress ? "" : place.0, noAddress ? "" : place.1 + street,
                    establishmentsRng.chance(0.3) ? "\(establishmentsRng.pick(Names.buildings))\(establishmentsRng.int(2...9))階" : "",
                    contact,
                ]))
            n += 1
        }
        try f.close(sync: true)
        return n
    }

    private mutating func mynaRow(insurer: String, memberID: String) -> [String] {
        let asOf = LocalDate(year: reference.year, month: reference.month, day: 1)!.adding(months: -1).description
        guard rng.chance(0.82) else {
            return [insurer, memberID, asOf, "false", "", rng.chance(0.03) ? "returned" : "none", "", ""]
        }
        let r = rng.below(1000)
        let registration = r < 850 ? "registered" : r < 970 ? "not_registered" : r < 985 ? "cancel_requested" : "cancelled"
        let c = rng.below(1000)
        let state = c < 950 ? "active" : c < 965 ? "suspended" : c < 990 ? "renewing" : "returned"
        let ecert = reference.adding(days: rng.int(-120...1800))
        let card = max(ecert, reference.adding(days: rng.int(0...3650)))
        return [insurer, memberID, asOf, "true", registration, state, ecert.description, rng.chance(0.9) ? card.description : ""]
    }

    /// uses_12m and last_used_on: a fifth unknown (blank), the rest from none to daily-ish use,
    /// about half of them enough for the usage test's defaults (6 uses, one in 3 months).
    private mutating func usageFields(hasCard: Bool, statusAsOf: LocalDate) -> [String] {
        guard hasCard, usageRng.chance(0.8) else { return ["", ""] }
        let uses = usageRng.chance(0.25) ? 0 : usageRng.int(1...40)
        guard uses > 0 else { return ["0", ""] }
        let last = statusAsOf.adding(days: -usageRng.int(0...(uses >= 6 ? 120 : 330)))
        return [String(uses), last.description]
    }

    /// What a household shares: the 特別療養 measure (nhi, about 1 in 100 households), or the
    /// insured person's establishment or 任意継続 (employee).
    struct HouseholdEntries { var specialCare = false, establishment = "", voluntary = false }

    private mutating func householdEntries(scheme: String) -> HouseholdEntries {
        var h = HouseholdEntries()
        switch scheme {
        case "nhi": h.specialCare = entriesRng.chance(0.01)
        case "employee":
            h.voluntary = entriesRng.chance(0.03)
            if !h.voluntary && entriesRng.chance(0.9) { h.establishment = "E\(String(format: "%05d", entriesRng.int(establishmentIDs)))" }
            // A member in 任意継続 often keeps the former employer's id (mailed home all the same),
            // drawn from the establishments' generator so that the other entries stay as they were.
            if h.voluntary && establishmentsRng.chance(0.6) {
                h.establishment = "E\(String(format: "%05d", establishmentsRng.int(establishmentIDs)))"
            }
        default: break
        }
        return h
    }

    /// The optional columns of one member, in the format's order: copay_effective_on,
    /// special_care, limit_category, limit_effective_on, long_stay_on, specific_disease,
    /// establishment_id, voluntary_continuation. Members without an entry leave it blank.
    private mutating func memberEntries(_ h: HouseholdEntries, scheme: String, age: Int) -> [String] {
        let copayPrinted = scheme == "elderly" || (scheme == "nhi" && age >= 70)
        let copayFrom =
            copayPrinted && entriesRng.chance(0.4)
            ? LocalDate(year: reference.month >= 8 ? reference.year : reference.year - 1, month: 8, day: 1)!.description : ""
        var limit = ""
        var limitFrom = ""
        var longStay = ""
        var disease = ""
        if entriesRng.chance(0.08) {
            let codes =
                scheme == "elderly" || age >= 70 ? ["現役並みⅠ", "現役並みⅡ", "一般Ⅱ", "区分Ⅰ", "区分Ⅱ"] : ["区ア", "区イ", "区ウ", "区エ", "区オ", "区オ（境）"]
            limit = entriesRng.pick(codes)
            limitFrom = entriesRng.chance(0.7) ? reference.adding(days: -entriesRng.int(0...400)).description : ""
            if entriesRng.chance(0.1) { longStay = reference.adding(days: -entriesRng.int(90...700)).description }
        }
        if entriesRng.chance(0.004) { disease = entriesRng.pick(["A", "B", "C"]) }
        return [
            copayFrom, h.specialCare ? "true" : "", limit, limitFrom, longStay, disease, h.establishment,
            scheme == "employee" ? (h.voluntary ? "true" : "false") : "",
        ]
    }

    private mutating func applicationRow(insurer: String, memberID: String, age: Int) -> [String] {
        let k = rng.below(100)
        let kind = k < 50 ? "special_consideration" : k < 70 ? "card_lost" : k < 90 ? "card_renewing" : "reissue"
        var basis = ""
        if kind == "special_consideration" && !rng.chance(0.1) {
            basis = age >= 70 ? "elderly" : rng.pick(["disability", "needs_helper", "care_need", "guardianship", "facility", "other"])
        }
        let s = rng.below(100)
        let status = s < 70 ? "approved" : s < 90 ? "pending" : "rejected"
        return [insurer, memberID, kind, reference.adding(days: -rng.int(1...60)).description, basis, status]
    }

    /// Breaks one field the way real extracts break.
    private mutating func corruptMember(_ f: inout [String]) {
        switch rng.below(7) {
        case 0: f[10] = "\(f[10].prefix(5))02-30"  // impossible date
        case 1: f[2] = "nhi2"  // unknown scheme
        case 2: f[1] = ""  // missing identifier
        case 3:
            f[13] = "1990-01-01"
            f[12] = "2000-01-01"  // qualified after disqualified
        case 4: f[11] = "3"  // unknown sex code
        case 5: f[20] = "25"  // copay not 10/20/30
        default: f[8] = "やまだ"  // reading in hiragana
        }
    }

    private func csvLine(_ fields: [String]) -> String {
        var line = ""
        line.reserveCapacity(256)
        for (i, f) in fields.enumerated() {
            if i > 0 { line += "," }
            line += CSVField.quote(f)
        }
        return line + "\n"
    }
}
