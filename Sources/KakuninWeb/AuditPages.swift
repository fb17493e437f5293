import Foundation
import Hummingbird
import KakuninAudit
import KakuninBatch
import KakuninCore
import KakuninCounter
import KakuninRuntime
import KakuninStore

/// Auditors' and operators' pages: the runs, a run's report with drill-down to the members
/// behind each count, the audit log's state, and the members waiting (held, exceptions).
extension Console {
    func runsPage(_ db: Connection, _ person: Person, _ q: FormFields) throws -> Reply {
        let insurers = try visibleInsurers(db, person)
        let from = q["from"].flatMap(JapaneseEra.parse)
        let to = q["to"].flatMap(JapaneseEra.parse)
        let page = q.page
        let runs = try RunListing.recent(
            db, insurer: q["insurer"], from: from?.description, to: to?.description,
            limit: Self.pageSize + 1, offset: (page - 1) * Self.pageSize)
        var data: [String: Any] = [
            "from": q["from"] ?? "", "to": q["to"] ?? "",
            "insurerChoices": Self.choices(insurers, selected: q["insurer"], all: "すべて"),
        ]
        if (q["from"] != nil && from == nil) || (q["to"] != nil && to == nil) {
            data["dateError"] = "基準日は 令和8年12月6日、2026-12-06、20261206 のいずれかの形で入力してください（読めない日付は絞り込みに使っていません）。"
        }
        data["runs"] = runs.prefix(Self.pageSize).map(Self.runRow)
        if let p = Self.pager(
            "/runs", [("insurer", q["insurer"]), ("from", q["from"]), ("to", q["to"])], page: page,
            hasMore: runs.count > Self.pageSize)
        {
            data["pager"] = p
        }
        return .html(views.render("runs", data, title: "実行一覧", person: person))
    }

    static func runRow(_ r: RunListing) -> [String: Any] {
        var d: [String: Any] = [
            "run_id": r.runID, "insurer": r.insurer, "as_of": JapaneseEra.short(r.asOf), "job": r.job, "job_ja": StaffWords.job(r.job),
            "status": StaffLabel.of(RunStatus.self, r.status), "phase": r.phase.flatMap(RunRegistry.Phase.init(rawValue:))?.japanese ?? "",
            "attempts": r.attempts, "started": JapaneseEra.time(r.started, label: false), "abandoned": r.abandoned,
            "decisions": r.decisions ?? "", "held": r.held ?? "", "waiting": r.waiting ?? "",
        ]
        if let s = r.seconds { d["seconds"] = String(format: "%.1f 秒", s) }
        return d
    }

    func runID(_ text: String) throws -> Int {
        guard let id = Int(text) else { throw OperatorError(.notFound, "実行 \(text) はありません", fix: "実行一覧から選んでください。") }
        return id
    }

    func filesDirectory(_ db: Connection, _ runID: Int) throws -> (insurer: String, directory: URL) {
        guard let run = try RunRecord.identity(db, runID: runID) else {
            throw OperatorError(.notFound, "実行 \(runID) はありません", fix: "実行一覧から選んでください。")
        }
        return (run.insurer, run.filesDirectory(under: options.mailRoot))
    }

    /// The auditors' report of a run (the same HTML as `kakunin report --format html`), each
    /// count a link to the members behind it for auditors.
    func runReport(_ db: Connection, _ person: Person, _ idText: String) throws -> Reply {
        let id = try runID(idText)
        let (_, dir) = try filesDirectory(db, id)
        let report = try AuditorReport.load(db, runID: id, filesDirectory: dir)
        let drills = person.readsDrillDowns
        let trends = try RunTrends.load(db, insurer: report.insurer, limit: 90, upTo: id).html(heading: "最近の夜間処理（90 回まで）")
        var html = report.renderHTML(link: drills ? { Self.drillLink(id, $0) } : nil, trends: trends)
        let bar = """
            <p class="screen-only" style="font-size:11pt"><a href="/runs">← 実行一覧</a>\(drills ? "　件数を選ぶと、その内訳の方々を表示します。" : "")</p>
            """
        if let r = html.range(of: "<body>") { html.insert(contentsOf: bar, at: r.upperBound) }
        return .html(html)
    }

