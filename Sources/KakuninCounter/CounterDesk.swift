import Foundation
import KakuninAudit
import KakuninBatch
import KakuninCore
import KakuninRuntime
import KakuninStore

/// What counter staff do one member at a time (SPEC.md 7, issue 12): the library the CLI calls
/// now and the web console later. Every action is one transaction and writes an audit event
/// naming the person (`person`: whoever the caller vouches for, e.g. the OS user or the logged-in
/// console user; the database adds its own login role as the event's actor).
public final class CounterDesk {
    let db: Connection
    public let person: String

    public init(db: Connection, person: String) {
        self.db = db
        self.person = person
    }

    // MARK: - Find

    public struct MemberHit: Codable, Sendable, Equatable {
        public let member_id: String
        public let name: String
        public let kana: String
        public let birth_date: String
        public let scheme: String
        public let household_id: String?
    }

    public enum Query: Sendable {
        case member(MemberID)
        case kana(String, birthDate: LocalDate?)
        case postalCode(String)
    }

    public static let maxHits = 50

    /// At most 50 members of the insurer matching the query (member id; kana prefix, half-width
    /// input normalised, with an optional birth date; postal code with or without the hyphen), in
    /// reading order.
    public func find(insurer: InsurerNumber, _ query: Query, limit: Int = maxHits) throws -> [MemberHit] {
        try findPage(insurer: insurer, query, after: nil, limit: limit).map(\.hit)
    }

    /// Where a page of search results ends: the reading (kana without spaces) and member id of
    /// its last member. The next page starts after it, so a page never reads what came before.
    public struct SearchKey: Sendable, Equatable {
        public let kana: String
        public let member: String
        public init(kana: String, member: String) {
            self.kana = kana
            self.member = member
        }
    }

