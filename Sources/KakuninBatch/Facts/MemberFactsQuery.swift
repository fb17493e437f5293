import KakuninCore
import KakuninRuntime
import KakuninStore

/// The one query that turns the store into `MemberFacts` for an insurer on an as-of date
/// ($1 insurer, $2 as-of). Every table is read once and hash-joined (the Myna status by one index
/// probe per member, `latestMynaStatus`), households are resolved by
/// a window over each envelope; `explain` narrows it to one member's household ($3).
/// The batch form is ordered by envelope and member, the order of the mailing files.
public enum MemberFactsQuery {
    /// The details an eligibility notice shows; a notice is sent again when they change.
    static let detailsKey =
        "concat_ws('|', m.insurer_number, coalesce(m.symbol, ''), m.number, coalesce(m.branch, ''), coalesce(m.copay_ratio::text, ''))"

    /// Each member with their household's head (`hh`): the head count decides NO_HOUSEHOLD_HEAD,
    /// and an nhi household with exactly one head gets one envelope addressed to that head.
    /// Households matter only to nhi (SPEC.md 2.5), so only the heads among the insurer's nhi
    /// members are grouped (a household without one has no row: 0 heads); other schemes and
    /// the other members skip the aggregate.
    /// `insurer` is a parameter reference or a validated literal.
    /// `source`: the member rows (by default the table; a rebuild of a run's files passes the
    /// members as that run saw them). The rebuild uses this form; the facts query computes the
    /// same values with a window over the envelope (see `sql`).
    static func households(insurer: String, scope: String = "", source: String = "member", delivery: Delivery = .home) -> String {
        """
        h AS (
            SELECT household_id,
                   count(*) AS heads,
                   max(family_name || coalesce(' ' || given_name, '')) AS head_name,
                   max(postal_code) AS head_postal,
                   max(address) AS head_address,
                   max(address_extra) AS head_extra
            FROM \(source)
            WHERE insurer_number = \(insurer) AND scheme = 'nhi' AND household_id IS NOT NULL AND household_head \(scope)
            GROUP BY household_id
        ),
        hh AS (
            SELECT m.*, \(detailsKey) AS details_key,
                   coalesce(h.heads, 0) AS heads, h.head_name, h.head_postal, h.head_address, h.head_extra
                   \(establishmentColumns(delivery))
            FROM \(source) m LEFT JOIN h USING (household_id) \(establishmentJoin(delivery))
            WHERE m.insurer_number = \(insurer) \(scope)
        )
        """
    }