    static func drillLink(_ run: Int, _ d: AuditorReport.Drill) -> String {
        let pairs: [(String, String?)]
        switch d {
        case .outcome(let o): pairs = [("kind", "outcome"), ("outcome", o)]
        case .outcomeReasonScheme(let o, let r, let s): pairs = [("kind", "detail"), ("outcome", o), ("reason", r), ("scheme", s)]
        case .held(let r): pairs = [("kind", "held"), ("reason", r)]
        case .change(let f, let t): pairs = [("kind", "change"), ("from", f), ("to", t)]
        }
        return "/runs/\(run)/members?" + FormFields.encode(pairs)
    }

    func drillDown(_ db: Connection, _ person: Person, _ idText: String, _ q: FormFields) throws -> Reply {
        let id = try runID(idText)
        let (insurer, _) = try filesDirectory(db, id)
        let asOf = try RunRecord.identity(db, runID: id)?.asOf ?? ""
        let drill: AuditorReport.Drill
        let heading: String
        func outcomeName(_ o: String) -> String { o == "(new)" ? "新規" : o == "(gone)" ? "対象外" : StaffLabel.of(Outcome.self, o) }
        switch (q["kind"], q["outcome"], q["reason"], q["scheme"], q["from"], q["to"]) {
        case ("outcome", let o?, _, _, _, _):
            drill = .outcome(o)
            heading = "結果「\(outcomeName(o))」の方"
        case ("detail", let o?, let r?, let s?, _, _):
            drill = .outcomeReasonScheme(outcome: o, reason: r, scheme: s)
            heading = "結果「\(outcomeName(o))」・理由「\(ReasonCode(rawValue: r)?.japanese ?? r)」・制度「\(StaffLabel.of(Scheme.self, s))」の方"
        case ("held", _, let r?, _, _, _):
            drill = .held(reason: r)
            heading = "保留（\(ReasonCode(rawValue: r)?.japanese ?? r)）の方"
        case ("change", _, _, _, let f?, let t?):
            drill = .change(from: f, to: t)
            heading = "前回「\(outcomeName(f))」→ 今回「\(outcomeName(t))」の方"
        default:
            throw OperatorError(.usage, "内訳の指定が正しくありません", fix: "報告書の件数のリンクから開いてください。")
        }
        let page = q.page
        let pageSize = 50
        let rows = try AuditorReport.members(db, runID: id, drill, offset: (page - 1) * pageSize, limit: pageSize + 1)
        let shown = Array(rows.prefix(pageSize))
        try desk(db, person).recordView(insurer: Self.insurerParameter(insurer), members: shown.map(\.member), page: "run \(id) drill-down")
        var isChange = false
        if case .change = drill { isChange = true }
        var data: [String: Any] = ["run_id": id, "heading": heading + "（実行 \(id)）", "change": isChange]
        data["members"] = shown.map { m -> [String: Any] in
            [
                "insurer": insurer, "member": m.member, "outcome": outcomeName(m.outcome),
                "reasons": Self.reasonList(m.reasons, separator: ";"),
                "scheme": StaffLabel.of(Scheme.self, m.scheme), "previous": m.previousOutcome.map(outcomeName) ?? "", "as_of": asOf,
            ]
        }
        if let p = Self.pager(
            "/runs/\(id)/members",
            [
                ("kind", q["kind"]), ("outcome", q["outcome"]), ("reason", q["reason"]),
                ("scheme", q["scheme"]), ("from", q["from"]), ("to", q["to"]),
            ],
            page: page, hasMore: rows.count > pageSize)
        {
            data["pager"] = p
        }
        return .html(views.render("drill", data, title: "内訳（実行 \(id)）", person: person))
    }

    // MARK: - Audit log

