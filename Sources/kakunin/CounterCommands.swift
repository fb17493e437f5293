import ArgumentParser
import Foundation
import KakuninBatch
import KakuninCore
import KakuninCounter
import KakuninRuntime

/// The person behind a CLI action: the OS user (the database adds its login role as the actor).
func counterPerson() -> String {
    let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
    return "\(user)@\(hostName())"
}

func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

func printEncodable<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

struct Member: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counter work: find and show members.", subcommands: [Find.self, Show.self])

    struct Find: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find members by id, kana prefix (with a birth date) or postal code; at most 50.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID?
        @Option(help: "Kana prefix (full- or half-width katakana, or hiragana).") var kana: String?
        @Option(help: "Birth date (with --kana), YYYY-MM-DD.") var birthDate: String?
        @Option(help: "Postal code, with or without the hyphen.") var postalCode: String?
        @Option(help: "text | json") var format: String = "text"
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let query: CounterDesk.Query
                switch (member, kana, postalCode) {
                case (let m?, nil, nil): query = .member(m)
                case (nil, let k?, nil): query = .kana(k, birthDate: try birthDate.map { try parseDate($0, option: "--birth-date") })
                case (nil, nil, let p?): query = .postalCode(p)
                default: throw OperatorError(.usage, "give one of --member, --kana or --postal-code")
                }
                let hits = try CounterDesk(db: try database.connect(), person: counterPerson()).find(insurer: insurer, query)
                if format == "json" {
                    try printEncodable(hits)
                    return .success
                }
                printTable(
                    ["member_id", "name", "kana", "birth_date", "scheme", "household"],
                    hits.map { [$0.member_id, $0.name, $0.kana, $0.birth_date, $0.scheme, $0.household_id] })
                if hits.count == CounterDesk.maxHits { print("(first \(CounterDesk.maxHits) shown: narrow the search)") }
                return .success
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything about one member on one screen (the viewing is recorded).")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID
        @Option(help: "text | json") var format: String = "text"
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let record = try CounterDesk(db: try database.connect(), person: counterPerson()).show(insurer: insurer, memberID: member)
                if format == "json" {
                    try printJSON(record)
                    return .success
                }
                for section in ["member", "history", "myna_status", "applications", "certificates", "mail_returns", "notices", "decisions"]
                {
                    print("== \(section)")
                    let items: [[String: Any]] =
                        section == "member" ? [(record[section] as? [String: Any]) ?? [:]] : (record[section] as? [[String: Any]]) ?? []
                    if items.isEmpty { print("  (none)") }
                    for item in items {
                        print(
                            "  "
                                + item.keys.sorted().compactMap { k in (item[k] is NSNull) ? nil : "\(k)=\(item[k]!)" }.joined(
                                    separator: "  "))
                    }
                }
                return .success
            }
        }
    }
}

struct Application: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Counter work: record and decide applications.", subcommands: [Add.self, Decide.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record one application, validated like applications.csv (NO_BASIS included).")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID
        @Option(help: "special_consideration | card_lost | card_renewing | reissue") var kind: String
        @Option(help: ArgumentHelp("For special_consideration: \(ConsiderationBasis.codes.joined(separator: " | "))")) var basis: String?
        @Option(help: "Date received, YYYY-MM-DD (default: today in Japan).") var receivedOn: String?
        @Option(help: "pending | approved") var status: String = "pending"
        @Option(help: "A note kept in the audit trail.") var note: String?
        @Option(help: "text | json") var format: String = "text"
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let received = try dateOrToday(receivedOn, option: "--received-on")
                let a = try CounterDesk(db: try database.connect(), person: counterPerson()).addApplication(
                    insurer: insurer, memberID: member, kind: kind, basis: basis, receivedOn: received, status: status, note: note)
                if format == "json" {
                    try printEncodable(a)
                    return .success
                }
                print(
                    "application \(a.application_id): \(a.kind) of member \(a.member_id), received \(a.received_on), \(a.status)\(a.reject_reason.map { " (\($0))" } ?? "")"
                )
                return .success
            }
        }
    }

    struct Decide: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a pending application, or reject it with a reason.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Application id.") var application: Int64
        @Flag(help: "Approve it.") var approve = false
        @Flag(help: "Reject it (needs --reason).") var reject = false
        @Option(help: "Why it is rejected.") var reason: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                guard approve != reject else { throw OperatorError(.usage, "say --approve or --reject --reason TEXT") }
                let a = try CounterDesk(db: try database.connect(), person: counterPerson()).decideApplication(
                    insurer: insurer, applicationID: application, approve: approve, reason: reason)
                print("application \(a.application_id): \(a.status)")
                return .success
            }
        }
    }
}