    /// The columns a mailing record takes from the member (alias `m`, a row of `hh`): envelope,
    /// person, preferred language, the addressee and [2026-12] the printed entries of
    /// `PrintedMember` (copay 発効期日, 特別療養, 限度区分 with its date, 長期入院, 特定疾病). Both the run (from the facts stream) and a
    /// rebuild of the files after a crash (from the stored certificates and notices) use them.
    /// [2026-12] With `employer` delivery a member delivered through the establishment
    /// (`m.est_known`) gets the envelope `E-<establishment>`, addressed to it.
    static func mailColumns(_ delivery: Delivery) -> String {
        let employer = delivery == .employer
        func addressee(_ head: String, _ establishment: String, _ own: String) -> String {
            "CASE WHEN \(sharesHeadEnvelope) THEN \(head)\(employer ? " WHEN m.est_known THEN \(establishment)" : "") ELSE \(own) END"
        }
        return """
            CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL THEN 'H-' || m.household_id\(employer ? " WHEN m.est_known THEN 'E-' || m.establishment_id" : "") ELSE 'M-' || m.member_id END,
            m.insurer_number, m.symbol, m.number, m.branch, m.family_name, m.given_name, m.family_name_kana, m.given_name_kana,
            m.sex, m.copay_ratio, m.preferred_language,
            \(addressee("m.head_name", "m.est_addressee", "m.family_name || coalesce(' ' || m.given_name, '')")),
            \(addressee("m.head_postal", "m.est_postal", "m.postal_code")),
            \(addressee("m.head_address", "m.est_address", "m.address")),
            \(addressee("m.head_extra", "m.est_extra", "m.address_extra")),
            m.copay_effective_on, m.special_care, m.limit_category, m.limit_effective_on, m.long_stay_on, m.specific_disease
            """
    }
    private static let sharesHeadEnvelope = "m.scheme = 'nhi' AND m.household_id IS NOT NULL AND m.heads = 1"
    static let mailColumnCount = 22
    /// Index of the first of `mailColumns` in a facts row.
    static let mailColumnsStart = 26
    /// Index of the end of the active certificate covering the as-of date, after the mail columns.
    static let coveringColumn = mailColumnsStart + mailColumnCount
    /// Index of the returned-mail flag.
    static let mailReturnedColumn = coveringColumn + 1
    /// Index of the latest 有効期限 of the eligibility notices with the current details.
    static let noticeValidToColumn = mailReturnedColumn + 1
    /// [2026-12] The Myna snapshot's status_as_of, uses_12m and last_used_on (the usage test).
    /// The snapshot read is the latest marked one, which may be older than the latest
    /// repeat of it; a repeat whose last use leaves the 3-month window is marked
    /// (FeedImporter.recentUseLapses), so the test decides on it as on the latest snapshot.
    static let mynaUsageColumn = noticeValidToColumn + 1
    /// [2026-12] Whether the open application states a basis (only an elderly member's
    /// special-consideration application may lack one, SPEC.md 2.2), last.
    static let applicationBasisColumn = mynaUsageColumn + 3
    /// [2026-12] The latest active certificate's printed snapshot (hex, sql/031) and issued_on:
    /// the run compares them with what the member's record prints now (`printedChange`). Not
    /// kept in `decision.facts`: the comparison's result is (`writeReplayFacts`).
    static let printedSnapshotColumn = applicationBasisColumn + 1
    /// The facts row's member columns, as the mailing records read them.
    static let person = PersonColumns(memberID: 0, scheme: 1, birthDate: 2, mail: mailColumnsStart)

    /// A member's envelope key, the first sort key of the batch form (unqualified columns of a
    /// member row): an nhi household shares one envelope.
    static let envelopeKey = "(CASE WHEN scheme = 'nhi' AND household_id IS NOT NULL THEN 'H-' || household_id ELSE 'M-' || member_id END)"

    /// SQL: `column` is a postal code of 7 digits once hyphens are removed. Seven ASCII digits
    /// (nearly every row) are recognised without the regular expression, which cost about 1 s
    /// per 500,000 members in the facts query.
    static func isPostalCode(_ column: String) -> String {
        "(octet_length(\(column)) = 7 AND ltrim(\(column), '0123456789') = '' OR translate(\(column), '-‐－', '') ~ '^[0-9]{7}$')"
    }