    /// Up to `limit` members after `after` in (reading, member id) order, byte-wise, each with its
    /// key; `birth` narrows a member-id or postal-code search (the kana query carries its own).
    public func findPage(
        insurer: InsurerNumber, _ query: Query, after: SearchKey?, birth: LocalDate? = nil,
        limit: Int
    ) throws -> [(hit: MemberHit, key: SearchKey)] {
        let insurer = insurer.text
        try requireInsurer(insurer)
        let after = after ?? SearchKey(kana: "", member: "")
        let limit = String(max(0, min(limit, 1000)))
        let kanaKey = "((coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE \"C\")"
        let columns = """
            member_id, family_name || coalesce(' ' || given_name, ''),
            coalesce(family_name_kana, '') || coalesce(' ' || given_name_kana, ''), birth_date::text, scheme, household_id, \(kanaKey)
            """
        let rows: [ResultRow]
        func plain(_ condition: String, _ value: String) throws -> [ResultRow] {
            try db.query(
                """
                SELECT \(columns) FROM member WHERE insurer_number = $1 AND \(condition)
                  AND ($5::date IS NULL OR birth_date = $5::date) AND (\(kanaKey), member_id COLLATE "C") > ($3, $4)
                ORDER BY \(kanaKey), member_id COLLATE "C" LIMIT \(limit)
                """, [insurer, value, after.kana, after.member, birth?.description]
            ).typedRows
        }
        switch query {
        case .member(let id):
            rows = try plain("member_id = $2", id.text)
        case .kana(let text, let birth):
            let kana = Kana.normalise(text)
            guard !kana.isEmpty else { throw OperatorError(.usage, "give the kana reading to search for", fix: "e.g. --kana ヤマダ") }
            // A prefix as a range [prefix, prefix with its last character + 1), searched by
            // member_kana_search_after (sql/015, sql/023: under row-level security the index would not serve it).
            let prefix = kana.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "\u{3000}", with: "")
            rows = try db.query(
                """
                SELECT \(columns) FROM member_kana_search_after($1, $2, $4, $3::date, $5, $6, \(limit))
                """, [insurer, prefix, birth?.description, Kana.upperBound(prefix), after.kana, after.member]
            ).typedRows
        case .postalCode(let code):
            let digits = code.filter(\.isNumber)
            guard digits.count == 7 else {
                throw OperatorError(.usage, "a postal code has 7 digits (e.g. 100-0001)", fix: "check the code")
            }
            rows = try plain("translate(postal_code, '-‐－', '') = $2", digits)
        }
        return try rows.map {
            let member = try $0.text(0)
            return (
                MemberHit(
                    member_id: member, name: $0.optionalText(1) ?? "", kana: $0.optionalText(2) ?? "", birth_date: $0.optionalText(3) ?? "",
                    scheme: try $0.text(4), household_id: $0.optionalText(5)),
                SearchKey(kana: $0.optionalText(6) ?? "", member: member)
            )
        }
    }

    // MARK: - Show

    /// Everything staff need on one screen. Viewing personal data is recorded (閲覧記録).
    public func show(insurer: InsurerNumber, memberID: MemberID) throws -> [String: Any] {
        try requireMember(insurer.text, memberID.text)
        let p = [insurer.text, memberID.text]
        func rows(_ sql: String, _ names: [String]) throws -> [[String: Any]] {
            try db.query(sql, p).rows.map { r in
                var o: [String: Any] = [:]
                for (n, v) in zip(names, r) { o[n] = v ?? NSNull() }
                return o
            }
        }
        let memberColumns = FeedFormat.members.columns.map(\.name)
        var record: [String: Any] = [:]
        record["member"] = try rows(
            "SELECT \(memberColumns.map { "\($0)::text" }.joined(separator: ", ")) FROM member WHERE insurer_number = $1 AND member_id = $2",
            memberColumns
        ).first
        record["history"] = try rows(
            """
            SELECT to_char(h.changed_at, 'YYYY-MM-DD HH24:MI:SS'), h.import_id::text, array_to_string(h.changed_columns, ','),
                   h.old_values::text, h.new_values::text
            FROM member_history h WHERE h.insurer_number = $1 AND h.member_id = $2 ORDER BY h.history_id
            """, ["changed_at", "import_id", "columns", "old", "new"])
        record["myna_status"] = try rows(
            """
            SELECT status_as_of::text, has_card::text, registration, card_state, ecert_expiry::text, card_expiry::text,
                   uses_12m::text, last_used_on::text
            FROM myna_status WHERE insurer_number = $1 AND member_id = $2 ORDER BY status_as_of
            """, ["status_as_of", "has_card", "registration", "card_state", "ecert_expiry", "card_expiry", "uses_12m", "last_used_on"])
        record["applications"] = try rows(
            """
            SELECT application_id::text, kind, received_on::text, basis, status, reject_reason, source, entered_by,
                   fulfilled_certificate_number::text, fulfilled_on::text
            FROM application WHERE insurer_number = $1 AND member_id = $2 ORDER BY received_on, application_id
            """,
            [
                "application_id", "kind", "received_on", "basis", "status", "reject_reason", "source", "entered_by",
                "fulfilled_certificate_number", "fulfilled_on",
            ])
        record["certificates"] = try rows(
            """
            SELECT certificate_number::text, kind, array_to_string(reasons, ';'), valid_from::text, valid_to::text, issued_on::text, status,
                   voided_on::text, void_reason, replaces_certificate_number::text, special_consideration::text, consideration_ended_on::text,
                   CASE WHEN run_id IS NULL THEN 'handed over at the counter' WHEN mail_exception IS NOT NULL THEN 'not mailed, waiting for staff'
                        WHEN via.establishment_id IS NOT NULL THEN 'mailed through establishment ' || via.establishment_id
                        ELSE 'mailed' END,
                   CASE WHEN mail_exception IS NOT NULL AND status = 'active'
                        THEN mail_exception || ': print it at the counter (kakunin certificate print) or correct the record' END,
                   CASE WHEN run_id IS NULL THEN 'counter' WHEN mail_exception IS NOT NULL THEN 'waiting' ELSE 'mailed' END, mail_exception,
                   via.establishment_id, via.name
            FROM certificate c \(Self.deliveredThroughJoin("c"))
            WHERE c.insurer_number = $1 AND c.member_id = $2 ORDER BY certificate_number
            """,
            [
                "certificate_number", "kind", "reasons", "valid_from", "valid_to", "issued_on", "status", "voided_on", "void_reason",
                "replaces_certificate_number", "special_consideration", "consideration_ended_on", "delivery", "what_to_do",
                "delivery_code", "mail_exception", "establishment_id", "establishment_name",
            ])
        record["notices"] = try rows(
            """
            SELECT kind, sent_on::text, array_to_string(reasons, ';'), run_id::text, mail_exception, via.establishment_id, via.name
            FROM notice n \(Self.deliveredThroughJoin("n"))
            WHERE n.insurer_number = $1 AND n.member_id = $2 ORDER BY sent_on, kind
            """, ["kind", "sent_on", "reasons", "run_id", "mail_exception", "establishment_id", "establishment_name"])
        record["mail_returns"] = try rows(
            """
            SELECT r.return_id::text, r.document, r.certificate_number::text, r.notice_run_id::text, r.returned_on::text, r.note, r.resolved_on::text,
                   CASE WHEN r.resolved_on IS NOT NULL THEN 'resolved'
                        WHEN \(MemberFactsQuery.returnedAddressChanged("r"))
                        THEN 'the address has changed since: the next run mails again'
                        WHEN r.establishment_id IS NOT NULL
                        THEN 'came back from establishment ' || r.establishment_id || ': not mailed again until its address changes (establishments.csv): confirm it with the employer, or hand the document over at the counter'
                        ELSE 'not mailed again until the address changes: confirm the address, or hand the document over at the counter' END,
                   CASE WHEN r.resolved_on IS NOT NULL THEN 'resolved'
                        WHEN \(MemberFactsQuery.returnedAddressChanged("r"))
                        THEN 'address_changed' ELSE 'stopped' END,
                   r.establishment_id, e.name
            FROM mail_return r
            LEFT JOIN establishment e ON e.insurer_number = r.insurer_number AND e.establishment_id = r.establishment_id
            WHERE r.insurer_number = $1 AND r.member_id = $2 ORDER BY r.returned_on, r.return_id
            """,
            [
                "return_id", "document", "certificate_number", "notice_run_id", "returned_on", "note", "resolved_on", "what_to_do", "state",
                "establishment_id", "establishment_name",
            ])
        record["decisions"] = try rows(
            """
            SELECT d.run_id::text, d.as_of::text, r.job, d.outcome, array_to_string(d.reasons, ';'), d.valid_from::text, d.valid_to::text,
                   d.certificate_number::text
            FROM run r JOIN decision d ON d.as_of = r.as_of AND d.run_id = r.run_id AND d.member_id = $2
            WHERE r.insurer_number = $1 ORDER BY d.as_of, d.run_id
            """, ["run_id", "as_of", "job", "outcome", "reasons", "valid_from", "valid_to", "certificate_number"])
        try recordView(insurer: insurer, members: [memberID.text], page: "member record")
        return record
    }

    // MARK: - Applications

    public struct ApplicationRecord: Codable, Sendable {
        public let application_id: Int64
        public let insurer_number: String
        public let member_id: String
        public let kind: String
        public let received_on: String
        public let basis: String?
        public let status: String
        public let reject_reason: String?
    }

    /// Records one application, validated exactly like a row of applications.csv (same field
    /// rules, same NO_BASIS, the same elderly exception). `status` is pending or
    /// approved; a special-consideration application without a basis is recorded as rejected.
    public func addApplication(
        insurer: InsurerNumber, memberID: MemberID, kind: String, basis: String?, receivedOn: LocalDate,
        status: String, note: String?
    ) throws -> ApplicationRecord {
        let insurer = insurer.text
        let memberID = memberID.text
        let scheme = try requireMember(insurer, memberID)
        try CounterDates.requireReceived(receivedOn)
        guard status == "pending" || status == "approved" else {
            throw OperatorError(
                .usage, "status must be pending or approved (got \(status))",
                fix: "reject an application with kakunin application decide --reject")
        }
        let fields: [(String, String)] = [
            ("insurer_number", insurer), ("member_id", memberID), ("kind", kind),
            ("received_on", receivedOn.description), ("basis", basis ?? ""), ("status", status),
        ]
        for (name, value) in fields {
            guard let column = FeedFormat.applications.columns.first(where: { $0.name == name }) else { continue }
            var v = value
            if let reason = v.withUTF8({ FieldValidator.check($0, column) }) {
                throw OperatorError(.usage, "\(name): \(reason)", fix: "correct --\(name.replacingOccurrences(of: "_", with: "-"))")
            }
        }
        if kind != "special_consideration" && !(basis ?? "").isEmpty {
            throw OperatorError(.usage, "basis applies only to special_consideration applications", fix: "leave out --basis")
        }
        var finalStatus = status
        var rejectReason: String?
        // SPEC.md 2.2 [2026-12]: an elderly member's needs no basis while the insurer's
        // elderly_apply_without_basis (the version in force on the day received; on without one)
        // is on; the run issues on it for a certificate period from 2026-08-01 (Policy rule 3).
        let elderlyNeedsNone =
            scheme == "elderly"
            ? try ParameterVersions.version(db, insurer: insurer, on: receivedOn)?.loaded().parameters.elderlyApplyWithoutBasis ?? true
            : false
        if kind == "special_consideration" && (basis ?? "").isEmpty && !elderlyNeedsNone {
            finalStatus = "rejected"
            rejectReason = "NO_BASIS"
        }
        var details: [String: Any] = ["kind": kind, "received_on": receivedOn.description, "status": finalStatus]
        if let basis, !basis.isEmpty { details["basis"] = basis }
        if let rejectReason { details["reject_reason"] = rejectReason }
        if let note, !note.isEmpty { details["note"] = note }
        // Recorded and logged by one function (sql/020); the table's trigger checks NO_BASIS again.
        return try Self.counterRule {
            let added = try db.query(
                "SELECT application_add($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
                [
                    insurer, memberID, kind, receivedOn.description, (basis ?? "").isEmpty ? nil : basis, finalStatus,
                    rejectReason, person, json(details),
                ]
            ).scalar
            guard let id = added.flatMap({ Int64($0) }) else {
                throw OperatorError(
                    .conflict, "member \(memberID) already has a \(kind) application received on \(receivedOn)",
                    fix: "kakunin member show --insurer \(insurer) --member \(memberID) lists it")
            }
            return ApplicationRecord(
                application_id: id, insurer_number: insurer, member_id: memberID, kind: kind, received_on: receivedOn.description,
                basis: (basis ?? "").isEmpty ? nil : basis, status: finalStatus, reject_reason: rejectReason)
        }
    }

    /// Moves a pending application to approved, or to rejected with a reason. Only pending ones
    /// move: the nightly run acts on approved ones, so an approved application is never taken back
    /// under a run's feet.
    public func decideApplication(insurer: InsurerNumber, applicationID: Int64, approve: Bool, reason: String?) throws -> ApplicationRecord
    {
        let insurer = insurer.text
        if !approve && (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw OperatorError(.usage, "a rejection needs a reason", fix: "add --reason TEXT")
        }
        try requireInsurer(insurer)
        return try db.transaction {
            let row = try record(insurer, .application(applicationID), columns: "member_id, kind, received_on::text, basis, status")
            guard row.optionalText(4) == "pending" else {
                throw OperatorError(
                    .conflict, "application \(applicationID) is \(row.shown(4)), not pending: only a pending application is decided",
                    fix: "record a new application if the situation changed")
            }
            let status = approve ? "approved" : "rejected"
            // The function locks the row and moves it only from pending (sql/020), and logs it.
            _ = try Self.counterRule {
                try db.query(
                    "SELECT application_decide($1, $2, $3, $4, $5)",
                    [insurer, String(applicationID), approve ? "t" : "f", approve ? nil : reason, person])
            }
            return ApplicationRecord(
                application_id: applicationID, insurer_number: insurer, member_id: try row.text(0), kind: try row.text(1),
                received_on: try row.text(2), basis: row.optionalText(3), status: status, reject_reason: approve ? nil : reason)
        }
    }

    // MARK: - Pieces

    /// The member's name as printed (family and given name with an ideographic space), "" if none.
    public func displayName(insurer: InsurerNumber, memberID: MemberID) throws -> String {
        let insurer = insurer.text
        let memberID = memberID.text
        return try db.query(
            "SELECT family_name || coalesce('　' || given_name, '') FROM member WHERE insurer_number = $1 AND member_id = $2",
            [insurer, memberID]
        ).scalar ?? ""
    }

    /// The member a certificate was issued to, nil when the insurer has no such certificate.
    public func certificateMember(insurer: InsurerNumber, certificate: Int64) throws -> String? {
        let insurer = insurer.text
        return try db.query(
            "SELECT member_id FROM certificate WHERE insurer_number = $1 AND certificate_number = $2",
            [insurer, String(certificate)]
        ).scalar
    }

    /// The member an application is of (the console's confirmation names them before deciding).
    public func applicationMember(insurer: InsurerNumber, applicationID: Int64) throws -> String {
        let insurer = insurer.text
        guard
            let m = try db.query(
                "SELECT member_id FROM application WHERE insurer_number = $1 AND application_id = $2",
                [insurer, String(applicationID)]
            ).scalar
        else {
            throw OperatorError(
                .notFound, "insurer \(insurer) has no application \(applicationID)",
                fix: "kakunin member show lists a member's applications",
                japanese: "その申請はありません。加入者の画面から操作してください。")
        }
        return m
    }

    /// The return recorded for a document: a certificate by number, a notice (`document` its
    /// kind) by the run that sent it; the console shows that record after recording it.
    public func returnID(insurer: InsurerNumber, member: MemberID, document: String, key: Int64) throws -> Int64 {
        let insurer = insurer.text
        let member = member.text
        let id = try db.query(
            """
            SELECT return_id FROM mail_return WHERE insurer_number = $1 AND member_id = $2 AND document = $3
              AND (CASE WHEN $3 = 'certificate' THEN certificate_number ELSE notice_run_id END) = $4
            ORDER BY return_id DESC LIMIT 1
            """, [insurer, member, document, String(key)]
        ).scalar
        return id.flatMap { Int64($0) } ?? 0
    }

    /// The insurer exists and this login may see its members (a staff login is scoped to
    /// insurers: row-level security, sql/011); otherwise exit 66 or 77 with the fix.
    func requireInsurer(_ insurer: String) throws {
        try Insurers.require(db, insurer)
        guard try db.query("SELECT insurer_visible($1)", [insurer]).scalar == "t" else {
            let login = try db.query("SELECT current_user").scalar ?? "?"
            throw OperatorError(
                .noPermission, "login \(login) is not scoped to insurer \(insurer): it sees none of its members",
                fix: "the database owner runs: kakunin staff scope \(login) --insurer \(insurer)")
        }
    }

    /// A certificate or an application of the insurer, by its number.
    enum Record {
        case certificate(Int64)
        case application(Int64)
    }

    /// `columns` of the insurer's certificate or application `key` (its row in the caller's
    /// transaction); 66 naming it when the insurer has none.
    func record(_ insurer: String, _ key: Record, columns: String) throws -> ResultRow {
        let (table, column, id, fix) =
            switch key {
            case .certificate(let n): ("certificate", "certificate_number", n, "kakunin member show lists a member's certificates")
            case .application(let n): ("application", "application_id", n, "kakunin member show lists a member's applications")
            }
        guard
            let row = try db.query(
                "SELECT \(columns) FROM \(table) WHERE insurer_number = $1 AND \(column) = $2", [insurer, String(id)]
            ).firstRow
        else { throw OperatorError(.notFound, "insurer \(insurer) has no \(table) \(id)", fix: fix) }
        return row
    }

    /// The member exists and this login may see them (66 or 77 otherwise).
    public func requireMemberVisible(_ insurer: InsurerNumber, _ member: MemberID) throws {
        let insurer = insurer.text
        let member = member.text
        try requireMember(insurer, member)
    }

    /// The member's scheme; exit 66 when the member does not exist.
    @discardableResult
    func requireMember(_ insurer: String, _ member: String) throws -> String {
        try requireInsurer(insurer)
        guard let scheme = try db.query("SELECT scheme FROM member WHERE insurer_number = $1 AND member_id = $2", [insurer, member]).scalar
        else {
            throw OperatorError(
                .notFound, "insurer \(insurer) has no member \(member)",
                fix: "find the member: kakunin member find --insurer \(insurer) --kana … or --postal-code …")
        }
        return scheme
    }

    /// 閲覧記録: who viewed whose personal data. One member: `member_viewed`; a list (search
    /// results, a drill-down): one `members_listed` event naming the members shown. Through
    /// `audit_console` (sql/014), which auditors may call too: they change nothing else.
    public func recordView(insurer: InsurerNumber, members: [String], page: String) throws {
        let insurer = insurer.text
        guard !members.isEmpty else { return }
        let single = members.count == 1
        var details: [String: Any] = ["person": person, "page": page]
        if !single { details["members"] = members }
        try db.execute(
            "SELECT audit_console($1, $2, $3, $4::jsonb)",
            [single ? "member_viewed" : "members_listed", insurer, single ? members[0] : nil, json(details)])
    }

    /// Runs one of the counter's database functions (sql/020), which check the rows they change:
    /// a row that changed meanwhile is a conflict (65), a missing one not found (66), a refused
    /// argument a usage error (64), each with the database's own message.
    static func counterRule<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as DatabaseError where e.sqlState == "55000" {
            throw OperatorError(
                .conflict, e.message, fix: "look at the member again (kakunin member show) and repeat the action if it still applies")
        } catch let e as DatabaseError where e.sqlState == "P0002" {
            throw OperatorError(.notFound, e.message, fix: "kakunin member show lists a member's certificates and applications")
        } catch let e as DatabaseError where e.sqlState == "22023" {
            throw OperatorError(.usage, e.message)
        }
    }

    func audit(_ action: String, _ insurer: String, _ member: String?, _ details: [String: Any]) throws {
        var d = details
        d["person"] = person
        try AuditLog.append(db, action, insurer: insurer, member: member, details: d)
    }
}