struct Certificate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Counter work on certificates.", subcommands: [Return.self, Void.self, Print.self])

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an active certificate to hand over at the counter (e.g. one waiting in the mailing exceptions).")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Certificate number.") var certificate: Int64
        @Option(help: "Write the printable certificate (self-contained HTML) to this file.") var print: String
        @Option(help: "Paper: card (85.6 × 54 mm) | hagaki (148 × 100 mm) | a4; default: the insurer's certificate_format.")
        var paper: CertificatePrint.Paper?
        @Option(help: "Also write the member letter that explains it (self-contained HTML, A4) to this file.") var letter: String?
        @Option(help: "The letter's language (ja en zh ko es pt vi th id tl ne); default: the member's preferred_language.")
        var letterLanguage: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                let params = try ParameterVersions.inForce(db, insurer: insurer.text, on: LocalDate.todayInJapan())
                let c = try CounterDesk(db: db, person: counterPerson()).reprint(
                    insurer: insurer, certificate: certificate, parameters: params)
                try emit(CertificatePrint.html(c, paper: paper ?? params.parameters.certificateFormat), to: self.print)
                Swift.print("certificate \(c.certificate_number) of member \(c.member_id): printable certificate \(self.print)")
                if let letter {
                    let l = c.letter(params.parameters, language: letterLanguage)
                    try emit(LetterHTML.document(l, reference: c.letterReference), to: letter)
                    Swift.print("member letter (\(l.language)): \(letter)")
                }
                return .success
            }
        }
    }

    struct Return: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Record a mailed certificate that came back undelivered (返戻); the member is not mailed again until the address changes.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Certificate number.") var certificate: Int64
        @Option(help: "Date it came back (default: today in Japan).") var on: String?
        @Option(help: "A note (e.g. the post office's stamp).") var note: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let date = try dateOrToday(on, option: "--on")
                let (member, establishment) = try CounterDesk(db: try database.connect(), person: counterPerson()).returnCertificate(
                    insurer: insurer, certificate: certificate, on: date, note: note)
                if let establishment {
                    print(
                        "certificate \(certificate) of member \(member) was delivered through establishment \(establishment) and is recorded as returned from it on \(date); the member is not mailed again until the establishment's address changes (import establishments.csv) or the member's establishment does"
                    )
                } else {
                    print(
                        "certificate \(certificate) of member \(member) recorded as returned on \(date); the member is not mailed again until the address changes"
                    )
                }
                return .success
            }
        }
    }

    struct Void: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Void an active certificate (e.g. issued in error), with a reason.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Certificate number.") var certificate: Int64
        @Option(help: "Why.") var reason: String
        @Option(help: "Date of voiding (default: today in Japan).") var on: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let date = try dateOrToday(on, option: "--on")
                let member = try CounterDesk(db: try database.connect(), person: counterPerson()).void(
                    insurer: insurer, certificate: certificate, reason: reason, on: date)
                print("certificate \(certificate) of member \(member) voided on \(date)")
                return .success
            }
        }
    }
}

struct Notice: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counter work on notices.", subcommands: [Return.self])

    struct Return: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a mailed notice that came back undelivered (返戻); the member is not mailed again until the address changes.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID
        @Option(help: "eligibility_notice | apply_notice") var kind: String
        @Option(
            name: .customLong("run"),
            help: "The run that sent it (default: the member's latest of that kind; kakunin member show lists them).")
        var sentBy: Int64?
        @Option(help: "Date it came back (default: today in Japan).") var on: String?
        @Option(help: "A note (e.g. the post office's stamp).") var note: String?
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let date = try dateOrToday(on, option: "--on")
                let (run, establishment) = try CounterDesk(db: try database.connect(), person: counterPerson()).returnNotice(
                    insurer: insurer, memberID: member, kind: kind, run: sentBy, on: date, note: note)
                if let establishment {
                    print(
                        "the \(kind) of run \(run) to member \(member) was delivered through establishment \(establishment) and is recorded as returned from it on \(date); the member is not mailed again until the establishment's address changes (import establishments.csv) or the member's establishment does"
                    )
                } else {
                    print(
                        "the \(kind) of run \(run) to member \(member) recorded as returned on \(date); the member is not mailed again until the address changes"
                    )
                }
                return .success
            }
        }
    }
}

struct Consideration: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Special consideration (SPEC.md 2.5 rule 6).", subcommands: [End.self])

    struct End: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a member's special consideration, with a date and reason.")
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID
        @Option(help: "Date it ends (default: today in Japan).") var on: String?
        @Option(help: "Why.") var reason: String
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let date = try dateOrToday(on, option: "--on")
                let n = try CounterDesk(db: try database.connect(), person: counterPerson()).endConsideration(
                    insurer: insurer, memberID: member, on: date, reason: reason)
                print("special consideration of member \(member) ended on \(date) (\(n) certificate\(n == 1 ? "" : "s"))")
                return .success
            }
        }
    }
}

