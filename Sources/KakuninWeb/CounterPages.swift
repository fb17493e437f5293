import Foundation
import Hummingbird
import KakuninBatch
import KakuninCore
import KakuninStore

/// The counter's pages: search, the member record, applications, counter issue with its
/// confirmation and print view, reissue, returned mail, end of special consideration, void.
/// Every one calls CounterDesk, as `kakunin member|application|counter|certificate` do.
extension CounterDesk.Query {
    /// The query narrows by birth date itself (only the kana search takes one).
    var filtersBirthDate: Bool {
        if case .kana = self { return true }
        return false
    }
}

extension Console {
    static let pageSize = 20

    func desk(_ db: Connection, _ person: Person) -> CounterDesk { CounterDesk(db: db, person: "console:" + person.name) }

    /// The server's own check (the database's row-level security is the other): a counter
    /// person opens only their insurers; anything else is "not found", as if it did not exist.
    func requireOpen(_ person: Person, _ insurer: String) throws {
        guard person.mayOpen(insurer: insurer) else {
            throw OperatorError(.notFound, "該当する加入者はいません（no such member among your insurers）",
                                fix: "加入者検索から探してください。")
        }
    }

    func visibleInsurers(_ db: Connection, _ person: Person) throws -> [String] {
        if person.role == .counter { return person.insurers }
        return try Insurers.all(db)
    }

    static func choices(_ values: [String], selected: String?, all: String?) -> [[String: Any]] {
        var out: [[String: Any]] = []
        if let all { out.append(["value": "", "label": all, "selected": selected == nil]) }
        for v in values { out.append(["value": v, "label": v, "selected": v == selected]) }
        return out
    }

    static func pager(_ path: String, _ filters: [(String, String?)], page: Int, hasMore: Bool) -> [String: Any]? {
        guard page > 1 || hasMore else { return nil }
        func link(_ p: Int) -> String { path + "?" + FormFields.encode(filters + [("page", String(p))]) }
        var d: [String: Any] = ["page": page]
        if page > 1 { d["prev"] = link(page - 1) }
        if hasMore { d["next"] = link(page + 1) }
        return d
    }

    // MARK: - Search

    func search(_ db: Connection, _ person: Person, _ q: FormFields) throws -> Reply {
        let insurers = try visibleInsurers(db, person)
        let chosen = q["insurer"]
        var data: [String: Any] = ["q": q["q"] ?? "", "birth": q["birth"] ?? "",
                                   "insurerChoices": Self.choices(insurers, selected: chosen, all: insurers.count > 1 ? "すべて" : nil)]
        guard let text = q["q"] else { return .html(views.render("members", data, title: "加入者検索", person: person)) }
        var errors: [String: String] = [:]
        var birth: LocalDate?
        if let b = q["birth"] {
            birth = LocalDate(b)
            if birth == nil { errors["birth"] = "生年月日は YYYY-MM-DD で入力してください（例：1950-04-01）。" }
        }
        let digits = text.filter(\.isNumber)
        let query: CounterDesk.Query
        if text.allSatisfy({ $0.isNumber || "-‐－ー".contains($0) }) && digits.count == 7 {
            query = .postalCode(text)
        } else if text.range(of: "^[A-Za-z0-9_-]{1,20}$", options: .regularExpression) != nil {
            query = .member(text)
        } else if Kana.normalise(text).unicodeScalars.allSatisfy({ (0x30A0...0x30FF).contains($0.value) || $0 == "\u{3000}" }) {
            query = .kana(text, birthDate: birth)
        } else {
            errors["q"] = "カナ（カタカナ・ひらがな・半角カナ）、加入者ID、または郵便番号（7桁）で検索してください。漢字の氏名では検索できません。"
            query = .member("")
        }
        if !errors.isEmpty {
            data["errors"] = errors
            return .html(views.render("members", data, title: "加入者検索", person: person), status: .badRequest)
        }
        // A counter person naming another insurer gets no result: the same answer as for a
        // member that does not exist.
        let searchIn = chosen.map { insurers.contains($0) ? [$0] : [] } ?? insurers
        // Pages by key: each insurer gives at most a page and one more after the last one shown.
        let cursor = SearchCursor(q)
        var hits: [SearchCursor.Hit] = []
        for insurer in searchIn {
            hits += try desk(db, person).findPage(insurer: insurer, query, after: cursor?.after(insurer), birth: query.filtersBirthDate ? nil : birth,
                                                  limit: Self.pageSize + 1).map { SearchCursor.Hit(insurer: insurer, hit: $0.hit, key: $0.key) }
        }
        let fetched = hits.count
        hits.sort(by: SearchCursor.Hit.before)
        let shown = Array(hits.prefix(Self.pageSize))
        for insurer in Set(shown.map(\.insurer)) {
            try desk(db, person).recordView(insurer: insurer, members: shown.filter { $0.insurer == insurer }.map(\.hit.member_id), page: "search")
        }
        data["searched"] = true
        data["fetched"] = fetched
        data["hits"] = shown.map { h -> [String: Any] in
            ["insurer": h.insurer, "member_id": h.hit.member_id, "name": h.hit.name, "kana": h.hit.kana, "birth": h.hit.birth_date, "scheme": h.hit.scheme]
        }
        let start = cursor?.shownBefore ?? 0
        if !shown.isEmpty { data["resultRange"] = "\(start + 1)–\(start + shown.count) 件" }
        if hits.count > Self.pageSize, let last = shown.last {
            let next = "/members?" + FormFields.encode([("q", text), ("birth", q["birth"]), ("insurer", chosen)] + SearchCursor.fields(after: last, shownBefore: start + shown.count))
            data["pager"] = ["page": start / Self.pageSize + 1, "next": next] as [String: Any]
        } else if start > 0 {
            data["pager"] = ["page": start / Self.pageSize + 1] as [String: Any]
        }
        return .html(views.render("members", data, title: "加入者検索", person: person))
    }

