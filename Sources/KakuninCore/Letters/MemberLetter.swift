/// The one-page letter that goes with each mailed document (SPEC.md 5.2): what the document
/// is, why this member received it, its validity, what the member can do next, whom to ask.
/// Built from the document's facts and the texts of `LetterCatalog`; pure, so the run, the
/// rebuild of a crashed run's files and the counter print the same words.
public struct MemberLetter: Sendable, Equatable {
    /// The letter's sections, in print order; the columns of inserts.csv after the identity.
    public enum Section: String, CaseIterable, Sendable {
        case title, greeting
        case whatItIs = "what_it_is"
        case why, validity
        case nextSteps = "next_steps"
        case insurerContact = "insurer_contact"
        case helpLines = "help_lines"
    }

    /// `en`, …, or `ja+en` for a member whose language has no file (Japanese and English).
    public let language: String
    /// The file languages the letter is written in (one, or ja then en).
    public let languages: [String]
    /// Per section, its sentences in each of `languages` (same order); empty when none apply.
    public let sections: [(section: Section, texts: [[String]])]

    public static func == (a: MemberLetter, b: MemberLetter) -> Bool {
        a.language == b.language && a.paragraphs == b.paragraphs
    }

    /// One string per section: each language's sentences joined, the languages of a
    /// bilingual letter separated by " / " (a vendor file's record stays on one line).
    public var paragraphs: [String] {
        sections.map { s in s.texts.map(Self.join).filter { !$0.isEmpty }.joined(separator: " / ") }
    }

    /// Sentences as one paragraph: a space between them, none after a full-width stop (。).
    public static func join(_ sentences: [String]) -> String {
        var out = ""
        for s in sentences {
            if let last = out.last, last != "。", last != "：" { out += " " }
            out += s
        }
        return out
    }
}

/// The document a letter explains.
public enum LetterDocument: String, Sendable, CaseIterable {
    case certificate
    case eligibilityNotice = "eligibility_notice"
    case applyNotice = "apply_notice"

    /// The document of a certificate kind (issue, renew, …) or notice kind as stored.
    public init(kind: String) {
        self = kind == "eligibility_notice" ? .eligibilityNotice : kind == "apply_notice" ? .applyNotice : .certificate
    }
}

/// What a letter says about one member's document.
public struct LetterFacts: Sendable {
    /// The certificate's kind (issue, renew, issue_on_application, reissue) or the notice's.
    public var kind: String
    /// Reason codes as stored; a code without a sentence is left out (a test catches it).
    public var reasons: [String]
    /// As printed on the document: family and given name.
    public var name: String
    public var validFrom: LocalDate?
    public var validTo: LocalDate?
    /// The member's `preferred_language` (BCP 47), or nil.
    public var preferredLanguage: String?
    public var insurer: InsurerContact

    public init(
        kind: String, reasons: [String], name: String, validFrom: LocalDate?, validTo: LocalDate?,
        preferredLanguage: String?, insurer: InsurerContact
    ) {
        self.kind = kind
        self.reasons = reasons
        self.name = name
        self.validFrom = validFrom
        self.validTo = validTo
        self.preferredLanguage = preferredLanguage
        self.insurer = insurer
    }

    public var document: LetterDocument { LetterDocument(kind: kind) }
}

/// The insurer's contact as the letter prints it (parameters insurer_name, contact_*).
public struct InsurerContact: Sendable, Equatable {
    public var name: String
    public var phone: String?
    public var hours: String?
    /// Language codes of the insurer's contact desk.
    public var languages: [String]

    public init(name: String, phone: String? = nil, hours: String? = nil, languages: [String] = []) {
        self.name = name
        self.phone = phone
        self.hours = hours
        self.languages = languages
    }

    public init(_ p: InsurerParameters) {
        self.init(name: p.insurerName ?? "", phone: p.contactPhone, hours: p.contactHours, languages: p.contactLanguages)
    }
}

