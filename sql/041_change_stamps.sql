-- Issue 34: an incremental night reads the facts of the members that can have changed only
-- (candidates), instead of every member's. What changed is known to the database itself, so no
-- writer can leave a change out (imports, applications, counter issues and voids, returned
-- mail, staff work, the run's own documents, a hand-written UPDATE):
--
--   * every row a member's facts are read from carries the transaction that last wrote it,
--     `changed_xact` (xid8). An INSERT takes it from the column's default,
--     pg_current_xact_id() (a STABLE function: COPY keeps loading rows in batches); an UPDATE
--     gets it from a BEFORE UPDATE row trigger that sets it whatever the statement wrote.
--     member keeps the default it already had (created_xact, sql/012) for inserts; its
--     changed_xact stays NULL until a first update.
--   * a DELETE, and an update that takes a member out of a household or unmarks a Myna
--     snapshot (rows the facts no longer read), leave a row in fact_change.
--
-- A row changed since a run is one whose transaction the run's snapshot (run.facts_snapshot,
-- the snapshot its facts were read in) did not see. incremental_candidates() lists them with
-- the members whose decision in force is due for review, and every member of their nhi
-- households (a household's members read each other's head and address).
--
-- What a first load and a first night pay for it (the cost that kept an earlier version out):
-- nothing but the stamp's 8 bytes per row. No index is built on a stamp, a member or a review
-- date, and no table is written per member: the candidates are found by one scan of each
-- table comparing a stamp (a few hundred milliseconds a million rows), and the members due for
-- review by one scan of the decisions in force's chain (the base run's and later ones').
ALTER TABLE myna_status ADD COLUMN changed_xact xid8 DEFAULT pg_current_xact_id();
ALTER TABLE application ADD COLUMN changed_xact xid8 DEFAULT pg_current_xact_id();
ALTER TABLE certificate ADD COLUMN changed_xact xid8 DEFAULT pg_current_xact_id();
ALTER TABLE notice ADD COLUMN changed_xact xid8 DEFAULT pg_current_xact_id();
ALTER TABLE mail_return ADD COLUMN changed_xact xid8 DEFAULT pg_current_xact_id();
ALTER TABLE establishment ADD COLUMN changed_xact xid8 DEFAULT pg_current_xact_id();
ALTER TABLE member ADD COLUMN changed_xact xid8;