    /// Where a search page starts: after the last member of the page before (reading, insurer,
    /// member id), carried in the "next" link.
    struct SearchCursor {
        struct Hit {
            let insurer: String
            let hit: CounterDesk.MemberHit
            let key: CounterDesk.SearchKey

            /// Page order: reading, insurer, member id, byte-wise (as the database orders each insurer).
            static func before(_ a: Hit, _ b: Hit) -> Bool {
                let x = (Array(a.key.kana.utf8), a.insurer, Array(a.key.member.utf8)), y = (Array(b.key.kana.utf8), b.insurer, Array(b.key.member.utf8))
                if x.0 != y.0 { return x.0.lexicographicallyPrecedes(y.0) }
                if x.1 != y.1 { return Array(x.1.utf8).lexicographicallyPrecedes(Array(y.1.utf8)) }
                return x.2.lexicographicallyPrecedes(y.2)
            }
        }

        let kana: String
        let insurer: String
        let member: String
        /// How many came before (shown in 「21–40 件」 only).
        let shownBefore: Int

        init?(_ q: FormFields) {
            guard let insurer = q["after_insurer"], let member = q["after_member"] else { return nil }
            kana = q.raw("after_kana") ?? ""
            self.insurer = insurer
            self.member = member
            shownBefore = max(0, min(1_000_000, Int(q["shown"] ?? "") ?? 0))
        }

        /// The key an insurer's members must come after: within the same reading, an insurer
        /// before the cursor's has nothing left, one after it starts at the reading itself.
        func after(_ other: String) -> CounterDesk.SearchKey {
            if other == insurer { return .init(kana: kana, member: member) }
            let earlier = Array(other.utf8).lexicographicallyPrecedes(Array(insurer.utf8))
            return .init(kana: kana, member: earlier ? "\u{10FFFF}" : "")
        }

        static func fields(after last: Hit, shownBefore: Int) -> [(String, String?)] {
            [("after_kana", last.key.kana), ("after_insurer", last.insurer), ("after_member", last.key.member), ("shown", String(shownBefore))]
        }
    }

    // MARK: - Member record

    /// Drops NULLs (absent keys are false in a template) from what CounterDesk.show returns.
    static func clean(_ v: Any) -> Any? {
        if v is NSNull { return nil }
        if let d = v as? [String: Any] { return d.compactMapValues(clean) }
        if let a = v as? [[String: Any]] { return a.map { $0.compactMapValues(clean) } }
        return v
    }