extension CounterDesk {
    /// Voids an active certificate (e.g. issued in error), with a reason and date.
    public func void(insurer: InsurerNumber, certificate: Int64, reason: String, on date: LocalDate) throws -> String {
        let insurer = insurer.text
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw OperatorError(.usage, "voiding needs a reason", fix: "add --reason TEXT")
        }
        try requireInsurer(insurer)
        // The function locks the certificate, voids it only while active, and logs it (sql/020).
        return try Self.counterRule {
            try db.query(
                "SELECT certificate_void($1, $2, $3, $4, $5)",
                [insurer, String(certificate), reason, date.description, person]
            ).scalar!
        }
    }

    /// Ends a member's special consideration (SPEC.md 2.5 rule 6): the certificates that carry it
    /// renew no more without a new application.
    public func endConsideration(insurer: InsurerNumber, memberID: MemberID, on date: LocalDate, reason: String) throws -> Int {
        let insurer = insurer.text
        let memberID = memberID.text
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw OperatorError(.usage, "ending special consideration needs a reason", fix: "add --reason TEXT")
        }
        try requireMember(insurer, memberID)
        return try Self.counterRule {
            Int(
                try db.query(
                    "SELECT consideration_end($1, $2, $3, $4, $5)",
                    [insurer, memberID, date.description, reason, person]
                ).scalar!)!
        }
    }
}

