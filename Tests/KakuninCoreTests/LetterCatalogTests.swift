import Testing

@testable import KakuninCore

/// The member letter's texts (Letters/Texts/*.txt, embedded at build time): every language file has
/// exactly the reference's keys, and every reason code, outcome and document kind its sentences.
@Suite struct LetterCatalogTests {
    @Test func everyLanguageFileParsesAndIsEmbedded() throws {
        let files = LetterCatalog.files
        #expect(files.map(\.language).sorted() == LetterCatalog.languages.sorted())
        for f in files {
            let t = try LetterTexts(language: f.language, text: f.text)
            #expect(t.keys.count > 50, "Letters/Texts/\(f.language).txt")
            #expect(LetterCatalog.texts[f.language] != nil)
        }
    }

    @Test func everyFileHasExactlyTheReferenceKeys() throws {
        let reference = try #require(LetterCatalog.texts[LetterCatalog.reference])
        for language in LetterCatalog.languages {
            let t = try #require(LetterCatalog.texts[language], "Letters/Texts/\(language).txt")
            let missing = reference.keys.filter { t[$0] == nil }
            let extra = t.keys.filter { reference[$0] == nil }
            #expect(missing.isEmpty, "Letters/Texts/\(language).txt lacks \(missing)")
            #expect(extra.isEmpty, "Letters/Texts/\(language).txt has keys the reference lacks: \(extra)")
        }
    }

    /// Every reason code in KakuninCore (a code appended later fails here until each file has
    /// its sentence), every outcome and certificate kind, every document, every fixed key.
    @Test func everyCodeOutcomeAndDocumentHasItsSentences() throws {
        let needed =
            ReasonCode.allCases.map { "reason.\($0.rawValue)" }
            + LetterContent.kinds.map { "outcome.\($0)" }
            + Outcome.allCases.filter(\.needsMail).map { "outcome.\($0.rawValue)" }
            + LetterDocument.allCases.flatMap { ["title.\($0.rawValue)", "document.\($0.rawValue)"] }
            + LetterContent.fixedKeys
        for language in LetterCatalog.languages {
            let t = try #require(LetterCatalog.texts[language])
            let missing = needed.filter { t[$0] == nil }
            #expect(missing.isEmpty, "Letters/Texts/\(language).txt lacks \(missing)")
        }
    }

    /// The sentence of the code p29 appends (SPEC.md 2.5, printed details change) is there
    /// already, in every language.
    @Test func printedDetailsChangedHasItsSentence() {
        for language in LetterCatalog.languages {
            #expect(LetterCatalog.texts[language]?["reason.PRINTED_DETAILS_CHANGED"] != nil, "\(language)")
        }
    }

    @Test func everyFileSaysWhoProducedAndReviewedIt() throws {
        for language in LetterCatalog.languages {
            let header = try #require(LetterCatalog.texts[language]).header
            #expect(header["language"] == language)
            #expect(!(header["produced_by"] ?? "").isEmpty, "\(language)")
            #expect(header.keys.contains("reviewed_by") && header.keys.contains("reviewed_on"), "\(language)")
        }
    }

    @Test func placeholdersAreTheReferences() throws {
        let reference = try #require(LetterCatalog.texts["ja"])
        func placeholders(_ s: String) -> Set<String> {
            Set(
                s.split(separator: "{", omittingEmptySubsequences: false).dropFirst().compactMap {
                    $0.split(separator: "}").first.map(String.init)
                })
        }
        for language in LetterCatalog.languages where language != "ja" {
            let t = try #require(LetterCatalog.texts[language])
            for key in reference.keys where key != "format.date" {
                #expect(placeholders(t[key] ?? "") == placeholders(reference[key]!), "\(language) \(key)")
            }
        }
    }

    @Test func aBrokenLineIsRefusedWithItsPlace() {
        #expect(throws: LetterTextError(language: "xx", line: 2, problem: "not `key = text`")) {
            try LetterTexts(language: "xx", text: "a = b\nno equals sign\n")
        }
        #expect(throws: LetterTextError(language: "xx", line: 2, problem: "key a twice")) {
            try LetterTexts(language: "xx", text: "a = b\na = c\n")
        }
    }
}

@Suite struct MemberLetterTests {
    let insurer = InsurerContact(name: "千代田区", phone: "03-1234-5678", hours: "平日 8:30–17:15", languages: ["ja", "en", "pt"])

    func facts(
        _ kind: String, _ reasons: [String], language: String?, from: String? = "2026-12-01", to: String? = "2027-07-31"
    ) -> LetterFacts {
        LetterFacts(
            kind: kind, reasons: reasons, name: "SILVA JOAO PEDRO", validFrom: from.flatMap { LocalDate($0) },
            validTo: to.flatMap { LocalDate($0) },
            preferredLanguage: language, insurer: insurer)
    }