    static let applicationKinds: [(String, String)] = [
        ("special_consideration", "配慮が必要な方の交付申請"), ("card_lost", "マイナンバーカードの紛失・一時停止"),
        ("card_renewing", "マイナンバーカードの更新中"), ("reissue", "資格確認書の再交付（紛失・破損）"),
    ]
    static let bases: [(String, String)] = [("", "（なし）")] + ConsiderationBasis.allCases.map { ($0.rawValue, $0.japanese) }

    func memberPage(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ q: FormFields,
                    formError: (message: String, fix: String?)? = nil, errors: [String: String] = [:],
                    form: FormFields? = nil, open: String? = nil, done: String? = nil) throws -> Reply {
        try requireOpen(person, insurer)
        let record = try desk(db, person).show(insurer: insurer, memberID: member)
        var data = (Self.clean(record["member"] ?? [:]) as? [String: Any]) ?? [:]
        let m = data
        func s(_ k: String) -> String { m[k] as? String ?? "" }
        data["insurer"] = insurer
        data["member_id"] = member
        data["name"] = [s("family_name"), s("given_name")].filter { !$0.isEmpty }.joined(separator: "\u{3000}")
        data["kana"] = [s("family_name_kana"), s("given_name_kana")].filter { !$0.isEmpty }.joined(separator: "\u{3000}")
        data["birth"] = s("birth_date")
        data["birth_era"] = LocalDate(s("birth_date")).flatMap(JapaneseEra.format) ?? ""
        data["sex"] = ["1": "男", "2": "女"][s("sex")] ?? "―"
        data["is_head"] = s("household_head") == "true"
        data["printed"] = Self.printedSection(m, on: Self.today())
        data["canAct"] = person.role == .counter
        data["csrf"] = person.csrf
        data["today"] = Self.today().description
        var certificates = (Self.clean(record["certificates"] ?? []) as? [[String: Any]]) ?? []
        for i in certificates.indices { certificates[i]["active"] = certificates[i]["status"] as? String == "active" }
        data["certificates"] = certificates
        data["letter"] = letterInJapanese(db, insurer, certificates, name: [s("family_name"), s("given_name")].filter { !$0.isEmpty }.joined(separator: " "))
        data["considerationActive"] = certificates.contains { $0["status"] as? String == "active" && $0["special_consideration"] as? String == "true" && $0["consideration_ended_on"] == nil }
        var decisions = (Self.clean(record["decisions"] ?? []) as? [[String: Any]]) ?? []
        for i in decisions.indices {
            decisions[i]["outcome"] = (decisions[i]["outcome"] as? String).flatMap(Outcome.init(rawValue:))?.japanese ?? decisions[i]["outcome"]
            decisions[i]["reasons"] = Self.reasonList(decisions[i]["reasons"] as? String ?? "", separator: ";")
        }
        data["decisions"] = decisions
        var applications = (Self.clean(record["applications"] ?? []) as? [[String: Any]]) ?? []
        for i in applications.indices {
            applications[i]["pending"] = applications[i]["status"] as? String == "pending"
            if let basis = applications[i]["basis"] as? String { applications[i]["basis_label"] = ConsiderationBasis.japanese(basis) }
        }
        data["applications"] = applications
        data["notices"] = Self.clean(record["notices"] ?? []) ?? []
        data["returns"] = Self.clean(record["mail_returns"] ?? []) ?? []
        data["myna"] = Self.clean(record["myna_status"] ?? []) ?? []
        let selectedKind = form?["kind"] ?? "special_consideration"
        data["kinds"] = Self.applicationKinds.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == selectedKind] }
        data["bases"] = Self.bases.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == (form?["basis"] ?? "")] }
        data["form"] = ["received_on": form?["received_on"] ?? Self.today().description, "note": form?["note"] ?? "",
                        "approved": form?["status"] == "approved", "reissue_note": form?["note"] ?? ""]
        if let open { data["open"] = [open: true] }
        if !errors.isEmpty { data["errors"] = errors }
        if let formError { data["formError"] = ["message": formError.message, "fix": formError.fix ?? ""] }
        if let done = done ?? q["done"].flatMap({ Self.doneMessages[$0] }) { data["done"] = done }
        let status: HTTPResponse.Status = errors.isEmpty && formError == nil ? .ok : .badRequest
        return .html(views.render("member", data, title: "加入者 \(member)", person: person), status: status)
    }

    /// [2026-12] What a certificate issued today would print beyond the identity fields
    /// (SPEC.md 5.1, `PrintedDetails`): its title and the printed lines.
    static func printedSection(_ m: [String: Any], on today: LocalDate) -> [String: Any]? {
        guard let member = CounterDesk.printedMember({ m[$0] as? String }) else { return nil }
        let d = PrintedDetails(member, .certificate, validFrom: today, issuedOn: today)
        return ["title": d.title, "special": d.variant == .specialCare,
                "lines": d.lines.map { ["label": $0.label, "text": $0.text] }]
    }

    /// The member letter of the latest active certificate, in Japanese (SPEC.md 5.2): what
    /// the member was sent with it, for the clerk to read with them; nil without one.
    func letterInJapanese(_ db: Connection, _ insurer: String, _ certificates: [[String: Any]], name: String) -> [String: Any]? {
        guard let c = certificates.last(where: { $0["active"] as? Bool == true }), let number = c["certificate_number"] as? String else { return nil }
        guard let loaded = try? parameters(db, insurer, Self.today()) else { return nil }
        let contact = InsurerContact(loaded.parameters)
        let letter = MemberLetter(LetterFacts(kind: c["kind"] as? String ?? "", reasons: (c["reasons"] as? String ?? "").split(separator: ";").map(String.init),
                                              name: name, validFrom: (c["valid_from"] as? String).flatMap { LocalDate($0) },
                                              validTo: (c["valid_to"] as? String).flatMap { LocalDate($0) }, preferredLanguage: "ja", insurer: contact))
        return ["certificate_number": number, "paragraphs": letter.paragraphs.filter { !$0.isEmpty }]
    }

    static let doneMessages: [String: String] = [
        "application": "申請を記録しました。", "decided": "申請の審査結果を記録しました。", "returned": "返戻を記録しました。この方への郵送は住所が変わるまで止まります。",
        "voided": "資格確認書を無効にしました。", "consideration": "配慮の取扱いを終了しました。", "notice_returned": "通知の返戻を記録しました。",
    ]

    static func reasonList(_ joined: String, separator: Character) -> [[String: String]] {
        joined.split(separator: separator).map { code in
            ["code": String(code), "text": ReasonCode(rawValue: String(code))?.japanese ?? ""]
        }
    }

    /// The parameters in force for an insurer on a date (refused, in Japanese, without them).
    func parameters(_ db: Connection, _ insurer: String, _ asOf: LocalDate) throws -> LoadedParameters {
        do {
            return try ParameterVersions.inForce(db, insurer: insurer, on: asOf)
        } catch let e as OperatorError where e.status == .noParameters {
            throw OperatorError(.noParameters, "保険者 \(insurer) には基準日 \(asOf) に有効なパラメータ（保険者名称を含む）がありません。判定も交付もできません。",
                                fix: "運用担当に連絡してください（kakunin insurer params set --insurer \(insurer) …）。")
        }
    }

    /// 「なぜこの判定か」: with `run`, the decision that run made, explained from the facts it read and
    /// its parameters (as replay decides); without, today's decision from today's data, labelled so.
    func explainPage(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ q: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        try desk(db, person).requireMemberVisible(insurer, member)
        let e: Explanation
        if let run = q["run"] {
            guard let id = Int(run), id > 0 else {
                throw OperatorError(.usage, "run は実行番号で指定してください", fix: "判定の履歴のリンクから開いてください。")
            }
            e = try Explanation.ofRun(db: db, runID: id, member: member)
            guard e.insurer == insurer else { throw OperatorError(.notFound, "実行 \(id) はこの保険者の実行ではありません", fix: "判定の履歴のリンクから開いてください。") }
        } else {
            guard let asOf = q["as_of"].map({ LocalDate($0) }) ?? Self.today() else {
                throw OperatorError(.usage, "as_of は YYYY-MM-DD で指定してください", fix: "判定の履歴のリンクから開いてください。")
            }
            e = try Explanation.load(db: db, insurer: insurer, member: member, asOf: asOf, parameters: parameters(db, insurer, asOf))
        }
        try desk(db, person).recordView(insurer: insurer, members: [member], page: "explanation")
        var data: [String: Any] = ["insurer": insurer, "member_id": member, "as_of": e.asOf.description,
                                   "as_of_era": JapaneseEra.format(e.asOf) ?? "", "outcome": e.decision.outcome.japanese + "（\(e.decision.outcome.rawValue)）",
                                   "steps": e.steps, "parameters": "\(e.parameters.source)（sha256 \(e.parameters.sha256.prefix(16))…）",
                                   "insurer_name": e.parameters.parameters.insurerName ?? ""]
        if let run = e.runID {
            var about: [String: Any] = ["run_id": run]
            if let stored = e.storedDiffers { about["stored"] = stored }
            data["run"] = about
            data["heading"] = "実行 \(run) の判定の説明"
        } else {
            data["heading"] = "今日の判定の説明（現在のデータによる）"
        }
        data["reasons"] = e.decision.reasons.sorted.map { ["code": $0.rawValue, "text": $0.japanese, "source": $0.explanation.source] }
        if let f = e.decision.validFrom, let t = e.decision.validTo { data["valid"] = "\(f) – \(t)（\(JapaneseEra.format(t) ?? "") まで）" }
        return .html(views.render("explain", data, title: "判定の説明", person: person))
    }

    // MARK: - Counter issue

    func issueConfirm(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ q: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        try desk(db, person).requireMemberVisible(insurer, member)
        let asOf = Self.today()
        let (d, steps) = try desk(db, person).counterDecision(insurer: insurer, memberID: member, asOf: asOf, parameters: parameters(db, insurer, asOf))
        let name = try desk(db, person).displayName(insurer: insurer, memberID: member)
        try desk(db, person).recordView(insurer: insurer, members: [member], page: "counter issue")
        var data: [String: Any] = ["insurer": insurer, "member_id": member, "name": name, "as_of": asOf.description,
                                   "as_of_era": JapaneseEra.format(asOf) ?? "", "outcome": "\(d.outcome.japanese)（\(d.outcome.rawValue)）",
                                   "issues": d.outcome.issuesCertificate, "steps": steps, "csrf": person.csrf,
                                   "reasons": d.reasons.sorted.map { ["code": $0.rawValue, "text": $0.japanese] }]
        if let f = d.validFrom, let t = d.validTo { data["valid"] = "\(f) – \(t)（\(JapaneseEra.format(t) ?? "") まで）" }
        if let r = d.replacesCertificate { data["replaces"] = String(r) }
        return .html(views.render("issue_confirm", data, title: "窓口交付の確認", person: person))
    }

    func issue(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ form: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        let asOf = Self.today()
        switch try desk(db, person).issue(insurer: insurer, memberID: member, asOf: asOf, parameters: parameters(db, insurer, asOf)) {
        case .issued(let c):
            let data: [String: Any] = ["insurer": insurer, "member_id": member, "certificate_number": String(c.certificate_number),
                                       "name": [c.family_name, c.given_name].compactMap { $0 }.joined(separator: "\u{3000}"),
                                       "valid_to_era": c.valid_to_era, "replaces": c.replaces_certificate_number.map(String.init) ?? ""]
            return .html(views.render("issued", data, title: "交付しました", person: person))
        case .nothing(let d, _):
            return try memberPage(db, person, insurer, member, FormFields(""),
                                  formError: ("交付するものがありませんでした（\(d.outcome.japanese)：\(d.reasons.sorted.map(\.rawValue).joined(separator: ", "))）。", "判定の説明を確認してください。"))
        }
    }

    func printView(_ db: Connection, _ person: Person, _ insurer: String, _ number: String, _ q: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        guard let n = Int64(number) else { throw OperatorError(.notFound, "確認書番号 \(number) はありません") }
        let paper = CertificatePrint.Paper(rawValue: q["paper"] ?? "card") ?? .card
        let loaded = try parameters(db, insurer, Self.today())
        let c = try desk(db, person).reprint(insurer: insurer, certificate: n, parameters: loaded)
        // ?letter=member: the member letter in the member's language; ?letter=ja (or another code): in that one.
        if let language = q["letter"] {
            return .html(LetterHTML.document(c.letter(loaded.parameters, language: language == "member" ? nil : language), reference: c.letterReference))
        }
        return .html(CertificatePrint.html(c, paper: paper))
    }

    // MARK: - Forms

    /// Runs a counter action; a refusal (bad field, conflict) shows the member page again with
    /// the error beside the field (or above the form) and nothing changed.
    func memberForm(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ form: FormFields, open: String,
                    fieldFor: (String) -> String? = { _ in nil }, _ body: () throws -> Reply) throws -> Reply {
        try requireOpen(person, insurer)
        if let bad = form.firstWithControlCharacter() {
            return try controlCharacterRefused(db, person, insurer, member, field: bad, open: open)
        }
        do {
            return try body()
        } catch let e as FieldError {
            return try memberPage(db, person, insurer, member, FormFields(""), errors: [e.field: e.message], form: form, open: open)
        } catch let e as OperatorError where e.status == .usage || e.status == .conflict {
            // The library's own Japanese where it gives one (CounterDates), its English otherwise.
            if let field = fieldFor(e.message) {
                return try memberPage(db, person, insurer, member, FormFields(""),
                                      errors: [field: e.japanese ?? e.message + (e.fix.map { "（対処：\($0)）" } ?? "")], form: form, open: open)
            }
            return try memberPage(db, person, insurer, member, FormFields(""), formError: e.japanese.map { ($0, nil) } ?? (e.message, e.fix),
                                  form: form, open: open)
        }
    }

    /// A form with a NUL or another control character: the member page again, the error beside
    /// the field when the form has a place for it (else above the form), nothing recorded.
    func controlCharacterRefused(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, field: String,
                                 open: String) throws -> Reply {
        let message = "入力に使えない文字（制御文字）が含まれています。文字だけで入力し直してください。"
        let slots = ["received_on": "received_on", "kind": "kind", "basis": "basis",
                     "note": open == "reissue" ? "reissue_note" : "", "reason": open == "consideration" ? "end_reason" : ""]
        if let slot = slots[field], !slot.isEmpty {
            return try memberPage(db, person, insurer, member, FormFields(""), errors: [slot: message], open: open)
        }
        return try memberPage(db, person, insurer, member, FormFields(""), formError: (message, "入力を確かめてください。"), open: open)
    }

    func date(_ form: FormFields, _ name: String, field: String? = nil, default value: LocalDate? = nil) throws -> LocalDate {
        guard let text = form[name] else {
            if let value { return value }
            throw FieldError(field: field ?? name, message: "日付を入力してください（YYYY-MM-DD）。")
        }
        guard let d = LocalDate(text) else { throw FieldError(field: field ?? name, message: "日付は YYYY-MM-DD で入力してください（例：2026-11-21）。") }
        return d
    }

    func addApplication(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ form: FormFields) throws -> Reply {
        // CounterDesk names the field first ("received_on: …"); its basis rule names the basis.
        try memberForm(db, person, insurer, member, form, open: "application", fieldFor: { m in
            ["kind", "basis", "received_on"].first { m.hasPrefix($0 + ":") } ?? (m.contains("basis") ? "basis" : nil)
        }) {
            guard let kind = form["kind"], Self.applicationKinds.contains(where: { $0.0 == kind }) else {
                throw FieldError(field: "kind", message: "申請の種類を選んでください。")
            }
            if let basis = form["basis"], !basis.isEmpty, ConsiderationBasis(rawValue: basis) == nil {
                throw FieldError(field: "basis", message: "配慮が必要な理由を一覧から選んでください。")
            }
            let received = try date(form, "received_on")
            let r = try desk(db, person).addApplication(insurer: insurer, memberID: member, kind: kind, basis: form["basis"], receivedOn: received,
                                                        status: form["status"] == "approved" ? "approved" : "pending", note: form["note"])
            if r.status == "rejected" {
                return try memberPage(db, person, insurer, member, FormFields(""),
                                      done: "申請を記録しましたが、配慮が必要な理由がないため却下（NO_BASIS）として記録しました。")
            }
            return .redirect("/members/\(insurer)/\(member)?done=application")
        }
    }

    func decideApplication(_ db: Connection, _ person: Person, _ insurer: String, _ application: String, _ form: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        guard let id = Int64(application) else { throw OperatorError(.notFound, "申請 \(application) はありません") }
        let approve = form["decision"] == "approve"
        let r = try desk(db, person).decideApplication(insurer: insurer, applicationID: id, approve: approve, reason: form["reason"])
        return .redirect("/members/\(insurer)/\(r.member_id)?done=decided")
    }

    /// 再交付: records an approved reissue application received today, then the confirmation.
    func reissue(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ form: FormFields) throws -> Reply {
        try memberForm(db, person, insurer, member, form, open: "reissue") {
            guard let note = form["note"] else { throw FieldError(field: "reissue_note", message: "再交付の理由（紛失・破損など）を入力してください。") }
            _ = try desk(db, person).addApplication(insurer: insurer, memberID: member, kind: "reissue", basis: nil, receivedOn: Self.today(),
                                                    status: "approved", note: note)
            return .redirect("/members/\(insurer)/\(member)/issue")
        }
    }

    func endConsideration(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ form: FormFields) throws -> Reply {
        try memberForm(db, person, insurer, member, form, open: "consideration") {
            guard let reason = form["reason"] else { throw FieldError(field: "end_reason", message: "終了の理由を入力してください。") }
            _ = try desk(db, person).endConsideration(insurer: insurer, memberID: member, on: Self.today(), reason: reason)
            return .redirect("/members/\(insurer)/\(member)?done=consideration")
        }
    }

    func returnNotice(_ db: Connection, _ person: Person, _ insurer: String, _ member: String, _ form: FormFields) throws -> Reply {
        try memberForm(db, person, insurer, member, form, open: "notice") {
            guard let kind = form["kind"] else { throw FieldError(field: "notice", message: "通知の種類がありません。") }
            _ = try desk(db, person).returnNotice(insurer: insurer, memberID: member, kind: kind, run: form["run"].flatMap { Int64($0) },
                                                  on: Self.today(), note: form["note"])
            return .redirect("/members/\(insurer)/\(member)?done=notice_returned")
        }
    }

    func certificateMember(_ db: Connection, _ insurer: String, _ number: Int64) throws -> String {
        guard let m = try CounterDesk(db: db, person: "").certificateMember(insurer: insurer, certificate: number) else {
            throw OperatorError(.notFound, "確認書 \(number) はありません", fix: "加入者の画面から操作してください。")
        }
        return m
    }

    func returnCertificate(_ db: Connection, _ person: Person, _ insurer: String, _ number: String, _ form: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        guard let n = Int64(number) else { throw OperatorError(.notFound, "確認書 \(number) はありません") }
        let member = try certificateMember(db, insurer, n)
        return try memberForm(db, person, insurer, member, form, open: "certificates") {
            let on = try date(form, "on", field: "return", default: Self.today())
            _ = try desk(db, person).returnCertificate(insurer: insurer, certificate: n, on: on, note: form["note"])
            return .redirect("/members/\(insurer)/\(member)?done=returned")
        }
    }

    func voidCertificate(_ db: Connection, _ person: Person, _ insurer: String, _ number: String, _ form: FormFields) throws -> Reply {
        try requireOpen(person, insurer)
        guard let n = Int64(number) else { throw OperatorError(.notFound, "確認書 \(number) はありません") }
        let member = try certificateMember(db, insurer, n)
        return try memberForm(db, person, insurer, member, form, open: "certificates") {
            guard let reason = form["reason"] else { throw FieldError(field: "void", message: "無効にする理由を入力してください。") }
            _ = try desk(db, person).void(insurer: insurer, certificate: n, reason: reason, on: Self.today())
            return .redirect("/members/\(insurer)/\(member)?done=voided")
        }
    }
}