    /// `/audit`; with `verify=1` (the middleware has checked the person's session and role) it
    /// starts the verification job unless one is running, and waits a few seconds for it before
    /// showing the page.
    func auditRoute(_ context: ConsoleContext) async -> Response {
        if context.form["verify"] == "1", let person = context.person {
            startVerification(person)
            await verification.wait(upTo: 3)
        }
        return await serve(context) { try self.auditPage($0, $1, $2) }
    }

    /// Starts the verification of the log against the latest checkpoint, on a connection of its
    /// own under the person's role (none when no key is configured, or one is running).
    func startVerification(_ person: Person) {
        guard publicKey != nil else { return }
        let url = options.databaseURL
        let role = person.databaseRole
        verification.start {
            do {
                guard let key = self.publicKey else { throw OperatorError(.badConfiguration, "no public key") }
                let db = try Connection(url: url, applicationName: "kakunin-console-verify")
                try db.execute("SET ROLE \"\(role)\"")
                guard let (_, _, cp) = try AuditLogStatus.latestCheckpoint(db) else {
                    return .init(ok: false, summary: "確認点がまだないため検証できません。夜間処理が終わると作られます。", problems: [])
                }
                let v = try AuditLog.verify(db, newer: cp, older: nil, publicKey: key, leaves: nil)
                if !v.ok {
                    FileHandle.standardError.write(Data("kakunin serve: verification failed: \(v.problems.joined(separator: "; "))\n".utf8))
                }
                return .init(
                    ok: v.ok,
                    summary: v.ok
                        ? "検証成功：ログの最初の \(cp.size) 件は署名された確認点と一致します（改ざんなし）。"
                        : "検証失敗：ログは署名された確認点と一致しません（相違 \(v.problems.count) 件）。", problems: v.problems)
            } catch {
                return .init(ok: false, summary: "検証を完了できませんでした（受付番号 \(self.incident(error))）。", problems: [])
            }
        }
    }

    func auditPage(_ db: Connection, _ person: Person, _ q: FormFields) throws -> Reply {
        var data: [String: Any] = [:]
        data["logSize"] = try AuditLogStatus.size(db)
        data["canVerify"] = publicKey != nil
        if let (id, created, cp) = try AuditLogStatus.latestCheckpoint(db) {
            var c: [String: Any] = [
                "id": id, "size": cp.size, "created": JapaneseEra.time(created),
                "root": cp.root.map { String(format: "%02x", $0) }.joined(),
                "text": cp.text, "signed_time_jst": Self.signedTimeJST(cp.time) ?? "",
            ]
            if let job = verification.current {
                let started = Self.jstTime(job.started)
                if let o = job.outcome {
                    c["verified"] = [
                        "ok": o.ok, "summary": o.summary, "number": job.number, "started": started,
                        "detail": o.ok ? "" : "監査担当と運用担当に直ちに知らせてください。相違の詳細はサーバーの記録にあります。",
                    ]
                } else {
                    c["verifying"] = ["number": job.number, "started": started]
                }
            }
            data["checkpoint"] = c
        }
        return .html(views.render("audit", data, title: "監査ログ", person: person))
    }

    /// The signed text's `time:` (UTC, ISO 8601 with Z) as staff read times: in era form, Japan time.
    static func signedTimeJST(_ iso: String) -> String? {
        guard let date = ISO8601DateFormatter().date(from: iso) else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Asia/Tokyo")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return JapaneseEra.time(f.string(from: date))
    }

    static func jstTime(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Asia/Tokyo")
        f.dateFormat = "HH:mm:ss'（日本時間）'"
        return f.string(from: date)
    }

