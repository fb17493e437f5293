-- Counter issuance (即日交付, SPEC.md 7) and numbering that never waits for a nightly run.
--
-- Before: certificate numbers came from insurer.next_certificate_number, and a run held that row
-- locked from before reading its facts until its commit, minutes on a large insurer; a counter
-- issue would have waited that long. Now the counter is its own row, and nobody holds it for
-- longer than one short statement's transaction:
--   * a run reserves a block of numbers (as many as it has members) at its start, in a
--     transaction of its own, and records the block on its run row, so that a rerun after a crash
--     numbers with the same block; after its commit it gives back the unused tail, if nobody has
--     taken a number since (otherwise the tail stays unused: numbers are never reused);
--   * a counter issue takes the next number in its own transaction.
-- Both also take the insurer's "issue" advisory lock (transaction-scoped): the counter for its
-- whole (short) transaction, the run only for the last moment before its commit, when it checks
-- that no certificate issued at the counter since its snapshot overlaps one it is about to issue.
CREATE TABLE certificate_counter (
    insurer_number text COLLATE "C" PRIMARY KEY REFERENCES insurer,
    next_number bigint NOT NULL DEFAULT 1 CHECK (next_number > 0)
);
INSERT INTO certificate_counter (insurer_number, next_number) SELECT insurer_number, next_certificate_number FROM insurer;
ALTER TABLE insurer DROP COLUMN next_certificate_number;

CREATE FUNCTION insurer_certificate_counter() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    INSERT INTO certificate_counter (insurer_number) VALUES (NEW.insurer_number) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER insurer_has_counter AFTER INSERT ON insurer FOR EACH ROW EXECUTE FUNCTION insurer_certificate_counter();

-- The block of numbers a run reserved: [numbers_from, numbers_to).
ALTER TABLE run ADD COLUMN numbers_from bigint, ADD COLUMN numbers_to bigint;

-- Certificates handed over at the counter have no run; the person who issued them is recorded.
ALTER TABLE certificate ADD COLUMN issued_by text;
CREATE INDEX certificate_at_counter ON certificate (insurer_number, member_id) WHERE run_id IS NULL;

-- A counter issue's event is followed in the log by the certificate it issued.
CREATE OR REPLACE FUNCTION audit_seal() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    n bigint;
    ids bigint[];
    ev audit_event;
    added bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kakunin.audit_seal'));
    SELECT coalesce(max(log_index) + 1, 0) INTO n FROM audit_log;
    WITH gone AS (DELETE FROM audit_pending RETURNING event_id)
    SELECT array_agg(event_id ORDER BY event_id) INTO ids FROM gone;
    IF ids IS NULL THEN RETURN n; END IF;
    FOR ev IN SELECT * FROM audit_event WHERE event_id = ANY (ids) ORDER BY event_id LOOP
        INSERT INTO audit_log (log_index, event_id) VALUES (n, ev.event_id);
        n := n + 1;
        IF ev.action = 'run_decided' AND ev.run_id IS NOT NULL THEN
            INSERT INTO audit_log (log_index, insurer_number, certificate_number)
            SELECT n - 1 + row_number() OVER (ORDER BY c.certificate_number), c.insurer_number, c.certificate_number
            FROM certificate c
            WHERE c.run_id = ev.run_id AND c.insurer_number = ev.insurer_number;
            GET DIAGNOSTICS added = ROW_COUNT;
            n := n + added;
        ELSIF ev.action = 'counter_issued' THEN
            INSERT INTO audit_log (log_index, insurer_number, certificate_number)
            SELECT n, c.insurer_number, c.certificate_number FROM certificate c
            WHERE c.insurer_number = ev.insurer_number AND c.certificate_number = (ev.details->>'certificate_number')::bigint
              AND c.run_id IS NULL;
            GET DIAGNOSTICS added = ROW_COUNT;
            n := n + added;
        END IF;
    END LOOP;
    RETURN n;
END $$;

GRANT SELECT, UPDATE ON certificate_counter TO kakunin_batch, kakunin_staff;
GRANT SELECT ON certificate_counter TO kakunin_auditor;
GRANT UPDATE (numbers_from, numbers_to) ON run TO kakunin_batch;
GRANT INSERT ON certificate TO kakunin_staff;
GRANT UPDATE (special_consideration) ON certificate TO kakunin_staff;

-- Row-level security: a staff login sees and changes only the insurers it is scoped to.
-- A login is scoped by rows here (kakunin staff scope); a staff login without any row sees no
-- member at all. Batch and auditor roles see every row. PostgreSQL refuses COPY FROM into a table
-- with row-level security for a role the policies apply to, so a batch login is created with
-- BYPASSRLS (README, "Database roles"); the owner is not subject to the policies either.
CREATE TABLE staff_scope (
    login name NOT NULL,
    insurer_number text COLLATE "C" NOT NULL REFERENCES insurer,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by text NOT NULL DEFAULT session_user,
    PRIMARY KEY (login, insurer_number)
);
GRANT SELECT ON staff_scope TO kakunin_staff, kakunin_auditor, kakunin_batch;

-- True when the session may see this insurer's members: always for roles the policies do not
-- scope, and for a staff login only when it is scoped to the insurer.
CREATE FUNCTION insurer_visible(p_insurer text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT r.rolsuper OR r.rolbypassrls
        OR pg_has_role(current_user, 'kakunin_batch', 'USAGE') OR pg_has_role(current_user, 'kakunin_auditor', 'USAGE')
        OR NOT pg_has_role(current_user, 'kakunin_staff', 'USAGE')
        OR EXISTS (SELECT 1 FROM staff_scope s WHERE s.login = current_user AND s.insurer_number = p_insurer)
    FROM pg_roles r WHERE r.rolname = current_user
$$;
GRANT EXECUTE ON FUNCTION insurer_visible(text) TO PUBLIC;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['member', 'myna_status', 'application', 'certificate', 'notice', 'decision', 'mail_return',
                             'member_history', 'audit_event'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        -- The scope is read once per statement (an InitPlan), not once per row.
        EXECUTE format($p$CREATE POLICY staff_scoped ON %I TO kakunin_staff
                          USING (insurer_number IN (SELECT s.insurer_number FROM staff_scope s WHERE s.login = current_user))
                          WITH CHECK (insurer_number IN (SELECT s.insurer_number FROM staff_scope s WHERE s.login = current_user))$p$, t);
        EXECUTE format('CREATE POLICY unscoped ON %I TO kakunin_batch, kakunin_auditor USING (true) WITH CHECK (true)', t);
    END LOOP;
END $$;
-- Events about no insurer (e.g. a seal) are not personal data.
DROP POLICY staff_scoped ON audit_event;
CREATE POLICY staff_scoped ON audit_event TO kakunin_staff
    USING (insurer_number IS NULL OR insurer_number IN (SELECT s.insurer_number FROM staff_scope s WHERE s.login = current_user));
-- The log's entries are read through a view with its owner's rights, around the policies: it is
-- for auditors (inclusion proofs), not counter staff.
REVOKE SELECT ON audit_entries, audit_log FROM kakunin_staff;
