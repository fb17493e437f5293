-- Issue 15: a re-import that changes many members (an insurer renumbering its branches, the
-- yearly copay review) spent about 200 s per million changed members in the row trigger of
-- sql/007/016: a PL/pgSQL call, a query on `import` and two whole-row jsonb conversions
-- (about 20 µs each) per member. The same rules now hold per statement:
--
--  * A row trigger, whose WHEN costs nothing when the change is allowed, refuses an update
--    that does not name a new import in updated_by_import, or that changes a member's key.
--  * One trigger per statement checks that every import named is running, and keeps every
--    change in member_history with one INSERT … SELECT over the statement's old and new rows
--    (transition tables): only the changed columns are converted to jsonb.
--
-- member_history rows are the same as before: changed_columns sorted by name, old_values and
-- new_values holding exactly those columns; updated_by_import, updated_at and row_digest are
-- bookkeeping, not member data. The columns are read from the catalog at each statement, so a
-- column added to member later is kept in the history without changing this function.
DROP TRIGGER member_history_kept ON member;
DROP FUNCTION member_change_history();

CREATE FUNCTION member_change_refused() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF NEW.insurer_number IS DISTINCT FROM OLD.insurer_number OR NEW.member_id IS DISTINCT FROM OLD.member_id THEN
        RAISE EXCEPTION 'member % keeps its insurer number and member id; an import changes only its data', OLD.member_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'member % changes only through a running import (updated_by_import)', OLD.member_id
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER member_change_checked BEFORE UPDATE ON member FOR EACH ROW
    WHEN (NEW.updated_by_import IS NULL OR NEW.updated_by_import IS NOT DISTINCT FROM OLD.updated_by_import
          OR NEW.insurer_number IS DISTINCT FROM OLD.insurer_number OR NEW.member_id IS DISTINCT FROM OLD.member_id)
    EXECUTE FUNCTION member_change_refused();

-- The old and new rows are paired by key with a hash join: the transition tables have no
-- statistics, and the planner otherwise sorts both (twice as slow at a million members). JIT
-- compilation gains nothing here and cost about 2 s per statement.
CREATE FUNCTION member_changes_kept() RETURNS trigger
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
            AND attname <> ALL (ARRAY['updated_by_import', 'updated_at', 'row_digest'])) c;
    EXECUTE format($q$
        INSERT INTO member_history (insurer_number, member_id, import_id, changed_columns, old_values, new_values)
        SELECT n.insurer_number, n.member_id, n.updated_by_import, d.changed, %2$s, %3$s
        FROM old_rows o JOIN new_rows n ON n.insurer_number = o.insurer_number AND n.member_id = o.member_id
        CROSS JOIN LATERAL (SELECT array_remove(ARRAY[%1$s], NULL) AS changed) d
        WHERE cardinality(d.changed) > 0
        $q$, changed, old_values, new_values);
    RETURN NULL;
END $$;
CREATE TRIGGER member_history_kept AFTER UPDATE ON member
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION member_changes_kept();
