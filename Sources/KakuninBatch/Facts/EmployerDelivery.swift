import KakuninCore

/// [2026-12] employee_delivery = employer (事業主経由, SPEC.md 4, 5.1), in the facts query and in a
/// rebuild of a run's files: an employee member who is not in 任意継続 and whose establishment is
/// in the establishments feed gets the envelope `E-<establishment>`, addressed to the
/// establishment (its name and contact) at its address; everyone else keeps their envelope. With
/// `home` delivery the query is the same as before 2026-12.
extension MemberFactsQuery {
    public typealias Delivery = InsurerParameters.EmployeeDelivery

    /// SQL: the member row `m` (joined with its establishment `e`) is delivered through it.
    package static let throughEstablishment =
        "(m.scheme = 'employee' AND m.voluntary_continuation IS NOT TRUE AND e.establishment_id IS NOT NULL)"

    /// The member's establishment, when delivery goes through it (a rebuild of a run's files).
    static func establishmentJoin(_ delivery: Delivery) -> String {
        delivery == .home
            ? "" : "LEFT JOIN establishment e ON e.insurer_number = m.insurer_number AND e.establishment_id = m.establishment_id"
    }

    /// The establishment columns of a member row, each after a comma (`est_known`: delivered
    /// through it; the addressee (name and contact), postal code, address and address_extra);
    /// none with `home` delivery.
    static func establishmentColumns(_ delivery: Delivery) -> String {
        delivery == .employer ? ", " + establishmentValues(known: throughEstablishment) : ""
    }

    /// The establishment columns of `establishmentColumns`, `known` saying whether the member
    /// row is delivered through its establishment `e`.
    private static func establishmentValues(known: String) -> String {
        """
        \(known) AS est_known, e.name || coalesce(' ' || e.contact, '') AS est_addressee,
        e.postal_code AS est_postal, e.address AS est_address, e.address_extra AS est_extra
        """
    }

    /// The envelope key of a member row `m` of the insurer $1 in the facts query, the first sort
    /// key of the stream. With `employer` delivery whether the establishment is known is a
    /// hashed lookup of the insurer's establishment ids (one text column: hashing the pair of
    /// columns cost about 70 ms more per half of 400,000 members): the member rows are not
    /// joined with the establishment before the sort, so the sorted rows stay as narrow as with
    /// `home` (`establishmentsAfterSort`).
    static func envelopeKey(_ delivery: Delivery) -> String {
        guard delivery == .employer else { return envelopeKey }
        return """
            (CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL THEN 'H-' || m.household_id
                  WHEN m.scheme = 'employee' AND m.voluntary_continuation IS NOT TRUE
                       AND m.establishment_id IN (SELECT establishment_id FROM establishment WHERE insurer_number = $1)
                  THEN 'E-' || m.establishment_id ELSE 'M-' || m.member_id END)
            """
    }

    /// With `employer` delivery, the facts query's sorted member rows (`open` + rows + `close`,
    /// alias `m`) with the establishment's columns (`establishmentValues`), joined on the
    /// envelope key after the sort: the establishment of an `E-` envelope is the one of its key,
    /// and a merge join with the few establishments keeps the envelope order (no second sort).
    /// Joined before the sort, these columns made each sorted row about a third wider
    /// (figures in the Benchmarks article). Nothing with `home`.
    static func establishmentsAfterSort(_ delivery: Delivery) -> (open: String, close: String) {
        guard delivery == .employer else { return ("", "") }
        return (
            "(SELECT m.*, \(establishmentValues(known: "e.establishment_id IS NOT NULL")) FROM ",
            " LEFT JOIN establishment e ON e.insurer_number = $1 AND 'E-' || e.establishment_id = m.envelope) m"
        )
    }

    /// The facts row's `deliverable` column: `t`/`f` (the addressee has a usable postal code and
    /// address) and, with `employer` delivery, `e` for a member delivered through an
    /// establishment without one (held with ESTABLISHMENT_ADDRESS_MISSING).
    static func deliverableColumn(_ delivery: Delivery) -> String {
        let own = """
            CASE WHEN m.scheme = 'nhi' AND m.household_id IS NOT NULL
                 THEN \(isPostalCode("m.head_postal")) AND coalesce(btrim(m.head_address), '') <> ''
                 ELSE \(isPostalCode("m.postal_code")) AND coalesce(btrim(m.address), '') <> ''
            END
            """
        guard delivery == .employer else { return own }
        let establishment = "\(isPostalCode("m.est_postal")) AND coalesce(btrim(m.est_address), '') <> ''"
        return """
            CASE WHEN m.est_known THEN CASE WHEN \(establishment) THEN 't' ELSE 'e' END
                 WHEN \(own) THEN 't' WHEN NOT \(own) THEN 'f' END
            """
    }

    /// SQL: the address that returned mail `r` (a mail_return row) went to has changed since it
    /// was recorded: the member's (postal code, address), or for mail delivered through an
    /// establishment (`r.establishment_id`) the establishment's, or the member's establishment
    /// or 任意継続 (their mail then goes elsewhere). The run mails such a member again.
    package static func returnedAddressChanged(_ r: String) -> String {
        """
        (CASE WHEN \(r).establishment_id IS NULL
              THEN EXISTS (SELECT 1 FROM member_history mh
                           WHERE mh.insurer_number = \(r).insurer_number AND mh.member_id = \(r).member_id AND mh.changed_at > \(r).recorded_at
                             AND mh.changed_columns && ARRAY['postal_code', 'address', 'address_extra'])
              ELSE EXISTS (SELECT 1 FROM establishment_history eh
                           WHERE eh.insurer_number = \(r).insurer_number AND eh.establishment_id = \(r).establishment_id
                             AND eh.changed_at > \(r).recorded_at AND eh.changed_columns && ARRAY['postal_code', 'address', 'address_extra'])
                   OR EXISTS (SELECT 1 FROM member_history mh
                              WHERE mh.insurer_number = \(r).insurer_number AND mh.member_id = \(r).member_id AND mh.changed_at > \(r).recorded_at
                                AND mh.changed_columns && ARRAY['establishment_id', 'voluntary_continuation'])
         END)
        """
    }
}