extension CounterDesk {
    /// Records a mailed certificate that came back undelivered (返戻). Until a later import changes
    /// the member's address (or staff hand a document over at the counter), the nightly run holds
    /// the member's mail with MAIL_RETURNED.
    /// Records a mailed notice (eligibility or application guidance) that came back, like a
    /// certificate: once, and the member's mail waits until the address changes. The notice is
    /// the member's latest of that kind, or the one of run `run`.
    /// [2026-12] A notice a run delivered through the member's establishment is recorded as
    /// returned from it, like a certificate. Returns the run that sent it and that establishment.
    public func returnNotice(
        insurer: InsurerNumber, memberID: MemberID, kind: String, run: Int64?, on date: LocalDate, note: String?
    ) throws -> (run: Int64, establishment: String?) {
        let insurer = insurer.text
        let memberID = memberID.text
        guard kind == "eligibility_notice" || kind == "apply_notice" else {
            throw OperatorError(.usage, "--kind \(kind) is not a notice kind", fix: "use eligibility_notice or apply_notice")
        }
        try requireMember(insurer, memberID)
        return try db.transaction {
            guard
                let row = try db.query(
                    """
                    SELECT run_id::text, mail_exception, sent_on::text FROM notice
                    WHERE insurer_number = $1 AND member_id = $2 AND kind = $3 AND ($4::bigint IS NULL OR run_id = $4::bigint)
                    ORDER BY sent_on DESC, run_id DESC LIMIT 1
                    """, [insurer, memberID, kind, run.map(String.init)]
                ).firstRow
            else {
                throw OperatorError(
                    .notFound, "member \(memberID) was sent no \(kind)\(run.map { " by run \($0)" } ?? "")",
                    fix: "kakunin member show lists the member's notices with their runs")
            }
            let noticeRun = try row.int64(0)
            if let why = row.optionalText(1) {
                throw OperatorError(
                    .conflict,
                    "that \(kind) was never mailed (its record waits in the mailing exceptions: \(why)): nothing can have come back",
                    fix: "check the envelope")
            }
            try CounterDates.requireReturned(date, .notice(kind, run: noticeRun, sentOn: try row.date(2)))
            let establishment = try deliveredThrough(insurer, member: memberID, notice: kind, run: noticeRun)
            try recordReturn(
                insurer, memberID, document: kind, key: ("notice_run_id", noticeRun), on: date, note: note,
                what: "the \(kind) of run \(noticeRun)", establishment: establishment)
            return (noticeRun, establishment)
        }
    }