extension MemberLetter {
    /// The languages a `preferred_language` gets: its file's (the primary subtag; `fil` is
    /// Tagalog, any Chinese is the simplified file), else Japanese and English.
    public static func languages(for tag: String?) -> [String] {
        let primary = (tag ?? "").split(separator: "-").first.map { $0.lowercased() } ?? ""
        let code = primary == "fil" ? "tl" : primary
        if !code.isEmpty, LetterCatalog.texts[code] != nil { return [code] }
        return ["ja", "en"].filter { LetterCatalog.texts[$0] != nil }
    }

    /// The letter for one document.
    public init(_ facts: LetterFacts) {
        let langs = Self.languages(for: facts.preferredLanguage)
        language = langs.joined(separator: "+")
        languages = langs
        sections = Section.allCases.map { section in
            (section, langs.map { LetterComposer(texts: LetterCatalog.texts[$0]!, facts: facts).sentences(section) })
        }
    }
}

/// Which sentences a section holds for one language: the rules of the letter's content.
struct LetterComposer {
    let texts: LetterTexts
    let facts: LetterFacts

    func sentences(_ section: MemberLetter.Section) -> [String] {
        switch section {
        case .title: return keys(["title.\(facts.document.rawValue)"])
        case .greeting: return keys(["greeting"])
        case .whatItIs: return keys(["document.\(facts.document.rawValue)"])
        case .why: return keys(["outcome.\(facts.kind)"] + LetterContent.reasonKeys(facts.reasons))
        case .validity: return keys(LetterContent.validityKeys(facts))
        case .nextSteps: return keys(LetterContent.nextKeys(facts, language: texts.language))
        case .insurerContact: return keys(LetterContent.contactKeys(facts.insurer))
        case .helpLines: return keys(LetterContent.helpKeys)
        }
    }

    /// The sentences of the keys this file has, placeholders filled.
    private func keys(_ keys: [String]) -> [String] {
        keys.compactMap { texts[$0].map(fill) }
    }

    private func fill(_ s: String) -> String {
        let c = facts.insurer
        return s.filling { placeholder in
            switch placeholder {
            case "{name}": return facts.name
            case "{from}": return facts.validFrom.map(date) ?? ""
            case "{to}": return facts.validTo.map(date) ?? ""
            case "{insurer}": return c.name
            case "{phone}": return c.phone ?? ""
            case "{hours}": return c.hours ?? ""
            case "{languages}":
                // The file's separator (trimmed like every text): an ASCII one is followed by a space.
                let separator = texts["format.list_separator"].map { $0.allSatisfy(\.isASCII) ? $0 + " " : $0 } ?? ", "
                return c.languages.map { texts["lang.\($0)"] ?? $0 }.joined(separator: separator)
            default: return nil
            }
        }
    }

    /// The date in the language's convention (`format.date`: {era}, {yyyy}, {m}, {mm}, {d}, {dd}).
    func date(_ d: LocalDate) -> String {
        LetterContent.format(d, pattern: texts["format.date"] ?? "{yyyy}-{mm}-{dd}")
    }
}

/// The content rules: which keys a document's facts call for (one home for them).
public enum LetterContent {
    /// Sentences of the reason codes, in the order stored (sorted by name).
    static func reasonKeys(_ reasons: [String]) -> [String] { reasons.map { "reason.\($0)" } }

    static func validityKeys(_ f: LetterFacts) -> [String] {
        switch f.document {
        case .certificate: return f.validFrom != nil && f.validTo != nil ? ["validity.certificate"] : []
        case .eligibilityNotice: return f.validTo != nil ? ["validity.eligibility_notice_until"] : ["validity.eligibility_notice"]
        case .applyNotice: return ["validity.apply_notice"]
        }
    }

    /// The validity dates a letter prints (`validityKeys`: a certificate's first and last day,
    /// a notice's end of the copay ratio); nil for a date no sentence shows, so that letters
    /// differing only there are the same letter (the run composes each distinct letter once).
    public static func printedDates(kind: String, validFrom: LocalDate?, validTo: LocalDate?) -> (from: LocalDate?, to: LocalDate?) {
        switch LetterDocument(kind: kind) {
        case .certificate: return validFrom != nil && validTo != nil ? (validFrom, validTo) : (nil, nil)
        case .eligibilityNotice: return (nil, validTo)
        case .applyNotice: return (nil, nil)
        }
    }