/// A date given on the command line: YYYY-MM-DD within the dates kakunin accepts (1900–2099).
func parseDate(_ text: String, option: String) throws -> LocalDate {
    if let problem = LocalDate.problem(text) {
        throw OperatorError(.usage, "\(option) \(text.prefix(40)): \(problem)", fix: "write YYYY-MM-DD, e.g. 2026-12-01")
    }
    return LocalDate(text)!
}

/// The date given, or today in Japan.
func dateOrToday(_ text: String?, option: String) throws -> LocalDate {
    try text.map { try parseDate($0, option: option) } ?? parseAsOf(nil)
}

struct Counter: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counter issuance (即日交付).", subcommands: [Issue.self])

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Decide one member now with the nightly policy and, if it issues a certificate, issue it at once (never waits for a nightly run).",
            discussion: """
                A reissue (lost or damaged certificate) is an approved reissue application followed by this command: the new
                certificate has the same validity and the old one is voided. When the policy issues nothing for the member today,
                the explanation is printed and nothing changes (exit 0).
                """)
        enum Format: String, ExpressibleByArgument { case text, json }
        @Option(help: "Insurer number.", transform: InsurerNumber.argument) var insurer: InsurerNumber
        @Option(help: "Member id.", transform: MemberID.argument) var member: MemberID
        @Option(help: "Decide and issue as of this date (default: today in Japan).") var asOf: String?
        @Option(help: "Write the printable certificate (self-contained HTML) to this file.") var print: String?
        @Option(help: "Paper of the printable certificate: card | hagaki | a4; default: the insurer's certificate_format.")
        var paper: CertificatePrint.Paper?
        @Option(help: "text | json") var format: Format = .text
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let date = try parseAsOf(asOf)
                let db = try database.connect()
                let params = try ParameterVersions.inForce(db, insurer: insurer.text, on: date)
                let result = try CounterDesk(db: db, person: counterPerson()).issue(
                    insurer: insurer, memberID: member, asOf: date, parameters: params)
                switch result {
                case .issued(let c):
                    if let path = self.print {
                        try emit(CertificatePrint.html(c, paper: paper ?? params.parameters.certificateFormat), to: path)
                    }
                    if format == .json {
                        try printEncodable(c)
                        return .success
                    }
                    Swift.print(
                        "certificate \(c.certificate_number) issued to member \(c.member_id) (\(c.kind)): valid \(c.valid_from) … \(c.valid_to) (\(c.valid_to_era)), issued \(c.issued_on)"
                            + (c.replaces_certificate_number.map { "; certificate \($0) voided" } ?? ""))
                    if let path = self.print { Swift.print("printable certificate: \(path)") }
                case .nothing(let d, let steps):
                    if format == .json {
                        try printJSON([
                            "issued": false, "outcome": d.outcome.rawValue, "reasons": d.reasons.sorted.map(\.rawValue), "steps": steps,
                        ])
                        return .success
                    }
                    Swift.print(
                        "nothing issued: the decision for member \(member) as of \(date) is \(d.outcome.rawValue) (\(d.reasons.sorted.map(\.rawValue).joined(separator: ";")))"
                    )
                    for (i, s) in steps.enumerated() { Swift.print("  \(i + 1). \(s)") }
                }
                return .success
            }
        }
    }
}

struct Staff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scope counter-staff logins to insurers (row-level security; run by the database owner).",
        subcommands: [Scope.self, Unscope.self, Scopes.self])

    struct Scope: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a staff login see and change the members of these insurers.")
        @Argument(help: "The login role (a member of kakunin_staff).") var login: String
        @Option(help: "Insurer number (repeat for several).", transform: InsurerNumber.argument) var insurer: [InsurerNumber]
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let db = try database.connect()
                let n = try StaffScopes(db: db).scope(login: login, insurers: insurer, person: counterPerson())
                print("login \(login) scoped to \(insurer.map(\.text).joined(separator: ", ")) (\(n) added)")
                return .success
            }
        }
    }

    struct Unscope: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take insurers away from a staff login.")
        @Argument(help: "The login role.") var login: String
        @Option(help: "Insurer number (repeat for several).", transform: InsurerNumber.argument) var insurer: [InsurerNumber]
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let n = try StaffScopes(db: try database.connect()).unscope(login: login, insurers: insurer, person: counterPerson())
                print("login \(login): \(n) insurer\(n == 1 ? "" : "s") taken away")
                return .success
            }
        }
    }

    struct Scopes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List staff logins and the insurers each may see.")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try runReporting {
                let rows = try StaffScopes(db: try database.connect()).list()
                printTable(["login", "insurer", "granted_at", "granted_by"], rows)
                return .success
            }
        }
    }
}

extension CertificatePrint.Paper: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