-- member_history keeps changes of member data: the stamp is bookkeeping, like row_digest
-- (sql/017's function, with changed_xact among the columns it leaves out).
CREATE OR REPLACE FUNCTION member_changes_kept() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp
SET enable_mergejoin = off SET jit = off SET work_mem = '256MB' AS $$
DECLARE
    stray bigint;
    changed text;
    old_values text;
    new_values text;
BEGIN
    SELECT n.updated_by_import INTO stray FROM (SELECT DISTINCT updated_by_import FROM new_rows) n
    WHERE NOT EXISTS (SELECT 1 FROM import WHERE import_id = n.updated_by_import AND status = 'running')
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'members change only through a running import; import % is not running', stray
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT string_agg(format('CASE WHEN o.%1$I IS DISTINCT FROM n.%1$I THEN %1$L END', a), ', ' ORDER BY a),
           string_agg(format('CASE WHEN o.%1$I IS DISTINCT FROM n.%1$I THEN jsonb_build_object(%1$L, o.%1$I) ELSE ''{}'' END', a), ' || ' ORDER BY a),
           string_agg(format('CASE WHEN o.%1$I IS DISTINCT FROM n.%1$I THEN jsonb_build_object(%1$L, n.%1$I) ELSE ''{}'' END', a), ' || ' ORDER BY a)
    INTO changed, old_values, new_values
    FROM (SELECT attname::text AS a FROM pg_attribute
          WHERE attrelid = 'kakunin.member'::regclass AND attnum > 0 AND NOT attisdropped
            AND attname <> ALL (ARRAY['updated_by_import', 'updated_at', 'row_digest', 'changed_xact'])) c;
    EXECUTE format($q$
        INSERT INTO member_history (insurer_number, member_id, import_id, changed_columns, old_values, new_values)
        SELECT n.insurer_number, n.member_id, n.updated_by_import, d.changed, %2$s, %3$s
        FROM old_rows o JOIN new_rows n ON n.insurer_number = o.insurer_number AND n.member_id = o.member_id
        CROSS JOIN LATERAL (SELECT array_remove(ARRAY[%1$s], NULL) AS changed) d
        WHERE cardinality(d.changed) > 0
        $q$, changed, old_values, new_values);
    RETURN NULL;
END $$;

-- Changes the facts cannot show on the changed row itself: deleted rows, the household a
-- member left, a Myna snapshot no longer marked as a change.
CREATE TABLE fact_change (
    insurer_number text NOT NULL,
    member_id text NOT NULL,
    household_id text,
    changed_xact xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX fact_change_since ON fact_change (insurer_number, changed_xact);
REVOKE ALL ON fact_change FROM PUBLIC;
GRANT SELECT ON fact_change TO kakunin_batch;
GRANT SELECT ON fact_change TO kakunin_auditor;

CREATE FUNCTION fact_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    NEW.changed_xact := pg_current_xact_id();
    -- (Each table's own columns are named only under its own name: PL/pgSQL resolves a
    -- record's field when the expression first runs.)
    IF TG_TABLE_NAME = 'member' THEN
        IF OLD.household_id IS DISTINCT FROM NEW.household_id AND OLD.household_id IS NOT NULL THEN
            INSERT INTO fact_change (insurer_number, member_id, household_id) VALUES (OLD.insurer_number, OLD.member_id, OLD.household_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'myna_status' THEN
        IF OLD.status_changed AND NOT NEW.status_changed THEN
            INSERT INTO fact_change (insurer_number, member_id) VALUES (OLD.insurer_number, OLD.member_id);
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION fact_rows_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'member' THEN
        INSERT INTO fact_change (insurer_number, member_id, household_id) SELECT insurer_number, member_id, household_id FROM gone;
    ELSIF TG_TABLE_NAME = 'establishment' THEN
        INSERT INTO fact_change (insurer_number, member_id)
        SELECT m.insurer_number, m.member_id FROM member m JOIN gone g USING (insurer_number, establishment_id);
    ELSE
        INSERT INTO fact_change (insurer_number, member_id) SELECT insurer_number, member_id FROM gone;
    END IF;
    RETURN NULL;
END $$;

-- Named to fire after every other BEFORE UPDATE trigger of the table (alphabetical order), on
-- any update that changes the row.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['member', 'myna_status', 'application', 'certificate', 'notice', 'mail_return', 'establishment'] LOOP
        EXECUTE format('CREATE TRIGGER zz_fact_changed BEFORE UPDATE ON %I FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) '
                       'EXECUTE FUNCTION fact_changed()', t);
        EXECUTE format('CREATE TRIGGER zz_fact_rows_deleted AFTER DELETE ON %I REFERENCING OLD TABLE AS gone '
                       'FOR EACH STATEMENT EXECUTE FUNCTION fact_rows_deleted()', t);
    END LOOP;
    -- The tables written a few rows at a time (never loaded in bulk) take the stamp on INSERT
    -- from the trigger too: a statement cannot name an older one. (member, myna_status,
    -- certificate and notice are loaded by COPY or by the run in bulk: a row trigger on INSERT
    -- would cost them a function call per row; their stamp is the column's default.)
    FOREACH t IN ARRAY ARRAY['application', 'mail_return', 'establishment'] LOOP
        EXECUTE format('CREATE TRIGGER zz_fact_stamped BEFORE INSERT ON %I FOR EACH ROW EXECUTE FUNCTION fact_changed()', t);
    END LOOP;
END $$;

-- The members an incremental night reads, in the snapshot it reads them in: those whose facts
-- can differ from what the previous run p_previous read (a row written by a transaction its
-- snapshot did not see; a snapshot, application or returned mail dated after its as-of date and
-- not after p_as_of), those whose decision in force is due for review by p_as_of, and every member of their nhi households (the facts of a
-- household's members are read together: each one's row shows the household's head).
-- A member without a decision in force was either inserted since p_previous (a change) or read
-- by every run since the base run; the run's report checks that every member is accounted for.
CREATE FUNCTION incremental_candidates(p_insurer text, p_previous bigint, p_as_of date)
RETURNS TABLE (member_id text)
LANGUAGE plpgsql STABLE SET search_path = kakunin, pg_temp AS $$
DECLARE
    snap pg_snapshot;
    since xid8;
    prev_as_of date;
    base_run bigint;
    base_as_of date;
BEGIN
    SELECT r.facts_snapshot, r.as_of, b.run_id, b.as_of INTO snap, prev_as_of, base_run, base_as_of
    FROM run r JOIN run b ON b.run_id = coalesce((r.counts->>'base_run_id')::bigint, r.run_id)
    WHERE r.run_id = p_previous AND r.insurer_number = p_insurer;
    IF snap IS NULL THEN
        RAISE EXCEPTION 'run % of insurer % kept no snapshot of its facts: the next run must be full', p_previous, p_insurer
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    since := pg_snapshot_xmin(snap);
    RETURN QUERY
    WITH changed AS MATERIALIZED (
        SELECT m.member_id FROM member m
        WHERE m.insurer_number = p_insurer AND coalesce(m.changed_xact, m.created_xact) >= since
          AND NOT pg_visible_in_snapshot(coalesce(m.changed_xact, m.created_xact), snap)
        UNION ALL SELECT f.member_id FROM fact_change f
        WHERE f.insurer_number = p_insurer AND f.changed_xact >= since AND NOT pg_visible_in_snapshot(f.changed_xact, snap)
        UNION ALL SELECT s.member_id FROM myna_status s
        WHERE s.insurer_number = p_insurer AND s.status_changed
          AND (s.changed_xact >= since AND NOT pg_visible_in_snapshot(s.changed_xact, snap)
               OR s.status_as_of > prev_as_of AND s.status_as_of <= p_as_of)
        UNION ALL SELECT a.member_id FROM application a
        WHERE a.insurer_number = p_insurer
          AND (a.changed_xact >= since AND NOT pg_visible_in_snapshot(a.changed_xact, snap)
               OR a.received_on > prev_as_of AND a.received_on <= p_as_of)
        UNION ALL SELECT c.member_id FROM certificate c
        WHERE c.insurer_number = p_insurer AND c.changed_xact >= since AND NOT pg_visible_in_snapshot(c.changed_xact, snap)
        UNION ALL SELECT n.member_id FROM notice n
        WHERE n.insurer_number = p_insurer AND n.changed_xact >= since AND NOT pg_visible_in_snapshot(n.changed_xact, snap)
        UNION ALL SELECT r.member_id FROM mail_return r
        WHERE r.insurer_number = p_insurer
          AND (r.changed_xact >= since AND NOT pg_visible_in_snapshot(r.changed_xact, snap)
               OR r.returned_on > prev_as_of AND r.returned_on <= p_as_of)
        -- An establishment's name or address is read by its employees' facts and returned mail.
        UNION ALL SELECT m.member_id FROM establishment e JOIN member m USING (insurer_number, establishment_id)
        WHERE e.insurer_number = p_insurer AND e.changed_xact >= since AND NOT pg_visible_in_snapshot(e.changed_xact, snap)
        UNION ALL SELECT r.member_id FROM establishment e JOIN mail_return r USING (insurer_number, establishment_id)
        WHERE e.insurer_number = p_insurer AND e.changed_xact >= since AND NOT pg_visible_in_snapshot(e.changed_xact, snap)
        -- Due for review: a decision of the chain decision_in_force(p_previous) reads (sql/033) whose
        -- review date has come and that no later run of the chain superseded (only runs after
        -- the base run can: their rows are the few a night or a full run that is not a base
        -- run writes, hashed once).
        UNION ALL SELECT x.member_id FROM decision x
        WHERE x.insurer_number = p_insurer AND x.as_of BETWEEN base_as_of AND prev_as_of
          AND x.run_id BETWEEN base_run AND p_previous AND x.next_review_on <= p_as_of
          AND NOT EXISTS (SELECT 1 FROM decision y
                          WHERE y.insurer_number = p_insurer AND y.as_of BETWEEN base_as_of AND prev_as_of
                            AND y.run_id > base_run AND y.run_id <= p_previous
                            AND y.member_id = x.member_id AND y.run_id > x.run_id)
    ),
    households AS (
        SELECT m.household_id FROM member m JOIN changed c ON c.member_id = m.member_id
        WHERE m.insurer_number = p_insurer AND m.household_id IS NOT NULL
        UNION SELECT f.household_id FROM fact_change f
        WHERE f.insurer_number = p_insurer AND f.household_id IS NOT NULL AND f.changed_xact >= since
          AND NOT pg_visible_in_snapshot(f.changed_xact, snap)
    )
    SELECT c.member_id FROM changed c
    UNION
    SELECT m.member_id FROM member m JOIN households h USING (household_id)
    WHERE m.insurer_number = p_insurer AND m.scheme = 'nhi';
END $$;
REVOKE ALL ON FUNCTION incremental_candidates(text, bigint, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION incremental_candidates(text, bigint, date) TO kakunin_batch;
