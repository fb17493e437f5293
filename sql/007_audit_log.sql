-- The audit trail as an append-only log an auditor can verify without trusting the database
-- (SPEC.md 8, issue 11).
--
-- Before: each event was linked to the one before it by a trigger holding an advisory lock until
-- its transaction ended: writers queued behind a nightly run, and events took their ids before
-- the lock, so concurrent writers left the chain linked in one order and verified in another.
--
-- Now: events are only written through audit_append (SECURITY DEFINER: it sets actor, time and
-- client itself; the roles hold no INSERT), without any lock. A short, separate step, audit_seal,
-- gives committed events their positions in the log (audit_log) in the order they became
-- visible, i.e. by commit; a sealed run_decided event is followed by one entry per certificate
-- the run issued. Leaves and the Merkle tree follow RFC 6962/9162; checkpoints are signed with an
-- Ed25519 key kept outside the database.

DROP TRIGGER audit_event_chain ON audit_event;
DROP FUNCTION audit_event_chain();
-- Events written before keep their chain hashes as history; new events carry none.
ALTER TABLE audit_event ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL;

-- Refuses any change; a TRUNCATE too. Only the owner can disable it, which checkpoints catch.
CREATE FUNCTION audit_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% rows cannot be changed or deleted', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_event_immutable BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_immutable();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_immutable();

-- Events committed but not yet in the log.
CREATE TABLE audit_pending (event_id bigint PRIMARY KEY);
INSERT INTO audit_pending SELECT event_id FROM audit_event;

-- The log: one entry per position. An entry is an audit event or a certificate issued. No hash
-- is stored: whoever checks (a checkpoint, verify, a proof) hashes the entries' contents, so
-- sealing costs only the positions and a stored hash could never be trusted anyway.
CREATE TABLE audit_log (
    log_index bigint PRIMARY KEY CHECK (log_index >= 0),
    event_id bigint UNIQUE,
    insurer_number text COLLATE "C",
    certificate_number bigint,
    CHECK ((event_id IS NULL) <> (certificate_number IS NULL))
);
CREATE UNIQUE INDEX audit_log_certificate ON audit_log (insurer_number, certificate_number) WHERE certificate_number IS NOT NULL;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_immutable();

-- Checkpoints as signed (the signed text is kept whole; auditors keep their own copies).
CREATE TABLE audit_checkpoint (
    checkpoint_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    log_size bigint NOT NULL,
    root_hash bytea NOT NULL,
    -- The complete subtrees at the log's end ([[size, hex], ...]): the next checkpoint goes on
    -- from here. Nothing trusts it blindly: verify recomputes every leaf.
    frontier jsonb NOT NULL,
    signed_text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL DEFAULT session_user
);
CREATE TRIGGER audit_checkpoint_immutable BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_immutable();

-- The bytes of an entry (the leaf is SHA-256(0x00 || these bytes, UTF-8)): canonical JSON.
CREATE FUNCTION audit_event_entry(e audit_event) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = kakunin, pg_temp AS $$
    SELECT jsonb_build_object(
        'type', 'event', 'event_id', e.event_id,
        'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor', e.actor, 'client', e.host, 'action', e.action, 'insurer_number', e.insurer_number,
        'member_id', e.member_id, 'run_id', e.run_id, 'import_id', e.import_id, 'details', e.details)::text
$$;

-- A certificate's entry covers what never changes once it is issued.
CREATE FUNCTION audit_certificate_entry(c certificate) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = kakunin, pg_temp AS $$
    SELECT jsonb_build_object(
        'type', 'certificate_issued', 'insurer_number', c.insurer_number, 'certificate_number', c.certificate_number,
        'member_id', c.member_id, 'run_id', c.run_id, 'kind', c.kind, 'reasons', to_jsonb(c.reasons),
        'valid_from', c.valid_from::text, 'valid_to', c.valid_to::text, 'issued_on', c.issued_on::text,
        'replaces_certificate_number', c.replaces_certificate_number, 'application_id', c.application_id)::text
$$;

-- Every entry in log order with its bytes (what verification recomputes).
CREATE VIEW audit_entries AS
    SELECT l.log_index,
           CASE WHEN l.event_id IS NOT NULL THEN audit_event_entry(e) ELSE audit_certificate_entry(c) END AS entry
    FROM audit_log l
    LEFT JOIN audit_event e ON e.event_id = l.event_id
    LEFT JOIN certificate c ON c.insurer_number = l.insurer_number AND c.certificate_number = l.certificate_number;

