import KakuninCore
import KakuninStore

/// The one query that turns the store into `MemberFacts` for an insurer on an as-of date
/// ($1 insurer, $2 as-of). Households are resolved with window functions, so the query reads
/// each table once; `explain` narrows it to one member's household ($3).
public enum MemberFactsQuery {
    /// The details an eligibility notice shows; a notice is sent again when they change.
    static let detailsKey = "concat_ws('|', m.insurer_number, coalesce(m.symbol, ''), m.number, coalesce(m.branch, ''), coalesce(m.copay_ratio::text, ''))"

    public static func sql(oneMember: Bool) -> String {
        // Every table is read once for the insurer and hash-joined; `explain` narrows the
        // members to one household and the rest to one member.
        let scope = oneMember
            ? "AND (member_id = $3 OR household_id = (SELECT household_id FROM member WHERE insurer_number = $1 AND member_id = $3))"
            : ""
        let only = oneMember ? "AND member_id = $3" : ""
        return """
            WITH h AS (
                SELECT household_id,
                       count(*) FILTER (WHERE household_head) AS heads,
                       max(postal_code) FILTER (WHERE household_head) AS head_postal,
                       max(address) FILTER (WHERE household_head) AS head_address
                FROM member
                WHERE insurer_number = $1 AND household_id IS NOT NULL \(scope)
                GROUP BY household_id
            ),
            hh AS (
                SELECT m.*, h.heads, h.head_postal, h.head_address
                FROM member m LEFT JOIN h USING (household_id)
                WHERE m.insurer_number = $1 \(scope)
            ),
            s AS (
                SELECT DISTINCT ON (member_id) * FROM myna_status
                WHERE insurer_number = $1 AND status_as_of <= $2 \(only)
                ORDER BY member_id, status_as_of DESC
            ),
            a AS (
                SELECT DISTINCT ON (member_id) member_id, application_id, kind, received_on FROM application
                WHERE insurer_number = $1 AND status = 'approved' AND fulfilled_on IS NULL AND received_on <= $2 \(only)
                ORDER BY member_id, received_on, application_id
            ),
            p AS (
                SELECT DISTINCT member_id FROM application
                WHERE insurer_number = $1 AND status = 'pending' AND kind IN ('card_lost', 'card_renewing') \(only)
            ),
            c AS (
                SELECT DISTINCT ON (member_id) member_id, certificate_number, valid_from, valid_to, special_consideration, consideration_ended_on
                FROM certificate WHERE insurer_number = $1 AND status = 'active' \(only)
                ORDER BY member_id, valid_from DESC, certificate_number DESC
            ),
            en AS (
                SELECT DISTINCT member_id, details FROM notice
                WHERE insurer_number = $1 AND kind = 'eligibility_notice' \(only)
            ),
            an AS (
                SELECT member_id, max(sent_on) AS last FROM notice
                WHERE insurer_number = $1 AND kind = 'apply_notice' AND sent_on <= $2 \(only) GROUP BY member_id
            )
            SELECT m.member_id, m.scheme, m.birth_date, m.qualified_on, m.disqualified_on, m.residence_expiry,
                   m.legacy_card_expiry, m.access_restricted,
                   s.has_card, s.registration, s.card_state, s.ecert_expiry, s.card_expiry,
                   a.application_id, a.kind, a.received_on,
                   p.member_id IS NOT NULL,
                   c.certificate_number, c.valid_from, c.valid_to, c.special_consideration AND c.consideration_ended_on IS NULL,
                   en.member_id IS NOT NULL,
                   an.last,
                   CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL
                        THEN regexp_replace(coalesce(m.head_postal, ''), '[-‐－]', '', 'g') ~ '^[0-9]{7}$' AND coalesce(btrim(m.head_address), '') <> ''
                        ELSE regexp_replace(coalesce(m.postal_code, ''), '[-‐－]', '', 'g') ~ '^[0-9]{7}$' AND coalesce(btrim(m.address), '') <> ''
                   END,
                   CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL THEN m.heads
                        WHEN m.scheme = 'nhi' THEN CASE WHEN m.household_head THEN 1 ELSE 0 END
                        ELSE 1 END,
                   \(detailsKey)
            FROM hh m
            LEFT JOIN s USING (member_id)
            LEFT JOIN a USING (member_id)
            LEFT JOIN p USING (member_id)
            LEFT JOIN c USING (member_id)
            LEFT JOIN en ON en.member_id = m.member_id AND en.details = \(detailsKey)
            LEFT JOIN an ON an.member_id = m.member_id
            \(oneMember ? "WHERE m.member_id = $3" : "")
            """
    }

    /// A member's id, facts and eligibility-notice details from one row of the query.
    public static func facts(_ r: [String?]) throws -> (memberID: String, facts: MemberFacts, details: String) {
        func date(_ i: Int) throws -> LocalDate? {
            guard let s = r[i] else { return nil }
            guard let d = LocalDate(s) else { throw OperatorError(.internalError, "bad date \(s) in column \(i)") }
            return d
        }
        guard let memberID = r[0], let scheme = r[1].flatMap(Scheme.init(rawValue:)),
              let birth = try date(2), let qualified = try date(3) else {
            throw OperatorError(.internalError, "member row without id, scheme, birth or qualification date")
        }
        var f = MemberFacts(scheme: scheme, birthDate: birth, qualifiedOn: qualified)
        f.disqualifiedOn = try date(4)
        f.residenceExpiry = try date(5)
        f.legacyCardExpiry = try date(6)
        f.accessRestricted = r[7] == "t"
        if let has = r[8], let state = r[10].flatMap(MynaStatus.CardState.init(rawValue:)) {
            f.myna = MynaStatus(hasCard: has == "t", registration: r[9].flatMap(MynaStatus.Registration.init(rawValue:)),
                                cardState: state, ecertExpiry: try date(11), cardExpiry: try date(12))
        }
        if let id = r[13].flatMap({ Int64($0) }), let kind = r[14].flatMap(OpenApplication.Kind.init(rawValue:)), let received = try date(15) {
            f.application = OpenApplication(id: id, kind: kind, receivedOn: received)
        }
        f.pendingCardApplication = r[16] == "t"
        if let n = r[17].flatMap({ Int64($0) }), let from = try date(18), let to = try date(19) {
            f.latestCertificate = CertificateFacts(number: n, validFrom: from, validTo: to, active: true,
                                                   specialConsiderationContinues: r[20] == "t")
        }
        f.eligibilityNoticeSent = r[21] == "t"
        f.lastApplyNotice = try date(22)
        f.deliverable = r[23] == "t"
        f.householdHeads = Int(r[24] ?? "1") ?? 1
        return (memberID, f, r[25] ?? "")
    }
}