    /// `range`: in the batch form, only the members whose home envelope key (`envelopeKey`:
    /// an nhi household's members share theirs) is in it (e.g. `< 'H-0042'`): the halves of a
    /// split read (FactsSource). With `home` delivery that is the stream's order, and the halves
    /// concatenated are the whole stream; with `employer` each half holds every envelope kind
    /// and the two are merged by envelope.
    /// `delivery`: the insurer's employee_delivery ([2026-12]: with `employer`, the envelope key
    /// and addressee of a member delivered through the establishment, `EmployerDelivery.swift`).
    /// `keptRun`: in the batch form, the run whose decisions in force each row carries after the
    /// facts (`keptColumn`, nil: none, the columns are NULL): what a night compares with.
    /// `candidates`: an incremental night's query of the members it reads (whole nhi households,
    /// sql/041 incremental_candidates); every table is then read for them only.
    /// `keptChain`: with `candidates`, their decisions in force read by key (DecisionChain).
    public static func sql(
        oneMember: Bool, range: String = "", delivery: Delivery = .home, keptRun: Int? = nil, candidates: String? = nil,
        keptChain: KeptChain? = nil
    ) -> String {
        // Every table is read once for the insurer and hash-joined (the Myna status probed per
        // member); `explain` narrows the
        // members to one household and the rest to one member.
        var scope =
            oneMember
            ? "AND (member_id = $3 OR household_id = (SELECT household_id FROM member WHERE insurer_number = $1 AND member_id = $3))"
            : range.isEmpty ? "" : "AND \(envelopeKey) \(range)"
        var only = oneMember ? "AND member_id = $3" : ""
        if candidates != nil {
            scope += " AND m.\(candidateFilter)"
            only = "AND \(candidateFilter)"
        }
        // Households are resolved over the sorted stream: a window over the member's envelope
        // (an nhi household shares one, and only nhi households have heads that matter) counts
        // the heads and takes the head's name and address, on the sort the stream needs anyway.
        // That gives the same values as `households` (a grouped aggregate over the heads, joined
        // back), without its second scan of the members, its hash table and its join: about
        // 0.9 s less per 270,000 members. The sort key is the envelope computed once (`hm`).
        return """
            WITH \(candidates.map { "cand AS MATERIALIZED (\($0)), cand_ids AS MATERIALIZED (SELECT array_agg(member_id) AS ids FROM cand)," } ?? "")
            \(keptRun.map { "\(keptCTE($0, chain: candidates == nil ? nil : keptChain))," } ?? "")
            hm AS (
                SELECT m.*, \(detailsKey) AS details_key, \(envelopeKey(delivery)) AS envelope
                FROM member m
                WHERE m.insurer_number = $1 \(scope)
            ),
            \(candidates == nil ? applicationCTEs(only) : candidateApplicationCTEs)
            c AS (
                -- The latest active certificate, and the end of the one covering the as-of date
                -- (they differ once a renewal starting after the as-of date has been issued).
                -- Of the certificates that ended before the as-of date, the policy only asks
                -- whether the latest one continues a special consideration: only those that
                -- could are read, each checked against the member's certificates by the index.
                -- The rest is history that grows every year (2.8 million certificates after six
                -- yearly runs of a million members) and changes no decision.
                SELECT DISTINCT ON (member_id) member_id, certificate_number, valid_from, valid_to, special_consideration, consideration_ended_on,
                       encode(printed_snapshot, 'hex') AS printed_snapshot, issued_on,
                       -- or, when larger, of the others still running (a certificate starting after the as-of
                       -- date that a later one follows: S moves past both).
                       greatest(max(valid_to) FILTER (WHERE valid_from <= $2 AND valid_to >= $2) OVER (PARTITION BY member_id),
                                max(valid_to) FILTER (WHERE valid_to >= $2) OVER (PARTITION BY member_id ORDER BY valid_from DESC, certificate_number DESC
                                                                             ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)) AS covering_to
                FROM certificate x WHERE insurer_number = $1 AND status = 'active' \(only)
                  AND (valid_to >= $2
                       OR special_consideration AND consideration_ended_on IS NULL
                          AND (valid_from, certificate_number) = (
                              SELECT y.valid_from, y.certificate_number FROM certificate y
                              WHERE y.insurer_number = x.insurer_number AND y.member_id = x.member_id AND y.status = 'active'
                              ORDER BY y.valid_from DESC, y.certificate_number DESC LIMIT 1))
                ORDER BY member_id, valid_from DESC, certificate_number DESC
            ),
            mr AS (
                -- Returned mail still open: no import changed the member's address since.
                SELECT DISTINCT r.member_id FROM mail_return r
                WHERE r.insurer_number = $1 AND r.resolved_on IS NULL AND r.returned_on <= $2 \(only.replacingOccurrences(of: "AND member_id", with: "AND r.member_id"))
                  AND NOT \(returnedAddressChanged("r"))
            ),
            \(candidates == nil ? noticeCTEs(only) : candidateNoticeCTEs)
            SELECT m.member_id, m.scheme, m.birth_date, m.qualified_on, m.disqualified_on, m.residence_expiry,
                   m.legacy_card_expiry, m.access_restricted,
                   m.s_has_card, m.s_registration, m.s_card_state, m.s_ecert_expiry, m.s_card_expiry,
                   m.a_id, m.a_kind, m.a_received,
                   m.p_on_file,
                   m.c_number, m.c_from, m.c_to, m.c_special,
                   m.en_sent,
                   m.an_last,
                   \(deliverableColumn(delivery)),
                   CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL THEN m.heads
                        WHEN m.scheme = 'nhi' THEN CASE WHEN m.household_head THEN 1 ELSE 0 END
                        ELSE 1 END,
                   m.details_key,
                   \(mailColumns(delivery)),
                   m.c_covering,
                   m.mr_open,
                   m.en_valid_to,
                   m.s_status_as_of, m.s_uses_12m, m.s_last_used_on,
                   m.a_has_basis,
                   m.c_snapshot, m.c_issued\(oneMember ? "" : ",\n" + keptOutput)
            FROM \(establishmentsAfterSort(delivery).open)(
                SELECT m.*,
                       s.has_card AS s_has_card, s.registration AS s_registration, s.card_state AS s_card_state,
                       s.ecert_expiry AS s_ecert_expiry, s.card_expiry AS s_card_expiry,
                       s.status_as_of AS s_status_as_of, s.uses_12m AS s_uses_12m, s.last_used_on AS s_last_used_on,
                       a.application_id AS a_id, a.kind AS a_kind, a.received_on AS a_received, a.has_basis AS a_has_basis,
                       p.member_id IS NOT NULL AS p_on_file,
                       c.certificate_number AS c_number, c.valid_from AS c_from, c.valid_to AS c_to,
                       c.special_consideration AND c.consideration_ended_on IS NULL AS c_special, c.covering_to AS c_covering,
                       c.printed_snapshot AS c_snapshot, c.issued_on AS c_issued,
                       en.member_id IS NOT NULL AS en_sent, en.valid_to AS en_valid_to,
                       an.last AS an_last,
                       mr.member_id IS NOT NULL AS mr_open,\(oneMember ? "" : "\n" + keptSelect(keptRun != nil))
                       -- Every member of an 'H-' envelope is nhi and of that household.
                       count(*) FILTER (WHERE m.household_head) OVER w AS heads,
                       max(m.family_name || coalesce(' ' || m.given_name, '')) FILTER (WHERE m.household_head) OVER w AS head_name,
                       max(m.postal_code) FILTER (WHERE m.household_head) OVER w AS head_postal,
                       max(m.address) FILTER (WHERE m.household_head) OVER w AS head_address,
                       max(m.address_extra) FILTER (WHERE m.household_head) OVER w AS head_extra
                FROM hm m
                LEFT JOIN LATERAL (\(latestMynaStatus)) s ON true
                LEFT JOIN a USING (member_id)
                LEFT JOIN p USING (member_id)
                LEFT JOIN c USING (member_id)
                LEFT JOIN en ON en.member_id = m.member_id AND en.details = m.details_key
                LEFT JOIN an ON an.member_id = m.member_id
                LEFT JOIN mr ON mr.member_id = m.member_id
                \(keptRun == nil ? "" : "LEFT JOIN k ON k.member_id = m.member_id")
                WINDOW w AS (PARTITION BY m.envelope ORDER BY m.member_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
            ) m\(establishmentsAfterSort(delivery).close)
            \(oneMember ? "WHERE m.member_id = $3" : "ORDER BY m.envelope, m.member_id")
            """
    }