    /// [2026-12] A certificate a run delivered through the member's establishment (its
    /// parameters said employee_delivery = employer) came back from the establishment: the
    /// return is recorded against it. Returns the member and that establishment, if any.
    public func returnCertificate(
        insurer: InsurerNumber, certificate: Int64, on date: LocalDate, note: String?
    ) throws
        -> (member: String, establishment: String?)
    {
        let insurer = insurer.text
        try requireInsurer(insurer)
        return try db.transaction {
            let row = try record(
                insurer, .certificate(certificate), columns: "member_id, run_id IS NOT NULL, mail_exception, issued_on::text")
            guard try row.bool(1) else {
                throw OperatorError(
                    .conflict, "certificate \(certificate) was handed over at the counter, never mailed: nothing can have come back",
                    fix: "check the number on the envelope")
            }
            if let why = row.optionalText(2) {
                throw OperatorError(
                    .conflict,
                    "certificate \(certificate) was never mailed (its record waits in the mailing exceptions: \(why)): nothing can have come back",
                    fix: "check the number on the envelope; hand this one over with kakunin certificate print")
            }
            try CounterDates.requireReturned(date, .certificate(certificate, issuedOn: try row.date(3)))
            let establishment = try deliveredThrough(insurer, certificate: certificate)
            let member = try row.text(0)
            try recordReturn(
                insurer, member, document: "certificate", key: ("certificate_number", certificate), on: date, note: note,
                what: "certificate \(certificate)", establishment: establishment)
            return (member, establishment)
        }
    }