    @Test(
        "a letter keeps only the dates it prints: dropping the others changes no word, in any language; a printed date still changes the letter"
    )
    func printedDatesAreTheOnlyDatesThatMatter() {
        let dates: [(String?, String?)] = [("2026-12-01", "2027-07-31"), ("2026-04-01", nil), (nil, "2027-03-31"), (nil, nil)]
        for kind in ["issue", "renew", "eligibility_notice", "apply_notice"] {
            for language in LetterCatalog.languages + ["fr"] {
                for (from, to) in dates {
                    var f = facts(kind, ["NO_CARD"], language: language, from: from, to: to)
                    let whole = MemberLetter(f)
                    (f.validFrom, f.validTo) = LetterContent.printedDates(kind: kind, validFrom: f.validFrom, validTo: f.validTo)
                    #expect(MemberLetter(f) == whole, "\(kind) \(language) \(from ?? "-") \(to ?? "-")")
                }
            }
        }
        #expect(
            LetterContent.printedDates(kind: "eligibility_notice", validFrom: LocalDate("2026-04-01"), validTo: LocalDate("2027-03-31"))
                == (nil, LocalDate("2027-03-31")))
        #expect(
            LetterContent.printedDates(kind: "apply_notice", validFrom: LocalDate("2026-04-01"), validTo: LocalDate("2027-03-31")) == (
                nil, nil
            ))
        // A date it prints is kept: another end date is another letter.
        #expect(
            MemberLetter(facts("eligibility_notice", [], language: "en", to: "2027-03-31"))
                != MemberLetter(facts("eligibility_notice", [], language: "en", to: "2027-04-30")))
        #expect(MemberLetter(facts("issue", [], language: "ja", from: "2026-12-02")) != MemberLetter(facts("issue", [], language: "ja")))
    }

    @Test func languageChoice() {
        #expect(MemberLetter.languages(for: "pt") == ["pt"])
        #expect(MemberLetter.languages(for: "pt-BR") == ["pt"])
        #expect(MemberLetter.languages(for: "zh-Hans-CN") == ["zh"])
        #expect(MemberLetter.languages(for: "fil") == ["tl"])
        #expect(MemberLetter.languages(for: "NE") == ["ne"])
        #expect(MemberLetter.languages(for: nil) == ["ja", "en"])
        #expect(MemberLetter.languages(for: "") == ["ja", "en"])
        #expect(MemberLetter.languages(for: "fr") == ["ja", "en"])
    }

    @Test func aCertificateLetterInPortuguese() {
        let l = MemberLetter(facts("issue", ["NO_CARD"], language: "pt-BR"))
        #expect(l.language == "pt")
        let p = Dictionary(uniqueKeysWithValues: zip(MemberLetter.Section.allCases, l.paragraphs))
        #expect(p[.title]!.contains("Certificado de Elegibilidade"))
        #expect(p[.greeting]!.contains("SILVA JOAO PEDRO"))
        #expect(p[.why]! == "Enviamos sem necessidade de solicitação. Você não tem cartão My Number.")
        #expect(p[.validity]! == "É válido de 01/12/2026 até 31/07/2027.")
        #expect(
            p[.nextSteps]!.contains("Mynaportal") && p[.nextSteps]!.contains("cabine de fotos")
                && p[.nextSteps]!.contains("residentes estrangeiros"))
        #expect(
            p[.insurerContact]!
                == "Em caso de dúvidas, ligue para 千代田区 no número 03-1234-5678. Horário: 平日 8:30–17:15. Idiomas: japonês, inglês, português."
        )
        #expect(p[.helpLines]!.contains("0120-0178-27") && p[.helpLines]!.contains("0120-0178-26"))
    }

    @Test func japaneseDatesAreInEraForm() {
        let l = MemberLetter(facts("renew", ["SPECIAL_CONSIDERATION_CONTINUES"], language: "ja"))
        #expect(l.paragraphs[4] == "有効期間は 令和8年12月1日 から 令和9年7月31日 までです。")
        #expect(!l.paragraphs[5].contains("在留"), "the residence sentence is for letters not in Japanese")
    }

    @Test func unknownLanguageGetsJapaneseAndEnglish() {
        let l = MemberLetter(facts("eligibility_notice", ["MYNA_USABLE"], language: "fr", from: nil, to: nil))
        #expect(l.language == "ja+en")
        #expect(l.paragraphs[4] == "このお知らせには有効期限はありません。 / This notice has no expiry date.")
        #expect(!l.paragraphs.joined().contains("\n"), "a vendor record stays on one line")
    }

    @Test func eachReasonGetsItsOwnSentence() throws {
        let en = try #require(LetterCatalog.texts["en"])
        for code in ReasonCode.allCases {
            let l = MemberLetter(facts("issue", [code.rawValue], language: "en"))
            #expect(l.paragraphs[3].contains(en["reason.\(code.rawValue)"]!), "\(code)")
        }
    }

    /// A code without a sentence (a code added to the enum before its texts) leaves the
    /// sentence out: the letter is still written, and the catalog test above fails.
    @Test func aCodeWithoutASentenceIsLeftOut() {
        let l = MemberLetter(facts("issue", ["NO_CARD", "SOME_FUTURE_CODE"], language: "en"))
        #expect(l.paragraphs[3] == "We send it to you without an application. You do not have a My Number card.")
    }

    @Test func applyNoticeSaysHowToApply() {
        let l = MemberLetter(facts("apply_notice", ["CARD_RENEWING"], language: "vi", from: nil, to: nil))
        #expect(l.paragraphs[5].contains("mẫu đơn") && l.paragraphs[5].contains("thời hạn ngắn"))
        #expect(!l.paragraphs[5].contains("xin cấp lại"), "no certificate: no sentence about losing one")
    }

    @Test func insurerWithoutPhoneIsNamedOnly() {
        var f = facts("issue", ["NO_CARD"], language: "en")
        f.insurer = InsurerContact(name: "Example Health Insurance Society")
        #expect(MemberLetter(f).paragraphs[6] == "If you have questions, please contact Example Health Insurance Society.")
    }
}
