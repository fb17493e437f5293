-- Issue 31 [2026-12]: the establishments feed (SPEC.md 4): the employers (事業所) of an employee
-- scheme's members, to whom certificates are delivered with employee_delivery = employer.
-- Imported like the other feeds (one row per insurer and establishment id; importing the same
-- file twice changes nothing); every change of a stored establishment is kept in
-- establishment_history by the database itself, with the import that made it.
ALTER TABLE import DROP CONSTRAINT import_feed_check;
ALTER TABLE import ADD CONSTRAINT import_feed_check
    CHECK (feed IN ('members', 'myna_status', 'applications', 'establishments'));

CREATE TABLE establishment (
    insurer_number text COLLATE "C" NOT NULL REFERENCES insurer,
    establishment_id text COLLATE "C" NOT NULL,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    postal_code text,
    address text,
    address_extra text,
    -- The department or person the envelope is addressed to (人事部 健康保険担当).
    contact text,
    created_by_import bigint NOT NULL REFERENCES import,
    updated_by_import bigint NOT NULL REFERENCES import,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (insurer_number, establishment_id)
);

CREATE TABLE establishment_history (
    history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL,
    establishment_id text COLLATE "C" NOT NULL,
    import_id bigint NOT NULL REFERENCES import,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_columns text[] NOT NULL,
    old_values jsonb NOT NULL,
    new_values jsonb NOT NULL
);
CREATE INDEX establishment_history_by_establishment ON establishment_history (insurer_number, establishment_id, history_id);

-- An establishment changes only through a running import, keeps its key, and each change of its
-- data (bookkeeping columns aside) is kept: changed columns sorted by name, old and new values.
CREATE FUNCTION establishment_change_kept() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    changed text[];
    old_values jsonb;
    new_values jsonb;
BEGIN
    IF NEW.insurer_number IS DISTINCT FROM OLD.insurer_number OR NEW.establishment_id IS DISTINCT FROM OLD.establishment_id THEN
        RAISE EXCEPTION 'establishment % keeps its insurer number and id; an import changes only its data', OLD.establishment_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM import WHERE import_id = NEW.updated_by_import AND status = 'running') THEN
        RAISE EXCEPTION 'establishment % changes only through a running import (updated_by_import)', OLD.establishment_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT array_agg(o.key ORDER BY o.key), jsonb_object_agg(o.key, o.value), jsonb_object_agg(o.key, n.value)
    INTO changed, old_values, new_values
    FROM jsonb_each(to_jsonb(OLD)) o JOIN jsonb_each(to_jsonb(NEW)) n USING (key)
    WHERE o.value IS DISTINCT FROM n.value
      AND o.key <> ALL (ARRAY['updated_by_import', 'updated_at']);
    IF changed IS NOT NULL THEN
        INSERT INTO establishment_history (insurer_number, establishment_id, import_id, changed_columns, old_values, new_values)
        VALUES (NEW.insurer_number, NEW.establishment_id, NEW.updated_by_import, changed, old_values, new_values);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER establishment_history_kept BEFORE UPDATE ON establishment
    FOR EACH ROW EXECUTE FUNCTION establishment_change_kept();
REVOKE ALL ON FUNCTION establishment_change_kept() FROM PUBLIC;

-- Returned mail of a certificate delivered through an employer (SPEC.md 7, issue 31): the
-- envelope came back from the establishment, so the return is recorded against it as well.
ALTER TABLE mail_return ADD COLUMN establishment_id text COLLATE "C";

GRANT SELECT, INSERT, UPDATE ON establishment TO kakunin_batch;
GRANT SELECT ON establishment_history TO kakunin_batch;
GRANT SELECT ON establishment, establishment_history TO kakunin_staff, kakunin_auditor;