    /// The member's Myna status (`m`: a member row): the latest snapshot marked as a change
    /// (sql/019) on or before the as-of date carries the values of the latest snapshot, so the
    /// monthly extracts that repeat it are not read. One probe of `myna_status_changes` per
    /// member, in the members' own order, instead of a hash join: the join read every snapshot
    /// of the insurer (in each half of a split read, too), kept its latest per member and
    /// hashed the wide member rows to match them, which cost about 10% more of the reader's
    /// CPU (0.19-0.21 s per half of 131016's 511,330 members; figures in the Benchmarks article).
    private static let latestMynaStatus = """
        SELECT x.has_card, x.registration, x.card_state, x.ecert_expiry, x.card_expiry, x.status_as_of, x.uses_12m, x.last_used_on
        FROM myna_status x
        WHERE x.insurer_number = m.insurer_number AND x.member_id = m.member_id AND x.status_as_of <= $2 AND x.status_changed
        ORDER BY x.status_as_of DESC LIMIT 1
        """

    /// The members of the batch form's tables (the full night's query reads every member).
    private static func applicationCTEs(_ only: String) -> String {
        """
        a AS (
            SELECT DISTINCT ON (member_id) member_id, application_id, kind, received_on, basis IS NOT NULL OR kind <> 'special_consideration' AS has_basis FROM application
            WHERE insurer_number = $1 AND status = 'approved' AND fulfilled_on IS NULL AND received_on <= $2 \(only)
            ORDER BY member_id, received_on, application_id
        ),
        p AS (
            -- An application on file (SPEC.md 2.3 [2026-12]): any kind, pending, or approved and
            -- not yet fulfilled; rejected and fulfilled ones are not. The same scan and hash
            -- join as before, over a wider filter: a flag per member, no extra column.
            SELECT DISTINCT member_id FROM application
            WHERE insurer_number = $1 AND status IN ('pending', 'approved') AND fulfilled_on IS NULL \(only)
        ),
        """
    }