-- The one way to write an event: actor (the session's login role), time and client are set
-- here, not by the caller. Takes no lock: writers never wait for each other.
CREATE FUNCTION audit_append(p_action text, p_insurer text, p_member text, p_run bigint, p_import bigint, p_details jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE id bigint;
BEGIN
    IF p_action IS NULL OR p_action !~ '^[a-z_]{1,40}$' THEN
        RAISE EXCEPTION 'audit action must be a lower-case word' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO audit_event (action, insurer_number, member_id, run_id, import_id, details, actor, host, occurred_at)
    VALUES (p_action, p_insurer, p_member, p_run, p_import, coalesce(p_details, '{}'::jsonb), session_user,
            coalesce(host(inet_client_addr()), 'local socket'), clock_timestamp())
    RETURNING event_id INTO id;
    INSERT INTO audit_pending VALUES (id);
    RETURN id;
END $$;

-- Gives every committed event not yet in the log its position, in event order within one seal;
-- a run_decided event is followed by the certificates that run issued (by number). Returns
-- the log size. Sealers serialise among themselves only, for the moment of sealing.
CREATE FUNCTION audit_seal() RETURNS bigint
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
        END IF;
    END LOOP;
    RETURN n;
END $$;

-- A certificate's change (void, special consideration recorded or ended) is an event too.
CREATE FUNCTION audit_certificate_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE changed jsonb;
BEGIN
    SELECT jsonb_object_agg(o.key, jsonb_build_array(o.value, n.value)) INTO changed
    FROM jsonb_each(to_jsonb(OLD)) o JOIN jsonb_each(to_jsonb(NEW)) n USING (key)
    WHERE o.value IS DISTINCT FROM n.value;
    IF changed IS NOT NULL THEN
        PERFORM audit_append('certificate_changed', NEW.insurer_number, NEW.member_id, NEW.run_id, NULL,
                             jsonb_build_object('certificate_number', NEW.certificate_number, 'changes', changed));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER certificate_audited AFTER UPDATE ON certificate
    FOR EACH ROW EXECUTE FUNCTION audit_certificate_change();

-- A member changes only through an import (updated_by_import names it), and the change is
-- kept in member_history by the database itself, whoever wrote it.
CREATE FUNCTION member_change_history() RETURNS trigger
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
      AND o.key <> ALL (ARRAY['updated_by_import', 'updated_at'])
    HAVING count(*) > 0;
    RETURN NEW;
END $$;
CREATE TRIGGER member_history_kept BEFORE UPDATE ON member
    FOR EACH ROW EXECUTE FUNCTION member_change_history();

-- A finished import or a completed run is history.
CREATE FUNCTION finished_is_history() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF (TG_TABLE_NAME = 'import' AND OLD.status <> 'running') OR (TG_TABLE_NAME = 'run' AND OLD.status = 'completed') THEN
        RAISE EXCEPTION 'a finished % cannot be changed', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER import_history BEFORE UPDATE ON import FOR EACH ROW EXECUTE FUNCTION finished_is_history();
CREATE TRIGGER run_history BEFORE UPDATE ON run FOR EACH ROW EXECUTE FUNCTION finished_is_history();

-- Least privilege: no direct writes to the trail; only the columns the jobs must change.
REVOKE INSERT ON audit_event FROM kakunin_batch, kakunin_staff;
REVOKE INSERT ON member_history FROM kakunin_batch;
REVOKE UPDATE ON run FROM kakunin_batch;
GRANT UPDATE (status, phase, lease_owner, lease_expires_at, attempts, finished_at, code_version, counts) ON run TO kakunin_batch;
REVOKE UPDATE ON import FROM kakunin_batch;
GRANT UPDATE (status, refusal, rows_read, rows_loaded, rows_rejected, inserted, updated, unchanged, file_sha256, file_bytes,
              finished_at) ON import TO kakunin_batch;
REVOKE UPDATE ON certificate FROM kakunin_batch;
GRANT UPDATE (status, voided_on, void_reason, special_consideration, consideration_ended_on) ON certificate TO kakunin_batch;
REVOKE ALL ON audit_pending, audit_log, audit_checkpoint FROM PUBLIC;
GRANT SELECT ON audit_log, audit_checkpoint, audit_entries TO kakunin_batch, kakunin_staff, kakunin_auditor;
REVOKE EXECUTE ON FUNCTION audit_append(text, text, text, bigint, bigint, jsonb), audit_seal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(text, text, text, bigint, bigint, jsonb) TO kakunin_batch, kakunin_staff;
GRANT EXECUTE ON FUNCTION audit_seal() TO kakunin_batch;
-- Checkpoints are written by operators (the batch role) with the signing key.
GRANT INSERT ON audit_checkpoint TO kakunin_batch;
