-- Re-importing an unchanged extract (issue 15): each member keeps a digest of the data the last
-- import stored for it, the first 16 bytes of SHA-256 over the member's non-key columns as the
-- importer sent them through COPY. A re-import compares digests instead of 22 columns, so
-- finding the few changed members of a million costs a hash join on two small columns.
-- NULL (members stored before this migration): the importer compares the columns themselves,
-- and stores the digest without recording a change when they are equal.
ALTER TABLE member ADD COLUMN row_digest bytea;

-- The digest is bookkeeping, not member data: member_history records changes of data only.
CREATE OR REPLACE FUNCTION member_change_history() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF NEW.updated_by_import IS NULL OR NEW.updated_by_import IS NOT DISTINCT FROM OLD.updated_by_import
       OR NOT EXISTS (SELECT 1 FROM import WHERE import_id = NEW.updated_by_import AND status = 'running') THEN
        RAISE EXCEPTION 'member % changes only through a running import (updated_by_import)', OLD.member_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO member_history (insurer_number, member_id, import_id, changed_columns, old_values, new_values)
    SELECT NEW.insurer_number, NEW.member_id, NEW.updated_by_import, array_agg(o.key ORDER BY o.key),
           jsonb_object_agg(o.key, o.value), jsonb_object_agg(o.key, n.value)
    FROM jsonb_each(to_jsonb(OLD)) o JOIN jsonb_each(to_jsonb(NEW)) n USING (key)
    WHERE o.value IS DISTINCT FROM n.value
      AND o.key <> ALL (ARRAY['updated_by_import', 'updated_at', 'row_digest'])
    HAVING count(*) > 0;
    RETURN NEW;
END $$;

-- A first load into an empty member table builds its keys and indexes once after the COPY (a
-- sort each) instead of row by row: at a million members the load takes about half the time.
-- The primary key is built after the rows too: a duplicate key in the file then fails that
-- build (unique_violation), exactly as it failed the COPY, and the importer falls back to the
-- staged merge. The functions run as the owner, so that the batch role needs no right to alter
-- tables; the statements that restore what was dropped wait in member_deferred_ddl, which only
-- these functions write. Everything happens inside the import's transaction: a failed or
-- killed import rolls the dropped keys and indexes back with the rows.
CREATE TABLE member_deferred_ddl (position int PRIMARY KEY, statement text NOT NULL);
REVOKE ALL ON member_deferred_ddl FROM PUBLIC;

CREATE FUNCTION member_bulk_load_begin() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    x record;
    n int := 0;
BEGIN
    IF EXISTS (SELECT 1 FROM member) THEN RETURN false; END IF;
    LOCK TABLE member IN ACCESS EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM member) THEN RETURN false; END IF;
    -- Foreign keys that reference member (their tables are empty too) go first and come back last.
    FOR x IN SELECT conname, conrelid::regclass AS rel, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE confrelid = 'member'::regclass AND contype = 'f' ORDER BY conname LOOP
        INSERT INTO member_deferred_ddl VALUES (1000 + n, format('ALTER TABLE %s ADD CONSTRAINT %I %s', x.rel, x.conname, x.def));
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', x.rel, x.conname);
        n := n + 1;
    END LOOP;
    FOR x IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE conrelid = 'member'::regclass AND contype IN ('p', 'u') ORDER BY contype, conname LOOP
        INSERT INTO member_deferred_ddl VALUES (n, format('ALTER TABLE member ADD CONSTRAINT %I %s', x.conname, x.def));
        EXECUTE format('ALTER TABLE member DROP CONSTRAINT %I', x.conname);
        n := n + 1;
    END LOOP;
    FOR x IN SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'member'::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
             ORDER BY c.relname LOOP
        INSERT INTO member_deferred_ddl VALUES (100 + n, x.def);
        EXECUTE format('DROP INDEX %I', x.relname);
        n := n + 1;
    END LOOP;
    RETURN true;
END $$;

CREATE FUNCTION member_bulk_load_end() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE x record;
BEGIN
    PERFORM set_config('maintenance_work_mem', '512MB', true);
    FOR x IN SELECT statement FROM member_deferred_ddl ORDER BY position LOOP
        EXECUTE x.statement;
    END LOOP;
    DELETE FROM member_deferred_ddl;
END $$;
REVOKE ALL ON FUNCTION member_bulk_load_begin(), member_bulk_load_end() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION member_bulk_load_begin(), member_bulk_load_end() TO kakunin_batch;
