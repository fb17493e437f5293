-- The audit log against its own database (issue 28, items 6 and 7).
--
-- Checkpoints: no role inserts into audit_checkpoint; kakunin's checkpoint path stores one
-- through audit_checkpoint_store, which refuses a row whose signed text, size, root and frontier
-- do not agree (the frontier's subtrees must fold to the signed root). The database cannot
-- check an Ed25519 signature: kakunin checks the previous checkpoint's signature and frontier
-- before it builds on it (AuditLog.checkpoint), and refuses a stored row it cannot verify.
--
-- Entry formats: an entry's bytes are built by kakunin from the base tables. Entries sealed
-- before this migration keep format 1 (PostgreSQL's jsonb text of the entry object), so the
-- checkpoints already signed still verify; entries sealed from now on are format 2 (the same
-- object in RFC 8785 canonical JSON). The format is recorded on each log row.

ALTER TABLE audit_log ADD COLUMN entry_format smallint NOT NULL DEFAULT 1 CHECK (entry_format IN (1, 2));
ALTER TABLE audit_log ALTER COLUMN entry_format SET DEFAULT 2;

COMMENT ON VIEW audit_entries IS
    'Format-1 rendering of every entry, for reading only: verification builds entry bytes in kakunin from the base tables (audit_log.entry_format).';

REVOKE INSERT ON audit_checkpoint FROM PUBLIC, kakunin_batch, kakunin_staff, kakunin_auditor, kakunin_console;

-- Stores a checkpoint kakunin signed: p_frontier is [[size, "hex"], ...], the complete subtrees
-- at the log's end, largest first. Returns the new checkpoint_id.
CREATE FUNCTION audit_checkpoint_store(p_signed_text text, p_frontier jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    v_size bigint := substring(p_signed_text FROM '\nsize: ([0-9]{1,18})\n')::bigint;
    v_root text := substring(p_signed_text FROM '\nroot: ([0-9a-f]{64})\n');
    v_log bigint;
    v_last bigint;
    folded bytea;
    total bigint := 0;
    previous bigint;
    item jsonb;
    s bigint;
    h text;
    id bigint;
BEGIN
    IF p_signed_text IS NULL OR p_signed_text !~ '^kakunin-audit-log/v1\n' OR v_size IS NULL OR v_root IS NULL
       OR p_signed_text !~ '\n\nsignature: [A-Za-z0-9+/=]+\n$' THEN
        RAISE EXCEPTION 'not a signed kakunin checkpoint' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_frontier IS NULL OR jsonb_typeof(p_frontier) <> 'array' THEN
        RAISE EXCEPTION 'the frontier must be an array of [size, hash]' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Sizes: powers of two, strictly decreasing, adding up to the signed size.
    FOR item IN SELECT value FROM jsonb_array_elements(p_frontier) LOOP
        IF jsonb_typeof(item) <> 'array' OR jsonb_array_length(item) <> 2 OR jsonb_typeof(item -> 0) <> 'number'
           OR jsonb_typeof(item -> 1) <> 'string' OR (item ->> 1) !~ '^[0-9a-f]{64}$' THEN
            RAISE EXCEPTION 'the frontier must be an array of [size, hash]' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        s := (item ->> 0)::bigint;
        IF s < 1 OR (s & (s - 1)) <> 0 OR (previous IS NOT NULL AND s >= previous) THEN
            RAISE EXCEPTION 'the frontier''s subtree sizes are not the binary decomposition of the log size' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        previous := s;
        total := total + s;
    END LOOP;
    IF total <> v_size THEN
        RAISE EXCEPTION 'the frontier covers % entries, the checkpoint %', total, v_size USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The subtrees fold, right to left, into the signed root (RFC 9162 node hashes).
    FOR h IN SELECT value ->> 1 FROM jsonb_array_elements(p_frontier) WITH ORDINALITY AS f(value, n) ORDER BY n DESC LOOP
        folded := CASE WHEN folded IS NULL THEN decode(h, 'hex') ELSE sha256('\x01'::bytea || decode(h, 'hex') || folded) END;
    END LOOP;
    IF encode(coalesce(folded, sha256(''::bytea)), 'hex') <> v_root THEN
        RAISE EXCEPTION 'the frontier does not hash to the checkpoint''s root' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Within the log, and never behind the latest stored checkpoint.
    PERFORM pg_advisory_xact_lock(hashtext('kakunin.audit_checkpoint'));
    SELECT coalesce(max(log_index) + 1, 0) INTO v_log FROM audit_log;
    SELECT max(log_size) INTO v_last FROM audit_checkpoint;
    IF v_size > v_log OR v_size < coalesce(v_last, 0) THEN
        RAISE EXCEPTION 'a checkpoint of % entries does not fit a log of % entries whose latest checkpoint has %', v_size, v_log, v_last
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO audit_checkpoint (log_size, root_hash, frontier, signed_text)
    VALUES (v_size, decode(v_root, 'hex'), p_frontier, p_signed_text)
    RETURNING checkpoint_id INTO id;
    RETURN id;
END $$;
REVOKE EXECUTE ON FUNCTION audit_checkpoint_store(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_checkpoint_store(text, jsonb) TO kakunin_batch;