    /// The establishment a mailed certificate went through: its run's parameters delivered
    /// through employers and the member is delivered through a known establishment (SPEC.md 5.1).
    private func deliveredThrough(_ insurer: String, certificate: Int64) throws -> String? {
        try db.query(
            """
            SELECT via.establishment_id FROM certificate c \(Self.deliveredThroughJoin("c"))
            WHERE c.insurer_number = $1 AND c.certificate_number = $2
            """, [insurer, String(certificate)]
        ).rows.first?[0]
    }

    /// The establishment a run's notice went through (the same rule as a certificate's).
    private func deliveredThrough(_ insurer: String, member: String, notice kind: String, run: Int64) throws -> String? {
        try db.query(
            """
            SELECT via.establishment_id FROM notice n \(Self.deliveredThroughJoin("n"))
            WHERE n.insurer_number = $1 AND n.member_id = $2 AND n.kind = $3 AND n.run_id = $4
            """, [insurer, member, kind, String(run)]
        ).rows.first?[0]
    }

    /// [2026-12] The establishment a run's certificate went through, before it is returned (the
    /// console's warning names it); nil when it went home or no run mailed it.
    public func establishmentDeliveredThrough(insurer: InsurerNumber, certificate: Int64) throws -> String? {
        try deliveredThrough(insurer.text, certificate: certificate)
    }