    /// What the member can do next, by reason, in a fixed order, each once.
    static func nextKeys(_ f: LetterFacts, language: String) -> [String] {
        var steps: [String] = []
        for code in f.reasons { steps += nextSteps[code] ?? [] }
        if f.document == .certificate { steps.append("next.keep_certificate") }
        // The foreign resident's card lapses with the residence status: every letter not in Japanese.
        if language != LetterCatalog.reference { steps.append("next.residence") }
        return nextOrder.filter(steps.contains)
    }

    static let nextSteps: [String: [String]] = [
        "NO_CARD": ["next.get_card", "next.register"], "CARD_RETURNED": ["next.get_card", "next.register"],
        "NOT_REGISTERED": ["next.register"], "REGISTRATION_CANCELLED": ["next.register"], "MYNA_STATUS_UNKNOWN": ["next.register"],
        "ELDERLY_LOW_MYNA_USE": ["next.use_card"], "MYNA_USABLE": ["next.use_card"],
        "ECERT_EXPIRED": ["next.renew_ecert"],
        "APP_CARD_LOST": ["next.new_card"], "APP_CARD_RENEWING": ["next.new_card"],
        "CARD_SUSPENDED": ["next.apply_how", "next.short_term"], "CARD_RENEWING": ["next.apply_how", "next.short_term"],
        "APP_REISSUE": ["next.old_void"], "PRINTED_DETAILS_CHANGED": ["next.old_void"],
    ]
    static let nextOrder = [
        "next.apply_how", "next.short_term", "next.get_card", "next.register", "next.renew_ecert", "next.new_card",
        "next.use_card", "next.old_void", "next.keep_certificate", "next.residence",
    ]

    static func contactKeys(_ c: InsurerContact) -> [String] {
        guard c.phone != nil else { return ["contact.insurer"] }
        return ["contact.insurer_phone"] + (c.hours != nil ? ["contact.hours"] : []) + (c.languages.isEmpty ? [] : ["contact.languages"])
    }

    static let helpKeys = ["help.intro", "help.japanese", "help.card", "help.system"]

    /// Every key the content rules can ask for, beside the reason codes' (`reason.<CODE>`), the
    /// outcomes' and documents': the tests check each language has them.
    public static var fixedKeys: [String] {
        [
            "format.date", "format.list_separator", "greeting", "validity.certificate", "validity.eligibility_notice",
            "validity.eligibility_notice_until", "validity.apply_notice", "contact.insurer", "contact.insurer_phone", "contact.hours",
            "contact.languages", "heading.why", "heading.validity", "heading.next", "heading.contact", "heading.help", "footer",
        ]
            + nextOrder + helpKeys + LetterCatalog.languages.map { "lang.\($0)" }
    }

    /// Certificate kinds and notice kinds that have an `outcome.` sentence.
    public static let kinds = ["issue", "renew", "issue_on_application", "reissue", "eligibility_notice", "apply_notice"]

    public static func format(_ d: LocalDate, pattern: String) -> String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        return pattern.filling { placeholder in
            switch placeholder {
            case "{era}": return JapaneseEra.format(d) ?? d.description
            case "{yyyy}": return String(d.year)
            case "{mm}": return two(d.month)
            case "{dd}": return two(d.day)
            case "{m}": return String(d.month)
            case "{d}": return String(d.day)
            default: return nil
            }
        }
    }
}

extension String {
    /// Each `{placeholder}` that `value` knows replaced, in one pass (its value is not searched
    /// again); any other brace stays as it is. Computes only the values the text uses.
    func filling(_ value: (Substring) -> String?) -> String {
        guard utf8.contains(UInt8(ascii: "{")) else { return self }
        var out = ""
        var rest = self[...]
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            if let v = value(rest[open...close]) {
                out += rest[..<open]
                out += v
                rest = rest[rest.index(after: close)...]
            } else {
                out += rest[...open]
                rest = rest[rest.index(after: open)...]
            }
        }
        return out + rest
    }
}