    private static func noticeCTEs(_ only: String) -> String {
        """
        en AS (
            -- With the latest 有効期限 among them (SPEC.md 3 [2026-12]: nhi, attained 70).
            SELECT member_id, details, max(valid_to) AS valid_to FROM notice
            WHERE insurer_number = $1 AND kind = 'eligibility_notice' \(only)
            GROUP BY member_id, details
        ),
        an AS (
            SELECT member_id, max(sent_on) AS last FROM notice
            WHERE insurer_number = $1 AND kind = 'apply_notice' AND sent_on <= $2 \(only) GROUP BY member_id
        )
        """
    }

    /// An incremental night's members (`cand`), as one array: each table is read by its index
    /// for the sorted keys in one scan (a nested loop over the candidates hashed them for every
    /// table, then descended the index once per member in hash order).
    private static let candidateFilter = "member_id = ANY ((SELECT ids FROM cand_ids)::text[])"

    /// The two application CTEs of an incremental night from one read of the candidates'
    /// applications on file (the approved ones among them are `a`'s): one index descent per
    /// member instead of two.
    private static let candidateApplicationCTEs = """
        ap AS MATERIALIZED (
            SELECT member_id, application_id, kind, received_on, basis, status FROM application
            WHERE insurer_number = $1 AND status IN ('pending', 'approved') AND fulfilled_on IS NULL AND \(candidateFilter)
        ),
        a AS (
            SELECT DISTINCT ON (member_id) member_id, application_id, kind, received_on, basis IS NOT NULL OR kind <> 'special_consideration' AS has_basis FROM ap
            WHERE status = 'approved' AND received_on <= $2
            ORDER BY member_id, received_on, application_id
        ),
        p AS (SELECT DISTINCT member_id FROM ap),
        """

    /// The two notice CTEs of an incremental night from one read of the candidates' notices.
    private static let candidateNoticeCTEs = """
        nt AS MATERIALIZED (
            SELECT member_id, kind, details, valid_to, sent_on FROM notice
            WHERE insurer_number = $1 AND \(candidateFilter)
        ),
        en AS (
            SELECT member_id, details, max(valid_to) AS valid_to FROM nt
            WHERE kind = 'eligibility_notice' GROUP BY member_id, details
        ),
        an AS (
            SELECT member_id, max(sent_on) AS last FROM nt
            WHERE kind = 'apply_notice' AND sent_on <= $2 GROUP BY member_id
        )
        """

    /// Index of the first kept column in a batch facts row: the decision in force of `keptRun`
    /// (facts digest, review date, outcome, `{REASONS}`, S, valid_from, valid_to). The facts
    /// themselves are the columns before it (what the digest covers).
    static let keptColumn = printedSnapshotColumn + 2

    /// An incremental night's kept decisions: the latest decision of the kept run's chain of
    /// each candidate (DecisionChain.latest over `cand`, read by the decisions' key), and the
    /// kept run's as-of date.
    public struct KeptChain: Sendable {
        let latest: String
        let runAsOf: String
    }