    /// [2026-12] The establishment the notice of run `run` went through, as for a certificate.
    public func establishmentDeliveredThrough(insurer: InsurerNumber, member: MemberID, notice kind: String, run: Int64) throws -> String? {
        try deliveredThrough(insurer.text, member: member.text, notice: kind, run: run)
    }

    /// SQL: `LEFT JOIN LATERAL … via` giving `via.establishment_id` and `via.name` of the
    /// establishment the certificate or notice `c` was delivered through (NULL when a run mailed it
    /// home or it was never mailed by a run): the one home of that rule for the counter.
    static func deliveredThroughJoin(_ c: String) -> String {
        """
        LEFT JOIN LATERAL (
            SELECT m.establishment_id, e.name FROM run r
            JOIN insurer_parameter_version v ON v.version_id = r.params_version_id
            JOIN member m ON m.insurer_number = \(c).insurer_number AND m.member_id = \(c).member_id
            JOIN establishment e ON e.insurer_number = m.insurer_number AND e.establishment_id = m.establishment_id
            WHERE r.run_id = \(c).run_id AND \(c).mail_exception IS NULL AND v.parameters->>'employee_delivery' = 'employer'
              AND \(MemberFactsQuery.throughEstablishment)
        ) via ON true
        """
    }

    /// One returned document, once (the unique indexes of sql/010 and sql/013), and its event.
    /// `key`: the column naming the document and its value.
    private func recordReturn(
        _ insurer: String, _ member: String, document: String, key: (column: String, value: Int64),
        on date: LocalDate, note: String?, what: String, establishment: String? = nil
    ) throws {
        let inserted = try db.query(
            """
            INSERT INTO mail_return (insurer_number, member_id, document, \(key.column), returned_on, note, establishment_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING return_id
            """, [insurer, member, document, String(key.value), date.description, note, establishment]
        ).rows
        guard !inserted.isEmpty else {
            throw OperatorError(.conflict, "\(what) is already recorded as returned", fix: "kakunin member show lists the returns")
        }
        var details: [String: Any] = ["document": document, key.column: key.value, "returned_on": date.description]
        if let note, !note.isEmpty { details["note"] = note }
        if let establishment { details["establishment_id"] = establishment }
        try audit("mail_returned", insurer, member, details)
    }
}