    func proofDownload(_ db: Connection, _ person: Person, _ q: FormFields) throws -> Reply {
        guard let insurer = q["insurer"], let number = q["certificate"].flatMap({ Int64($0) }) else {
            throw OperatorError(.usage, "保険者番号と確認書番号（数字）を入力してください", fix: "監査ログの画面から入力してください。")
        }
        guard let (_, _, cp) = try AuditLogStatus.latestCheckpoint(db) else {
            throw OperatorError(.notFound, "確認点がまだありません", fix: "夜間処理が終わると作られます。運用担当に確かめてください。")
        }
        let proof = try AuditLog.prove(db, insurer: insurer, certificate: number, checkpoint: cp)
        return .download(name: "proof-\(insurer)-\(number).txt", type: "text/plain; charset=utf-8", body: proof)
    }

    // MARK: - Operations

    /// What a held member is waiting for, in the words of the counter: the codes that hold a
    /// member (a held decision also carries the reasons of the outcome it would have had).
    static let waitingFor: [String: String] = [
        "MISSING_ADDRESS": "住所・郵便番号の訂正（次の加入者ファイルの取込みで解消）",
        "NO_HOUSEHOLD_HEAD": "世帯主の訂正（世帯に世帯主が一人だけになること）",
        "BIRTH_AFTER_AS_OF": "生年月日の確認と訂正",
        "APPLICATION_PENDING": "申請の審査（承認または却下）と交付",
        "RESIDENCE_EXPIRED": "在留期間の更新の確認",
        "MAIL_RETURNED": "住所の変更、または窓口での交付",
        "ESTABLISHMENT_ADDRESS_MISSING": "事業所の住所の届出（事業所ファイルの取込みで解消）",
    ]

    func operationsPage(_ db: Connection, _ person: Person, _ q: FormFields) throws -> Reply {
        let rows = try RunListing.latestPerInsurer(db)
        var data: [String: Any] = ["latest": rows.map(Self.runRow), "health": try healthLines(db, rows)]
        // Held members of each latest run, by code; one code of one insurer paginated when asked.
        let page = q.page
        let focus = (q["insurer"], q["code"])
        let perGroup = focus.0 != nil ? 100 : 12
        // Operators may not open a member's page: their held members are ids, not links.
        let linkMembers = person.readsMembers
        var groups: [[String: Any]] = []
        var hasMore = false
        for r in rows {
            if let i = focus.0, i != r.insurer { continue }
            for (code, count) in try RunWaiting.heldByCode(db, run: r, codes: Array(Self.waitingFor.keys), only: focus.1) {
                let offset = focus.0 != nil ? (page - 1) * perGroup : 0
                let members = try RunWaiting.heldMembers(db, run: r, code: code, limit: perGroup, offset: offset)
                if focus.0 != nil { hasMore = hasMore || offset + members.count < count }
                groups.append([
                    "insurer": r.insurer, "code": code, "count": count,
                    "members": members.map { ["id": $0, "linkMembers": linkMembers] },
                    "text": ReasonCode(rawValue: code)?.japanese ?? "",
                    "waiting": Self.waitingFor[code] ?? ReasonCode(rawValue: code)?.japanese ?? "",
                    "more": focus.0 == nil && count > members.count, "nextPage": 1,
                ])
            }
        }
        data["groups"] = groups
        if focus.0 == nil {
            data["trends"] = try rows.map {
                try RunTrends.load(db, insurer: $0.insurer, limit: 90).html(heading: "\($0.insurer) の最近の夜間処理（90 回まで）")
            }
            .joined()
        }
        // Documents issued but kept out of the vendor files (exceptions.csv): staff hand them over.
        var waiting: [[String: Any]] = []
        for r in rows where focus.0 == nil {
            waiting += try RunWaiting.documents(db, run: r).map {
                [
                    "insurer": r.insurer, "member": $0.member, "problem": RecordProblem.japanese(stored: $0.problem),
                    "document": StaffLabel.of(MailDocument.self, $0.document) + ($0.number.map { " 番号 \($0)" } ?? ""),
                ]
            }
        }
        data["waitingDocs"] = waiting
        if focus.0 != nil, let p = Self.pager("/operations", [("insurer", focus.0), ("code", focus.1)], page: page, hasMore: hasMore) {
            data["pager"] = p
        }
        return .html(views.render("operations", data, title: "運用状況", person: person))
    }