    /// The decisions in force of the kept run, as a night compares them: S moves to this run's
    /// as-of date when it tracked the kept run's (Decision.carried). Joined to the members by
    /// hash before the sort: the kept decision travels with the member's facts, and the run
    /// holds nothing per member. `chain`: an incremental night's, of its candidates (`cand`)
    /// only, each looked up by key (the function would sort every member's first).
    private static func keptCTE(_ run: Int, chain: KeptChain?) -> String {
        guard let chain else {
            return """
                k AS (
                    SELECT member_id, facts_digest, next_review_on, outcome, reasons::text AS reasons,
                           CASE WHEN s_date = as_of THEN $2 ELSE s_date END AS s_date, valid_from, valid_to
                    FROM decision_in_force(\(run)) WHERE facts_digest IS NOT NULL
                )
                """
        }
        return """
            k AS (
                SELECT member_id, facts_digest, next_review_on, outcome, reasons::text AS reasons,
                       CASE WHEN s_date IN (as_of, \(chain.runAsOf)) THEN $2 ELSE s_date END AS s_date, valid_from, valid_to
                FROM (\(chain.latest)) d
                WHERE facts_digest IS NOT NULL
            )
            """
    }

    private static func keptSelect(_ joined: Bool) -> String {
        let names = ["facts_digest", "next_review_on", "outcome", "reasons", "s_date", "valid_from", "valid_to"]
        let types = ["bigint", "date", "text", "text", "date", "date", "date"]
        return zip(names, types).map { joined ? "k.\($0) AS k_\($0)," : "NULL::\($1) AS k_\($0)," }.joined(separator: " ")
    }

    private static let keptOutput =
        "m.k_facts_digest, m.k_next_review_on, m.k_outcome, m.k_reasons, m.k_s_date, m.k_valid_from, m.k_valid_to"

    /// A member's facts from one row of the query.
    static func facts(_ r: some FactsRow) throws -> MemberFacts {
        func required(_ d: LocalDate?) throws -> LocalDate {
            guard let d else { throw OperatorError(.internalError, "member row without birth or qualification date") }
            return d
        }
        guard let scheme = r.value(1, Scheme.self) else {
            throw OperatorError(.internalError, "member row without a known scheme")
        }
        var f = MemberFacts(scheme: scheme, birthDate: try required(r.date(2)), qualifiedOn: try required(r.date(3)))
        f.disqualifiedOn = try r.date(4)
        f.residenceExpiry = try r.date(5)
        f.legacyCardExpiry = try r.date(6)
        f.accessRestricted = r.isTrue(7)
        if !r.isNull(8), let state = r.value(10, MynaStatus.CardState.self) {
            f.myna = MynaStatus(
                hasCard: r.isTrue(8), registration: r.value(9, MynaStatus.Registration.self),
                cardState: state, ecertExpiry: try r.date(11), cardExpiry: try r.date(12),
                statusAsOf: try r.date(mynaUsageColumn), uses12m: r.int64(mynaUsageColumn + 1).map(Int.init),
                lastUsedOn: try r.date(mynaUsageColumn + 2))
        }
        if let id = r.int64(13), let kind = r.string(14).flatMap(OpenApplication.Kind.init(rawValue:)), let received = try r.date(15) {
            f.application = OpenApplication(
                id: id, kind: kind, receivedOn: received,
                hasBasis: r.isNull(applicationBasisColumn) || r.isTrue(applicationBasisColumn))
        }
        f.applicationOnFile = r.isTrue(16)
        if let n = r.int64(17), let from = try r.date(18), let to = try r.date(19) {
            f.latestCertificate = CertificateFacts(
                number: n, validFrom: from, validTo: to, active: true,
                specialConsiderationContinues: r.isTrue(20))
        }
        f.eligibilityNoticeSent = r.isTrue(21)
        f.lastApplyNotice = try r.date(22)
        // [2026-12] 'e': delivered through an establishment without a usable address (EmployerDelivery.swift).
        var throughEstablishmentWithoutAddress = false
        r.withBytes(23) { throughEstablishmentWithoutAddress = $0.count == 1 && $0[0] == UInt8(ascii: "e") }
        f.deliverable = r.isTrue(23) || throughEstablishmentWithoutAddress
        f.establishmentAddressMissing = throughEstablishmentWithoutAddress
        f.householdHeads = r.int64(24).map(Int.init) ?? 1
        f.coveringCertificateEnd = try r.date(coveringColumn)
        f.mailReturned = r.isTrue(mailReturnedColumn)
        f.eligibilityNoticeValidTo = try r.date(noticeValidToColumn)
        return f
    }

