import Foundation
import Hummingbird
import KakuninBatch
import KakuninCore
import KakuninCounter
import KakuninRuntime
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

    func visibleInsurers(_ db: Connection, _ person: Person) throws -> [String] {
        if person.actsAtCounter { return person.insurers }
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
        var data: [String: Any] = [
            "q": q["q"] ?? "", "birth": q["birth"] ?? "",
            "insurerChoices": Self.choices(insurers, selected: chosen, all: insurers.count > 1 ? "すべて" : nil),
        ]
        guard let text = q["q"] else { return .html(views.render("members", data, title: "加入者検索", person: person)) }
        var errors: [String: String] = [:]
        var birth: LocalDate?
        if let b = q["birth"] {
            birth = JapaneseEra.parse(b)
            if birth == nil { errors["birth"] = "生年月日は 昭和25年4月1日、1950-04-01、19500401 のいずれかの形で入力してください。" }
        }
        let digits = text.filter(\.isNumber)
        let query: CounterDesk.Query?
        if text.allSatisfy({ $0.isNumber || "-‐－ー".contains($0) }) && digits.count == 7 {
            query = .postalCode(text)
        } else if let id = MemberID(text) {
            query = .member(id)
        } else if Kana.normalise(text).unicodeScalars.allSatisfy({ (0x30A0...0x30FF).contains($0.value) || $0 == "\u{3000}" }) {
            query = .kana(text, birthDate: birth)
        } else {
            errors["q"] = "カナ（カタカナ・ひらがな・半角カナ）、加入者ID、または郵便番号（7桁）で検索してください。漢字の氏名では検索できません。"
            query = nil
        }
        guard errors.isEmpty, let query else {
            data["errors"] = errors
            return .html(views.render("members", data, title: "加入者検索", person: person), status: .badRequest)
        }
        // A counter person naming another insurer gets no result: the same answer as for a
        // member that does not exist.
        let searchIn = chosen.map { insurers.contains($0) ? [$0] : [] } ?? insurers
        // Pages by key: each insurer gives at most a page and one more after the last one shown.
        let cursor = SearchCursor(q)
        var hits: [SearchCursor.Hit] = []
        for insurer in searchIn.compactMap(InsurerNumber.init) {
            hits += try desk(db, person).findPage(
                insurer: insurer, query, after: cursor?.after(insurer.text), birth: query.filtersBirthDate ? nil : birth,
                limit: Self.pageSize + 1
            ).map { SearchCursor.Hit(insurer: insurer.text, hit: $0.hit, key: $0.key) }
        }
        let fetched = hits.count
        hits.sort(by: SearchCursor.Hit.before)
        let shown = Array(hits.prefix(Self.pageSize))
        for insurer in Set(shown.map(\.insurer)).compactMap(InsurerNumber.init) {
            try desk(db, person).recordView(
                insurer: insurer, members: shown.filter { $0.insurer == insurer.text }.map(\.hit.member_id), page: "search")
        }
        data["searched"] = true
        data["fetched"] = fetched
        data["hits"] = shown.map { h -> [String: Any] in
            [
                "insurer": h.insurer, "member_id": h.hit.member_id, "name": h.hit.name, "kana": h.hit.kana,
                "birth": JapaneseEra.withWestern(h.hit.birth_date), "scheme": StaffLabel.of(Scheme.self, h.hit.scheme),
            ]
        }
        let start = cursor?.shownBefore ?? 0
        if !shown.isEmpty { data["resultRange"] = "\(start + 1)–\(start + shown.count) 件" }
        if hits.count > Self.pageSize, let last = shown.last {
            let next =
                "/members?"
                + FormFields.encode(
                    [("q", text), ("birth", q["birth"]), ("insurer", chosen)]
                        + SearchCursor.fields(after: last, shownBefore: start + shown.count))
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
                let x = (Array(a.key.kana.utf8), a.insurer, Array(a.key.member.utf8))
                let y = (Array(b.key.kana.utf8), b.insurer, Array(b.key.member.utf8))
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
            [
                ("after_kana", last.key.kana), ("after_insurer", last.insurer), ("after_member", last.key.member),
                ("shown", String(shownBefore)),
            ]
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

    static let bases: [(String, String)] = [("", "（なし）")] + ConsiderationBasis.allCases.map { ($0.rawValue, $0.japanese) }

    func memberPage(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ q: FormFields,
        formError: (message: String, fix: String?)? = nil, errors: [String: String] = [:],
        form: FormFields? = nil, open: String? = nil, done: String? = nil
    ) throws -> Reply {
        let record = try desk(db, person).show(insurer: insurer, memberID: member)
        let rawMember = (Self.clean(record["member"] ?? [:]) as? [String: Any]) ?? [:]
        var data = Self.memberFacts(rawMember)
        data["insurer"] = insurer.text
        data["member_id"] = member.text
        data["printed"] = Self.printedSection(rawMember, on: Self.today())
        data["canAct"] = person.actsAtCounter
        data["csrf"] = person.csrf
        data["today"] = JapaneseEra.short(Self.today().description)
        let returns = Self.returnRows((Self.clean(record["mail_returns"] ?? []) as? [[String: Any]]) ?? [])
        // What has come back already is not offered for a return again.
        let returned = Set(returns.map { "\($0["document_code"] ?? "")/\($0["certificate_number"] ?? $0["notice_run_id"] ?? "")" })
        let rawCertificates = (Self.clean(record["certificates"] ?? []) as? [[String: Any]]) ?? []
        var certificates = Self.certificateRows(rawCertificates)
        for i in certificates.indices where returned.contains("certificate/\(certificates[i]["certificate_number"] ?? "")") {
            certificates[i]["mayReturn"] = false
        }
        data["certificates"] = certificates
        data["letter"] = letterInJapanese(
            db, insurer, rawCertificates,
            name: [rawMember["family_name"] as? String, rawMember["given_name"] as? String]
                .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " "))
        data["considerationActive"] = certificates.contains {
            $0["active"] as? Bool == true && $0["special_consideration"] as? String == "true" && $0["consideration_ended_on"] == nil
        }
        data["decisions"] = Self.decisionRows((Self.clean(record["decisions"] ?? []) as? [[String: Any]]) ?? [])
        let applications = Self.applicationRows((Self.clean(record["applications"] ?? []) as? [[String: Any]]) ?? [])
        data["applications"] = applications
        var notices = Self.noticeRows((Self.clean(record["notices"] ?? []) as? [[String: Any]]) ?? [])
        for i in notices.indices where returned.contains("\(notices[i]["kind_code"] ?? "")/\(notices[i]["run_id"] ?? "")") {
            notices[i]["mayReturn"] = false
        }
        data["notices"] = notices
        data["returns"] = returns
        data["myna"] = Self.mynaRows((Self.clean(record["myna_status"] ?? []) as? [[String: Any]]) ?? [])
        data.merge(Self.applicationForm(form), uniquingKeysWith: { $1 })
        if let open { data["open"] = [open: true] }
        if !errors.isEmpty { data["errors"] = errors }
        if let formError { data["formError"] = ["message": formError.message, "fix": formError.fix ?? ""] }
        if let done = done ?? Self.doneMessage(q, applications: applications, certificates: certificates, returns: returns) {
            data["done"] = done
        }
        let status: HTTPResponse.Status = errors.isEmpty && formError == nil ? .ok : .badRequest
        return .html(views.render("member", data, title: "加入者 \(member)", person: person), status: status)
    }

    /// [2026-12] What a certificate issued today would print beyond the identity fields
    /// (SPEC.md 5.1, `PrintedDetails`): its title and the printed lines.
    static func printedSection(_ m: [String: Any], on today: LocalDate) -> [String: Any]? {
        guard let member = CounterDesk.printedMember({ m[$0] as? String }) else { return nil }
        let d = PrintedDetails(member, .certificate, validFrom: today, issuedOn: today)
        return [
            "title": d.title, "special": d.variant == .specialCare,
            "lines": d.lines.map { ["label": $0.label, "text": $0.text] },
        ]
    }

    /// The member letter of the latest active certificate, in Japanese (SPEC.md 5.2): what
    /// the member was sent with it, for the clerk to read with them; nil without one.
    func letterInJapanese(_ db: Connection, _ insurer: InsurerNumber, _ certificates: [[String: Any]], name: String) -> [String: Any]? {
        guard let c = certificates.last(where: { $0["status"] as? String == "active" }), let number = c["certificate_number"] as? String
        else { return nil }
        guard let loaded = try? parameters(db, insurer, Self.today()) else { return nil }
        let contact = InsurerContact(loaded.parameters)
        let letter = MemberLetter(
            LetterFacts(
                kind: c["kind"] as? String ?? "", reasons: (c["reasons"] as? String ?? "").split(separator: ";").map(String.init),
                name: name, validFrom: (c["valid_from"] as? String).flatMap { LocalDate($0) },
                validTo: (c["valid_to"] as? String).flatMap { LocalDate($0) }, preferredLanguage: "ja", insurer: contact))
        return ["certificate_number": number, "paragraphs": letter.paragraphs.filter { !$0.isEmpty }]
    }

    /// The member's own facts, for the page: names, era dates, labels, 〒123-4567.
    static func memberFacts(_ m: [String: Any]) -> [String: Any] {
        var data = m
        func s(_ k: String) -> String { m[k] as? String ?? "" }
        data["name"] = [s("family_name"), s("given_name")].filter { !$0.isEmpty }.joined(separator: "\u{3000}")
        data["kana"] = [s("family_name_kana"), s("given_name_kana")].filter { !$0.isEmpty }.joined(separator: "\u{3000}")
        data["birth"] = JapaneseEra.withWestern(s("birth_date"))
        data["sex"] = ["1": "男", "2": "女"][s("sex")] ?? "―"
        data["is_head"] = s("household_head") == "true"
        data["scheme"] = StaffLabel.of(Scheme.self, s("scheme"))
        data["qualified_on"] = JapaneseEra.withWestern(s("qualified_on"))
        data["disqualified_on"] = JapaneseEra.withWestern(s("disqualified_on"))
        data["postal_code"] = PostalCode.display(s("postal_code"))
        return data
    }

    static func certificateRows(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.map { c in
            var c = c
            let status = c["status"] as? String
            let delivery = CertificateDelivery(rawValue: c["delivery_code"] as? String ?? "") ?? .mailed
            c["active"] = status == "active"
            c["kind"] = StaffLabel.of(CertificateKind.self, c["kind"] as? String)
            c["status"] = StaffLabel.of(CertificateStatus.self, status)
            c["reasons"] = reasonList(c["reasons"] as? String ?? "", separator: ";")
            c["valid"] = "\(JapaneseEra.short(c["valid_from"] as? String)) – \(JapaneseEra.short(c["valid_to"] as? String))"
            c["issued_on"] = JapaneseEra.short(c["issued_on"] as? String)
            c["voided_on"] = JapaneseEra.short(c["voided_on"] as? String)
            c["void_reason"] = CertificateStatus.voidReason(c["void_reason"] as? String)
            let via = c["establishment_id"] as? String
            c["delivery"] = via.map { Self.throughEstablishment($0, name: c["establishment_name"] as? String) } ?? delivery.japanese
            c["mayReturn"] = delivery.canComeBack && status == "active"
            if status == "active", let why = c["mail_exception"] as? String {
                c["what_to_do"] = "送付ファイルに載せられませんでした（\(RecordProblem.japanese(stored: why))）。窓口で印刷してお渡しするか、記録を訂正してください。"
            } else {
                c["what_to_do"] = nil
            }
            return c
        }
    }

    static func decisionRows(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.map { d in
            var d = d
            d["outcome"] = StaffLabel.of(Outcome.self, d["outcome"] as? String)
            d["reasons"] = reasonList(d["reasons"] as? String ?? "", separator: ";")
            d["as_of_era"] = JapaneseEra.short(d["as_of"] as? String)
            if d["valid_from"] != nil {
                d["valid"] = "\(JapaneseEra.short(d["valid_from"] as? String)) – \(JapaneseEra.short(d["valid_to"] as? String))"
            }
            return d
        }
    }

    static func applicationRows(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.map { a in
            var a = a
            a["pending"] = a["status"] as? String == "pending"
            a["kind"] = StaffLabel.of(ApplicationKind.self, a["kind"] as? String)
            if let basis = a["basis"] as? String { a["basis_label"] = ConsiderationBasis.japanese(basis) }
            a["status"] = StaffLabel.of(ApplicationStatus.self, a["status"] as? String)
            if let reason = a["reject_reason"] as? String {
                a["reject_reason"] = ReasonCode(rawValue: reason).map { "\($0.japanese)" } ?? reason
            }
            a["received_on"] = JapaneseEra.withWestern(a["received_on"] as? String)
            a["source"] = StaffLabel.of(ApplicationSource.self, a["source"] as? String)
            return a
        }
    }

    static func noticeRows(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.map { n in
            var n = n
            n["kind_code"] = n["kind"]
            n["kind"] = StaffLabel.of(MailDocument.self, n["kind"] as? String)
            n["reasons"] = reasonList(n["reasons"] as? String ?? "", separator: ";")
            n["sent_on_era"] = JapaneseEra.short(n["sent_on"] as? String)
            n["mayReturn"] = n["run_id"] != nil && n["mail_exception"] == nil
            n["via"] = (n["establishment_id"] as? String).map { throughEstablishment($0, name: n["establishment_name"] as? String) }
            return n
        }
    }

    static func returnRows(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.map { r in
            var r = r
            r["document_code"] = r["document"]
            r["document"] = StaffLabel.of(MailDocument.self, r["document"] as? String)
            r["returned_on"] = JapaneseEra.withWestern(r["returned_on"] as? String)
            // [2026-12] Mail delivered through the employer came back from the establishment.
            let establishment = r["establishment_id"] as? String
            r["what_to_do"] = ReturnState.label(r["state"] as? String, throughEstablishment: establishment != nil)
            r["sent_to"] = establishment.map { throughEstablishment($0, name: r["establishment_name"] as? String) } ?? "自宅"
            return r
        }
    }

    /// 「事業所経由：name（id）」: mail delivered through the member's establishment (事業主経由).
    static func throughEstablishment(_ id: String, name: String?) -> String {
        "事業所経由：" + (name.map { "\($0)（\(id)）" } ?? id)
    }

    /// What a recorded return stops (the confirmation's warning and the message after it): mail
    /// through the establishment waits for its address, mail home for the member's.
    static func returnStops(throughEstablishment: Bool) -> String {
        throughEstablishment
            ? "事業所の住所（または加入者の事業所）が変わるまで、この方への事業所経由の郵送は止まります。"
            : "住所が変わるまで、この方への郵送は止まります。"
    }

    static func mynaRows(_ rows: [[String: Any]]) -> [[String: Any]] {
        rows.map { m in
            var m = m
            m["status_as_of"] = JapaneseEra.short(m["status_as_of"] as? String)
            m["has_card"] = StaffLabel.yesNo(m["has_card"] as? String)
            m["registration"] = m["registration"].map { StaffLabel.of(MynaRegistration.self, $0 as? String) } ?? "不明"
            m["card_state"] = StaffLabel.of(CardState.self, m["card_state"] as? String)
            m["ecert_expiry"] = JapaneseEra.short(m["ecert_expiry"] as? String)
            return m
        }
    }

    /// The application form: no kind chosen until the clerk chooses one; dates as typed.
    static func applicationForm(_ form: FormFields?) -> [String: Any] {
        let selectedKind = form?["kind"] ?? ""
        return [
            "kinds": [["value": "", "label": "（選んでください）", "selected": selectedKind.isEmpty]]
                + ApplicationKind.allCases.map { ["value": $0.rawValue, "label": $0.japanese, "selected": $0.rawValue == selectedKind] },
            "bases": bases.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == (form?["basis"] ?? "")] },
            "form": [
                "received_on": form?["received_on"] ?? "", "note": form?["note"] ?? "", "approved": form?["status"] == "approved",
                "reissue_note": form?["note"] ?? "",
            ] as [String: Any],
        ]
    }

    /// What was just recorded, read back from the record (`done` names the action, `ref` the row).
    static func doneMessage(
        _ q: FormFields, applications: [[String: Any]], certificates: [[String: Any]], returns: [[String: Any]]
    ) -> String? {
        guard let done = q["done"] else { return nil }
        let ref = q["ref"] ?? ""
        func row(_ rows: [[String: Any]], _ key: String) -> [String: Any]? { rows.first { $0[key] as? String == ref } }
        switch done {
        case "application", "decided":
            guard let a = row(applications, "application_id") else { return "申請を記録しました。" }
            let basis = (a["basis_label"] as? String).map { "（\($0)）" } ?? ""
            let reason = (a["reject_reason"] as? String).map { "・却下の理由：\($0)" } ?? ""
            let verb = done == "decided" ? "審査結果を記録しました" : "申請を記録しました"
            return "\(verb)：申請番号 \(ref)・\(a["kind"] ?? "")\(basis)・受付日 \(a["received_on"] ?? "")・\(a["status"] ?? "")\(reason)。"
        case "returned", "notice_returned":
            guard let r = returns.first(where: { $0["return_id"] as? String == ref }) else { return "返戻を記録しました。" }
            let memo = (r["note"] as? String).map { "・メモ：\($0)" } ?? ""
            let what = [r["document"], r["certificate_number"]].compactMap { $0 as? String }.joined(separator: " ")
            let stops = returnStops(throughEstablishment: r["establishment_id"] as? String != nil)
            return "返戻を記録しました：\(what)・返戻日 \(r["returned_on"] ?? "")\(memo)。\(stops)"
        case "voided":
            guard let c = row(certificates, "certificate_number") else { return "資格確認書を無効にしました。" }
            return "資格確認書 \(ref) を無効にしました（\(c["voided_on"] ?? "")・理由：\(c["void_reason"] ?? "")）。"
        case "consideration":
            return "配慮の取扱いを終了しました。"
        default:
            return nil
        }
    }

    /// A validity period in era form, the last day's Western date beside it.
    static func validity(_ from: LocalDate, _ to: LocalDate) -> String {
        "\(JapaneseEra.short(from.description)) – \(JapaneseEra.withWestern(to.description))"
    }

    /// The decision's steps in Japanese for the templates: plain text, identifiers in `<code>`.
    static func traceData(_ trace: [TraceStep]) -> [[String: Any]] {
        trace.map { step in
            ["parts": step.japaneseParts.map { part in part.isCode ? ["ident": part.text] : ["plain": part.text] }]
        }
    }

    static func reasonList(_ joined: String, separator: Character) -> [[String: String]] {
        joined.split(separator: separator).map { code in
            ["code": String(code), "text": ReasonCode(rawValue: String(code))?.japanese ?? ""]
        }
    }

    /// The parameters in force for an insurer on a date (refused, in Japanese, without them).
    func parameters(_ db: Connection, _ insurer: InsurerNumber, _ asOf: LocalDate) throws -> LoadedParameters {
        do {
            return try ParameterVersions.inForce(db, insurer: insurer.text, on: asOf)
        } catch let e as OperatorError where e.status == .noParameters {
            throw OperatorError(
                .noParameters, "保険者 \(insurer) には基準日 \(asOf) に有効なパラメータ（保険者名称を含む）がありません。判定も交付もできません。",
                fix: "運用担当に、この保険者のパラメータの設定を依頼してください。")
        }
    }

    /// 「なぜこの判定か」: with `run`, the decision that run made, explained from the facts it read and
    /// its parameters (as replay decides); without, today's decision from today's data, labelled so.
    func explainPage(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ q: FormFields) throws -> Reply {
        try desk(db, person).requireMemberVisible(insurer, member)
        let e: Explanation
        if let run = q["run"] {
            guard let id = Int(run), id > 0 else {
                throw OperatorError(.usage, "run は実行番号で指定してください", fix: "判定の履歴のリンクから開いてください。")
            }
            e = try Explanation.ofRun(db: db, runID: id, member: member)
            guard e.insurer == insurer.text else { throw OperatorError(.notFound, "実行 \(id) はこの保険者の実行ではありません", fix: "判定の履歴のリンクから開いてください。") }
        } else {
            guard let asOf = q["as_of"].map({ JapaneseEra.parse($0) }) ?? Self.today() else {
                throw OperatorError(.usage, "基準日が日付として読めません。", fix: "判定の履歴のリンクから開いてください。")
            }
            e = try Explanation.load(db: db, insurer: insurer, member: member, asOf: asOf, parameters: parameters(db, insurer, asOf))
        }
        try desk(db, person).recordView(insurer: insurer, members: [member.text], page: "explanation")
        var data: [String: Any] = [
            "insurer": insurer.text, "member_id": member.text, "as_of": e.asOf.description,
            "as_of_era": JapaneseEra.withWestern(e.asOf.description), "outcome": e.decision.outcome.japanese,
            "outcome_code": e.decision.outcome.rawValue,
            "steps": Self.traceData(e.trace), "parameters": parameterSourceJapanese(e.parameters.source),
            "sha": "\(e.parameters.sha256.prefix(16))…",
            "insurer_name": e.parameters.parameters.insurerName ?? "",
        ]
        if let run = e.runID {
            var about: [String: Any] = ["run_id": run]
            if let stored = e.storedDiffers { about["stored"] = stored }
            data["run"] = about
            data["heading"] = "実行 \(run) の判定の説明"
        } else {
            data["heading"] = "今日の判定の説明（現在のデータによる）"
        }
        data["reasons"] = e.decision.reasons.sorted.map { ["code": $0.rawValue, "text": $0.japanese] }
        if let f = e.decision.validFrom, let t = e.decision.validTo { data["valid"] = Self.validity(f, t) }
        return .html(views.render("explain", data, title: "判定の説明", person: person))
    }

    // MARK: - Counter issue

    func issueConfirm(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ q: FormFields) throws -> Reply {
        try desk(db, person).requireMemberVisible(insurer, member)
        let asOf = Self.today()
        let (d, steps) = try desk(db, person).counterDecision(
            insurer: insurer, memberID: member, asOf: asOf, parameters: parameters(db, insurer, asOf))
        let name = try desk(db, person).displayName(insurer: insurer, memberID: member)
        try desk(db, person).recordView(insurer: insurer, members: [member.text], page: "counter issue")
        var data: [String: Any] = [
            "insurer": insurer.text, "member_id": member.text, "name": name, "as_of": asOf.description,
            "as_of_era": JapaneseEra.withWestern(asOf.description), "outcome": d.outcome.japanese, "outcome_code": d.outcome.rawValue,
            "issues": d.outcome.issuesCertificate, "steps": Self.traceData(steps), "csrf": person.csrf,
            "reasons": d.reasons.sorted.map { ["code": $0.rawValue, "text": $0.japanese] },
        ]
        if let f = d.validFrom, let t = d.validTo { data["valid"] = Self.validity(f, t) }
        if let r = d.replacesCertificate { data["replaces"] = String(r) }
        return .html(views.render("issue_confirm", data, title: "窓口交付の確認", person: person))
    }

    func issue(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ form: FormFields) throws -> Reply {
        let asOf = Self.today()
        switch try desk(db, person).issue(insurer: insurer, memberID: member, asOf: asOf, parameters: parameters(db, insurer, asOf)) {
        case .issued(let c):
            let data: [String: Any] = [
                "insurer": insurer.text, "member_id": member.text, "certificate_number": String(c.certificate_number),
                "name": [c.family_name, c.given_name].compactMap { $0 }.joined(separator: "\u{3000}"),
                "valid_to_era": c.valid_to_era, "replaces": c.replaces_certificate_number.map(String.init) ?? "",
            ]
            return .html(views.render("issued", data, title: "交付しました", person: person))
        case .nothing(let d, _):
            return try memberPage(
                db, person, insurer, member, FormFields(""),
                formError: (
                    "交付するものがありませんでした（\(d.outcome.japanese)：\(d.reasons.sorted.map(\.japanese).joined(separator: "、"))）。", "判定の説明を確認してください。"
                ))
        }
    }

    func printView(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ number: String, _ q: FormFields) throws -> Reply {
        guard let n = Int64(number) else { throw OperatorError(.notFound, "確認書番号 \(number) はありません") }
        let loaded = try parameters(db, insurer, Self.today())
        // [2026-12] The insurer's certificate_format unless the clerk chose a sheet.
        let paper = q["paper"].flatMap(CertificatePrint.Paper.init(name:)) ?? loaded.parameters.certificateFormat
        let c = try desk(db, person).reprint(insurer: insurer, certificate: n, parameters: loaded)
        // ?letter=member: the member letter in the member's language; ?letter=ja (or another code): in that one.
        if let language = q["letter"] {
            return .html(
                LetterHTML.document(
                    c.letter(loaded.parameters, language: language == "member" ? nil : language), reference: c.letterReference))
        }
        return .html(CertificatePrint.html(c, paper: paper, back: "/members/\(insurer)/\(c.member_id)"))
    }

    // MARK: - Forms

    /// Runs a counter action; a refusal (bad field, conflict) shows the member page again with
    /// the error beside the field (or above the form) and nothing changed.
    func memberForm(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ form: FormFields, open: String,
        fieldFor: (String) -> String? = { _ in nil }, _ body: () throws -> Reply
    ) throws -> Reply {
        if let bad = form.firstWithControlCharacter() {
            return try controlCharacterRefused(db, person, insurer, member, field: bad, open: open)
        }
        do {
            return try body()
        } catch let e as FieldError {
            return try memberPage(db, person, insurer, member, FormFields(""), errors: [e.field: e.message], form: form, open: open)
        } catch let e as OperatorError where e.status == .usage || e.status == .conflict {
            // In the clerk's words (ClerkErrors): the library's own Japanese, or the known refusal's.
            let said = ClerkErrors.said(e)
            if let field = fieldFor(e.message) {
                return try memberPage(db, person, insurer, member, FormFields(""), errors: [field: said.message], form: form, open: open)
            }
            return try memberPage(db, person, insurer, member, FormFields(""), formError: (said.message, said.fix), form: form, open: open)
        }
    }

    /// A form with a NUL or another control character: the member page again, the error beside
    /// the field when the form has a place for it (else above the form), nothing recorded.
    func controlCharacterRefused(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, field: String,
        open: String
    ) throws -> Reply {
        let message = "入力に使えない文字（制御文字）が含まれています。文字だけで入力し直してください。"
        let slots = [
            "received_on": "received_on", "kind": "kind", "basis": "basis",
            "note": open == "reissue" ? "reissue_note" : "", "reason": open == "consideration" ? "end_reason" : "",
        ]
        if let slot = slots[field], !slot.isEmpty {
            return try memberPage(db, person, insurer, member, FormFields(""), errors: [slot: message], open: open)
        }
        return try memberPage(db, person, insurer, member, FormFields(""), formError: (message, "入力を確かめてください。"), open: open)
    }

    /// A date as the clerk typed it (2026-12-06, 20261206, 令和8年12月6日): JapaneseEra.parse.
    func date(_ form: FormFields, _ name: String, field: String? = nil, default value: LocalDate? = nil) throws -> LocalDate {
        guard let text = form[name] else {
            if let value { return value }
            throw FieldError(field: field ?? name, message: "日付を入力してください（例：令和8年12月6日、2026-12-06、20261206）。")
        }
        guard let d = JapaneseEra.parse(text) else {
            throw FieldError(field: field ?? name, message: "「\(text)」は日付として読めません。令和8年12月6日、2026-12-06、20261206 のいずれかの形で入力してください。")
        }
        return d
    }

    /// A recording action's first POST (without `confirm=1`): a page showing what will be
    /// recorded, the form's fields carried back unchanged; nil once the clerk has confirmed.
    func confirmation(
        _ form: FormFields, _ person: Person, action: String, back: String, title: String,
        rows: [(String, String)], button: String, warning: String? = nil
    ) -> Reply? {
        guard form["confirm"] != "1" else { return nil }
        let data: [String: Any] = [
            "title": title, "action": action, "back": back, "button": button, "csrf": person.csrf, "warning": warning ?? "",
            "rows": rows.filter { !$0.1.isEmpty }.map { ["label": $0.0, "value": $0.1] },
            "hidden": form.fields.filter { $0.name != "csrf" && $0.name != "confirm" }.map { ["name": $0.name, "value": $0.value] },
        ]
        return .html(views.render("confirm", data, title: title, person: person))
    }

    func addApplication(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ form: FormFields
    ) throws -> Reply {
        // CounterDesk names the field first ("received_on: …"); its basis rule names the basis.
        let fieldFor: (String) -> String? = { m in
            ["kind", "basis", "received_on"].first { m.hasPrefix($0 + ":") } ?? (m.contains("basis") ? "basis" : nil)
        }
        return try memberForm(db, person, insurer, member, form, open: "application", fieldFor: fieldFor) {
            let (kind, basis, received) = try applicationFields(form)
            let status = form["status"] == "approved" ? ApplicationStatus.approved : .pending
            let back = "/members/\(insurer)/\(member)"
            if let confirm = confirmation(
                form, person, action: back + "/applications", back: back, title: "申請の記録の確認",
                rows: [
                    ("加入者", member.text), ("申請の種類", kind.japanese), ("配慮が必要な理由", basis?.japanese ?? ""),
                    ("受付日", JapaneseEra.withWestern(received.description)), ("審査", status.japanese),
                    ("メモ", form["note"] ?? ""),
                ],
                button: "この内容で申請を記録する")
            {
                return confirm
            }
            let r = try desk(db, person).addApplication(
                insurer: insurer, memberID: member, kind: kind.rawValue, basis: basis?.rawValue,
                receivedOn: received, status: status.rawValue, note: form["note"])
            return .redirect("\(back)?done=application&ref=\(r.application_id)")
        }
    }

    /// The application form's fields, checked before anything is shown or recorded: a kind
    /// chosen, a basis for a special-consideration application, a date as typed.
    func applicationFields(_ form: FormFields) throws -> (ApplicationKind, ConsiderationBasis?, LocalDate) {
        guard let kind = form["kind"].flatMap(ApplicationKind.init(rawValue:)) else {
            throw FieldError(field: "kind", message: "申請の種類を選んでください。")
        }
        let basis = form["basis"].flatMap(ConsiderationBasis.init(rawValue:))
        if let text = form["basis"], basis == nil {
            throw FieldError(field: "basis", message: "配慮が必要な理由を一覧から選んでください。「\(text)」は一覧にありません。")
        }
        if kind.needsBasis && basis == nil {
            throw FieldError(field: "basis", message: "配慮が必要な方の交付申請には、配慮が必要な理由が必要です。一覧から選んでください。")
        }
        if !kind.needsBasis && basis != nil {
            throw FieldError(field: "basis", message: "配慮が必要な理由は、配慮が必要な方の交付申請のときだけ選びます。「（なし）」にしてください。")
        }
        let received = try date(form, "received_on")
        try CounterDates.requireReceived(received)
        return (kind, basis, received)
    }

    func decideApplication(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ application: String, _ form: FormFields
    ) throws -> Reply {
        guard let id = Int64(application) else { throw OperatorError(.notFound, "申請 \(application) はありません") }
        let approve = form["decision"] == "approve"
        if !approve && form["reason"] == nil {
            throw OperatorError(.usage, "却下するには理由が必要です。何も記録していません。", fix: "申請の一覧の「却下の理由」を入力してから、もう一度「却下」を押してください。")
        }
        let member = try desk(db, person).applicationMember(insurer: insurer, applicationID: id)
        let back = "/members/\(insurer)/\(member)"
        if let confirm = confirmation(
            form, person, action: "/applications/\(insurer)/\(id)/decide", back: back, title: "審査結果の記録の確認",
            rows: [
                ("加入者", member), ("申請番号", String(id)), ("審査結果", approve ? "承認" : "却下"),
                ("却下の理由", approve ? "" : form["reason"] ?? ""),
            ],
            button: approve ? "承認を記録する" : "却下を記録する")
        {
            return confirm
        }
        let r = try desk(db, person).decideApplication(insurer: insurer, applicationID: id, approve: approve, reason: form["reason"])
        return .redirect("/members/\(insurer)/\(r.member_id)?done=decided&ref=\(id)")
    }

    /// 再交付: after the confirmation, records an approved reissue application received today,
    /// then the counter issue's own confirmation.
    func reissue(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ form: FormFields) throws -> Reply {
        try memberForm(db, person, insurer, member, form, open: "reissue") {
            guard let note = form["note"] else { throw FieldError(field: "reissue_note", message: "再交付の理由（紛失・破損など）を入力してください。") }
            let back = "/members/\(insurer)/\(member)"
            if let confirm = confirmation(
                form, person, action: back + "/reissue", back: back, title: "再交付の申請の確認",
                rows: [
                    ("加入者", member.text), ("申請の種類", ApplicationKind.reissue.japanese), ("理由", note),
                    ("受付日", JapaneseEra.withWestern(Self.today().description)), ("審査", ApplicationStatus.approved.japanese),
                ],
                button: "再交付の申請を記録して交付の確認へ進む",
                warning: "交付すると、いま有効な資格確認書は無効になります（交付の前にもう一度確認します）。")
            {
                return confirm
            }
            _ = try desk(db, person).addApplication(
                insurer: insurer, memberID: member, kind: ApplicationKind.reissue.rawValue, basis: nil,
                receivedOn: Self.today(), status: ApplicationStatus.approved.rawValue, note: note)
            return .redirect("/members/\(insurer)/\(member)/issue")
        }
    }

    func endConsideration(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ form: FormFields
    ) throws -> Reply {
        try memberForm(db, person, insurer, member, form, open: "consideration") {
            guard let reason = form["reason"] else { throw FieldError(field: "end_reason", message: "終了の理由を入力してください。") }
            let back = "/members/\(insurer)/\(member)"
            if let confirm = confirmation(
                form, person, action: back + "/consideration-end", back: back, title: "配慮の取扱いの終了の確認",
                rows: [("加入者", member.text), ("終了日", JapaneseEra.withWestern(Self.today().description)), ("理由", reason)],
                button: "配慮の取扱いを終了する")
            {
                return confirm
            }
            _ = try desk(db, person).endConsideration(insurer: insurer, memberID: member, on: Self.today(), reason: reason)
            return .redirect("\(back)?done=consideration")
        }
    }

    func returnNotice(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ member: MemberID, _ form: FormFields) throws -> Reply
    {
        try memberForm(db, person, insurer, member, form, open: "notice") {
            guard let kind = form["kind"].flatMap(MailDocument.init(rawValue:)), kind != .certificate,
                let run = form["run"].flatMap({ Int64($0) })
            else {
                throw FieldError(field: "notice", message: "通知の一覧から操作してください。")
            }
            let on = try date(form, "on", field: "notice-\(kind.rawValue)-\(run)")
            let back = "/members/\(insurer)/\(member)"
            let via = try desk(db, person).establishmentDeliveredThrough(insurer: insurer, member: member, notice: kind.rawValue, run: run)
            if let confirm = confirmation(
                form, person, action: back + "/notice-return", back: back, title: "通知の返戻の記録の確認",
                rows: [
                    ("加入者", member.text), ("書類", kind.japanese), ("返戻日", JapaneseEra.withWestern(on.description)),
                    ("メモ", form["note"] ?? ""),
                ],
                button: "返戻を記録する", warning: "記録すると、" + Self.returnStops(throughEstablishment: via != nil))
            {
                return confirm
            }
            _ = try desk(db, person).returnNotice(
                insurer: insurer, memberID: member, kind: kind.rawValue, run: run, on: on, note: form["note"])
            let id = try desk(db, person).returnID(insurer: insurer, member: member, document: kind.rawValue, key: run)
            return .redirect("\(back)?done=notice_returned&ref=\(id)")
        }
    }

    func certificateMember(_ db: Connection, _ insurer: InsurerNumber, _ number: Int64) throws -> MemberID {
        guard let m = try CounterDesk(db: db, person: "").certificateMember(insurer: insurer, certificate: number).flatMap(MemberID.init)
        else {
            throw OperatorError(.notFound, "確認書 \(number) はありません", fix: "加入者の画面から操作してください。")
        }
        return m
    }

    func returnCertificate(
        _ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ number: String, _ form: FormFields
    ) throws -> Reply {
        guard let n = Int64(number) else { throw OperatorError(.notFound, "確認書 \(number) はありません") }
        let member = try certificateMember(db, insurer, n)
        return try memberForm(db, person, insurer, member, form, open: "certificates") {
            let on = try date(form, "on", field: "return-\(n)", default: Self.today())
            let back = "/members/\(insurer)/\(member)"
            let via = try desk(db, person).establishmentDeliveredThrough(insurer: insurer, certificate: n)
            if let confirm = confirmation(
                form, person, action: "/certificates/\(insurer)/\(n)/return", back: back, title: "資格確認書の返戻の記録の確認",
                rows: [
                    ("加入者", member.text), ("資格確認書", "番号 \(n)"), ("返戻日", JapaneseEra.withWestern(on.description)),
                    ("メモ", form["note"] ?? ""),
                ],
                button: "返戻を記録する", warning: "記録すると、" + Self.returnStops(throughEstablishment: via != nil))
            {
                return confirm
            }
            _ = try desk(db, person).returnCertificate(insurer: insurer, certificate: n, on: on, note: form["note"])
            let id = try desk(db, person).returnID(insurer: insurer, member: member, document: MailDocument.certificate.rawValue, key: n)
            return .redirect("\(back)?done=returned&ref=\(id)")
        }
    }

    func voidCertificate(_ db: Connection, _ person: Person, _ insurer: InsurerNumber, _ number: String, _ form: FormFields) throws -> Reply
    {
        guard let n = Int64(number) else { throw OperatorError(.notFound, "確認書 \(number) はありません") }
        let member = try certificateMember(db, insurer, n)
        return try memberForm(db, person, insurer, member, form, open: "certificates") {
            guard let reason = form["reason"] else { throw FieldError(field: "void-\(n)", message: "無効にする理由を入力してください。") }
            let back = "/members/\(insurer)/\(member)"
            if let confirm = confirmation(
                form, person, action: "/certificates/\(insurer)/\(n)/void", back: back, title: "資格確認書を無効にする確認",
                rows: [
                    ("加入者", member.text), ("資格確認書", "番号 \(n)"), ("無効にする日", JapaneseEra.withWestern(Self.today().description)),
                    ("理由", reason),
                ],
                button: "無効にする", warning: "無効にした資格確認書は元に戻せません。")
            {
                return confirm
            }
            _ = try desk(db, person).void(insurer: insurer, certificate: n, reason: reason, on: Self.today())
            return .redirect("\(back)?done=voided&ref=\(n)")
        }
    }
}