    /// One status line per insurer (RunHealth): its latest run judged against today in Japan.
    func healthLines(_ db: Connection, _ latest: [RunListing]) throws -> [[String: Any]] {
        let today = Self.today()
        return try Insurers.all(db).map { insurer in
            let run = latest.first { $0.insurer == insurer }
            let state = try run.map { r -> RunHealth.Latest in
                let asOf = LocalDate(stored: r.asOf) ?? today
                let current = try ParameterVersions.version(db, insurer: insurer, on: today)?.sha256
                return RunHealth.Latest(
                    runID: r.runID, asOf: asOf, status: RunStatus(rawValue: r.status) ?? .failed, checksPass: r.checksPass,
                    currentParameters: current == nil || r.parametersSHA256 == nil || current == r.parametersSHA256)
            }
            let h = RunHealth.assess(state, today: today)
            return [
                "insurer": insurer, "level": h.level.rawValue, "word": h.level.japanese,
                "summary": h.findings.joined(separator: " "), "todo": h.todo.joined(separator: " "),
            ]
        }
    }

    func usersPage(_ db: Connection, _ person: Person, _ q: FormFields) throws -> Reply {
        let all = try ConsoleUsers(db: db).list()
        let page = q.page
        let shown = all.dropFirst((page - 1) * 50).prefix(50)
        var data: [String: Any] = ["csrf": person.csrf]
        data["users"] = shown.map { u -> [String: Any] in
            var d: [String: Any] = [
                "name": u.name, "role": ConsoleUsers.Role(rawValue: u.role)?.japanese ?? u.role,
                "insurers": u.insurers.joined(separator: "・"), "created": JapaneseEra.time(u.created, label: false),
                "lastLogin": JapaneseEra.time(u.lastLogin, label: false),
                "locked": u.locked,
            ]
            if let dis = u.disabled { d["disabled"] = JapaneseEra.time(dis) }
            return d
        }
        if let p = Self.pager("/users", [], page: page, hasMore: all.count > page * 50) { data["pager"] = p }
        let flash = q["done"].flatMap { PeopleChange(rawValue: $0)?.done }
        return .html(views.render("users", data, title: "利用者", person: person, flash: flash))
    }

    /// An admin's 停止・再開・ロック解除 of a person (sql/023's functions: audited; never the last admin).
    func changePerson(_ db: Connection, _ person: Person, _ name: String, _ change: PeopleChange) throws -> Reply {
        let accounts = ConsoleAccounts(db: db)
        let by = "console:" + person.name
        let result: ConsoleAccounts.Change
        switch change {
        case .disable: result = try accounts.disable(name: name, person: by)
        case .enable: result = try accounts.enable(name: name, person: by)
        case .unlock: result = try accounts.unlock(name: name, person: by)
        }
        switch result {
        case .done: return .redirect("/users?done=\(change.rawValue)")
        case .notFound: throw OperatorError(.notFound, "利用者 \(name) はいません。", fix: "利用者の一覧から選んでください。")
        case .unchanged: throw OperatorError(.conflict, change.unchanged, fix: "利用者の一覧を再読み込みしてください。")
        case .lastAdmin:
            throw OperatorError(
                .conflict, "\(name) は有効な最後の管理者のため、停止できません。",
                fix: "先に別の管理者を追加するか再開してから停止してください（追加は運用担当がサーバーで行います）。")
        }
    }
}

/// What an admin can do to a person on the 利用者 page (the route's last segment).
enum PeopleChange: String, CaseIterable, Sendable {
    case disable, enable, unlock

    var done: String {
        switch self {
        case .disable: return "利用者を停止しました。"
        case .enable: return "利用者を再開しました。"
        case .unlock: return "ロックを解除しました。"
        }
    }

    var unchanged: String {
        switch self {
        case .disable: return "この利用者はすでに停止されています。"
        case .enable: return "この利用者は停止されていません。"
        case .unlock: return "この利用者はロックされていません。"
        }
    }
}