    /// The facts of a row, with [2026-12] the printed field of the latest active certificate
    /// that no longer matches the record (SPEC.md 2.5 "Printed details change").
    static func facts(_ r: some FactsRow, insurerName: String?) throws -> MemberFacts {
        var f = try facts(r)
        if f.latestCertificate != nil { f.latestCertificate!.printedChange = try printedChange(r, insurerName: insurerName) }
        return f
    }

    /// The first printed field of the latest active certificate that differs from what the
    /// member's record would print on it now (same period, same issue date, the run's insurer
    /// name); nil when none does, or the certificate kept no snapshot (issued before sql/031:
    /// treated as unchanged).
    static func printedChange(_ r: some FactsRow, insurerName: String?) throws -> PrintedSnapshot.Field? {
        guard let hex = r.string(printedSnapshotColumn), let stored = PrintedSnapshot(hex: hex),
            let from = try r.date(18), let issued = try r.date(printedSnapshotColumn + 1),
            let now = try person.snapshot(r, validFrom: from, issuedOn: issued, insurerName: insurerName)
        else { return nil }
        return stored.firstDifference(from: now)
    }

    /// Column of the eligibility-notice details in a facts row.
    static let detailsColumn = 25

    /// The facts columns the policy reads (all but the member id, the notice details and the
    /// mail columns), in the order `decision.facts` keeps them.
    static let replayColumns =
        Array(1..<detailsColumn) + [
            coveringColumn, mailReturnedColumn, noticeValidToColumn,
            mynaUsageColumn, mynaUsageColumn + 1, mynaUsageColumn + 2,
            applicationBasisColumn,
        ]

    /// `decision.facts`: the policy's columns joined by '|', empty for NULL (none of these
    /// values can be empty or hold '|': dates, numbers, codes, t/f). As a binary COPY field:
    /// its size with the length, then the field (`writeReplayFacts`).
    /// [2026-12] After the columns, one more part: the printed field that changed (empty: none).
    static func replayFactsFieldSize(_ row: CopyRow, printedChange: PrintedSnapshot.Field?) -> Int {
        var n = 4 + replayColumns.count + (printedChange?.rawValue.utf8.count ?? 0)
        for i in replayColumns { n += row.length(i) }
        return n
    }

    static func writeReplayFacts(_ row: CopyRow, printedChange: PrintedSnapshot.Field?, fieldSize: Int, to w: inout CopyBinary.Writer) {
        w.int32(Int32(fieldSize - 4))
        for (n, i) in replayColumns.enumerated() {
            if n > 0 { w.uint8(UInt8(ascii: "|")) }
            row.withField(i) { w.raw(UnsafeRawBufferPointer($0)) }
        }
        w.uint8(UInt8(ascii: "|"))
        if var name = printedChange?.rawValue { name.withUTF8 { w.raw(UnsafeRawBufferPointer($0)) } }
    }

    /// The facts a run kept for a member, back into a row `facts` reads.
    public static func replayRow(memberID: String, facts: String) -> [String?]? {
        var parts = facts.split(separator: "|", omittingEmptySubsequences: false).map { $0.isEmpty ? nil : String($0) }
        // Facts kept since sql/031 end with the printed field that changed (SPEC.md 2.5 [2026-12]).
        if parts.count == replayColumns.count + 1 { parts.removeLast() }
        // Facts kept before returned mail was tracked lack its column (none was open then);
        // facts kept before notices had a validity date lack that one; facts kept before sql/028
        // lack the usage counts' three (none were known) and the application's basis flag (NULL:
        // an open application had its basis then). Each was added at the end.
        while parts.count < replayColumns.count && parts.count >= replayColumns.count - 6 { parts.append(nil) }
        guard parts.count == replayColumns.count else { return nil }
        var row = [String?](repeating: nil, count: applicationBasisColumn + 1)
        row[0] = memberID
        for (n, i) in replayColumns.enumerated() { row[i] = parts[n] }
        return row
    }

    public static func replayFacts(memberID: String, facts: String) throws -> MemberFacts? {
        guard let row = replayRow(memberID: memberID, facts: facts) else { return nil }
        var f = try Self.facts(row)
        let parts = facts.split(separator: "|", omittingEmptySubsequences: false)
        if parts.count == replayColumns.count + 1, f.latestCertificate != nil {
            f.latestCertificate!.printedChange = PrintedSnapshot.Field(rawValue: String(parts.last!))
        }
        return f
    }
}

/// Read access to one row of the facts query: a decoded COPY row in the run, a query result in
/// `explain`.
protocol FactsRow {
    func isNull(_ i: Int) -> Bool
    func string(_ i: Int) -> String?
    func isTrue(_ i: Int) -> Bool
    func int64(_ i: Int) -> Int64?
    func date(_ i: Int) throws -> LocalDate?
    /// The column as one of the enumeration's raw values (nil for NULL or another text).
    func value<T: RawRepresentable & CaseIterable>(_ i: Int, _ type: T.Type) -> T? where T.RawValue == String
    /// The column's UTF-8 bytes (empty for NULL), without making a String.
    func withBytes(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void)
}

extension FactsRow {
    func value<T: RawRepresentable & CaseIterable>(_ i: Int, _ type: T.Type) -> T? where T.RawValue == String {
        string(i).flatMap(T.init(rawValue:))
    }
}

private func badDate(_ i: Int, _ text: String) -> OperatorError {
    OperatorError(.internalError, "the database returned \(text) for a date in column \(i + 1)")
}

extension CopyRow: FactsRow {
    func withBytes(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void) { withField(i, body) }

    /// Compared on the bytes: no String per row for the scheme and the card's state.
    func value<T: RawRepresentable & CaseIterable>(_ i: Int, _ type: T.Type) -> T? where T.RawValue == String {
        if isNull(i) { return nil }
        return withField(i) { v in T.allCases.first { $0.rawValue.utf8.elementsEqual(v) } }
    }

    func date(_ i: Int) throws -> LocalDate? {
        if isNull(i) { return nil }
        guard let d = withField(i, { DateField.parseStored($0) }) else { throw badDate(i, string(i) ?? "") }
        return d
    }
}

extension Array: FactsRow where Element == String? {
    func withBytes(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard var s = self[i] else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        s.withUTF8(body)
    }
    func isNull(_ i: Int) -> Bool { self[i] == nil }
    func string(_ i: Int) -> String? { self[i] }
    func isTrue(_ i: Int) -> Bool { self[i] == "t" }
    func int64(_ i: Int) -> Int64? { self[i].flatMap { Int64($0) } }
    func date(_ i: Int) throws -> LocalDate? {
        guard let s = self[i] else { return nil }
        guard let d = LocalDate(stored: s) else { throw badDate(i, s) }
        return d
    }
}

/// The facts query's rows as the counter (KakuninCounter) reads them: one query result row.
extension MemberFactsQuery {
    package static func facts(ofRow r: [String?], insurerName: String?) throws -> MemberFacts {
        try facts(r, insurerName: insurerName)
    }

    /// The printed snapshot of a certificate issued from this row (nil when nothing is printed).
    package static func printedSnapshot(
        ofRow r: [String?], validFrom: LocalDate, issuedOn: LocalDate,
        insurerName: String?
    ) throws -> PrintedSnapshot? {
        try person.snapshot(r, validFrom: validFrom, issuedOn: issuedOn, insurerName: insurerName)
    }
}
