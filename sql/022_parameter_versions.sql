-- Insurer parameters are dated data of the insurer, kept here (SPEC.md 2.6, issue 28 item 2).
--
-- Before: each run read a file from a folder (relative to the working directory, so `/` under
-- systemd); with no file found it ran on the defaults, and it overwrote insurer.insurer_name, so
-- the reports of earlier runs changed.
--
-- Now: each change is a new version of the insurer's parameters, effective from a date, written
-- only through insurer_parameters_set (validates, records who set it, appends an audit event in
-- the same transaction) and never changed or deleted. A run is registered with the version in
-- force on its as-of date (the database picks it, see run_parameters_in_force) and every report
-- of the run reads that version. insurer.insurer_name is no longer written.
CREATE TABLE insurer_parameter_version (
    version_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL REFERENCES insurer,
    effective_from date NOT NULL CHECK (effective_from BETWEEN '1900-01-01' AND '2099-12-31'),
    -- The validated parameters as `key = value` lines (every parameter that has a value, in the
    -- order of jobs/insurers/example.conf, each line ending in a newline): a parameter file.
    listing text NOT NULL,
    -- SHA-256 (hex) of listing's UTF-8 bytes: `kakunin insurer params show` | grep -v '^#' | sha256sum.
    listing_sha256 text NOT NULL CHECK (listing_sha256 ~ '^[0-9a-f]{64}$'),
    -- The same as a JSON object of strings (for queries; derived from listing here).
    parameters jsonb NOT NULL,
    -- The file it was read from, as the operator named it (or "-" for standard input).
    source text NOT NULL,
    set_by_login text NOT NULL,
    set_by_person text NOT NULL,
    set_at timestamptz NOT NULL,
    UNIQUE (insurer_number, effective_from)
);

CREATE TRIGGER insurer_parameter_version_immutable BEFORE UPDATE OR DELETE ON insurer_parameter_version
    FOR EACH ROW EXECUTE FUNCTION audit_immutable();
CREATE TRIGGER insurer_parameter_version_no_truncate BEFORE TRUNCATE ON insurer_parameter_version
    FOR EACH STATEMENT EXECUTE FUNCTION audit_immutable();

-- The one way to write a version. kakunin validates the file fully (ranges, known keys, with
-- file/line messages); this checks what the database relies on: a known insurer, a date in range,
-- well-formed unique lines, an insurer_name, a person, no second version on the same date.
CREATE FUNCTION insurer_parameters_set(p_insurer text, p_effective_from date, p_listing text, p_source text, p_person text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    id bigint;
    sha text;
    params jsonb;
    bad text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM insurer WHERE insurer_number = p_insurer) THEN
        RAISE EXCEPTION 'unknown insurer %', p_insurer USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF p_effective_from IS NULL OR p_effective_from NOT BETWEEN '1900-01-01' AND '2099-12-31' THEN
        RAISE EXCEPTION 'effective_from % is not a date in 1900-2099', p_effective_from USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(btrim(p_person), '') = '' OR length(p_person) > 200 OR coalesce(p_source, '') = '' OR length(p_source) > 1000 THEN
        RAISE EXCEPTION 'a parameter version names the person who set it and its source' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_listing IS NULL OR p_listing = '' OR length(p_listing) > 65536 OR right(p_listing, 1) <> E'\n' THEN
        RAISE EXCEPTION 'the parameter listing is empty, too long or does not end in a newline' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT l INTO bad FROM regexp_split_to_table(left(p_listing, -1), E'\n') l
    WHERE l !~ '^[a-z0-9_.]{1,60} = [^[:cntrl:]]+$' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'parameter line "%" is not "key = value"', left(bad, 80) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT jsonb_object_agg(split_part(l, ' = ', 1), substr(l, strpos(l, ' = ') + 3)), count(*) - count(DISTINCT split_part(l, ' = ', 1))
    INTO params, bad
    FROM regexp_split_to_table(left(p_listing, -1), E'\n') l;
    IF bad::int > 0 THEN
        RAISE EXCEPTION 'a parameter is listed twice' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(btrim(params->>'insurer_name'), '') = '' THEN
        RAISE EXCEPTION 'insurer % has no insurer_name in its parameters: it is printed on every certificate', p_insurer
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM insurer_parameter_version WHERE insurer_number = p_insurer AND effective_from = p_effective_from) THEN
        RAISE EXCEPTION 'insurer % already has parameters effective from %: versions are never edited', p_insurer, p_effective_from
            USING ERRCODE = 'unique_violation';
    END IF;
    sha := encode(sha256(convert_to(p_listing, 'UTF8')), 'hex');
    INSERT INTO insurer_parameter_version (insurer_number, effective_from, listing, listing_sha256, parameters, source,
                                           set_by_login, set_by_person, set_at)
    VALUES (p_insurer, p_effective_from, p_listing, sha, params, p_source, session_user, p_person, now())
    RETURNING version_id INTO id;
    PERFORM audit_append('parameters_set', p_insurer, NULL, NULL, NULL,
                         jsonb_build_object('version_id', id, 'effective_from', p_effective_from::text, 'sha256', sha,
                                            'person', p_person, 'source', p_source));
    RETURN id;
END $$;

-- A run is registered with the version in force on its as-of date, chosen here so that no path
-- can register a run on other parameters, on none, or on parameters without insurer_name.
ALTER TABLE run ADD COLUMN params_version_id bigint REFERENCES insurer_parameter_version;

CREATE FUNCTION run_parameters_in_force() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
DECLARE v insurer_parameter_version;
BEGIN
    SELECT * INTO v FROM insurer_parameter_version
    WHERE insurer_number = NEW.insurer_number AND effective_from <= NEW.as_of
    ORDER BY effective_from DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insurer % has no parameters in force on %', NEW.insurer_number, NEW.as_of
            USING ERRCODE = 'check_violation', HINT = 'kakunin insurer params set --insurer ' || NEW.insurer_number || ' --from DATE FILE';
    END IF;
    IF coalesce(btrim(v.parameters->>'insurer_name'), '') = '' THEN
        RAISE EXCEPTION 'the parameters of insurer % in force on % have no insurer_name', NEW.insurer_number, NEW.as_of
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.params_version_id := v.version_id;
    NEW.params_sha256 := v.listing_sha256;
    NEW.params_source := format('parameter version %s of insurer %s, effective from %s', v.version_id, v.insurer_number, v.effective_from);
    RETURN NEW;
END $$;
CREATE TRIGGER run_parameters_in_force BEFORE INSERT ON run FOR EACH ROW EXECUTE FUNCTION run_parameters_in_force();

REVOKE ALL ON insurer_parameter_version FROM PUBLIC;
GRANT SELECT ON insurer_parameter_version TO kakunin_batch, kakunin_staff, kakunin_auditor, kakunin_console;
REVOKE EXECUTE ON FUNCTION insurer_parameters_set(text, date, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION insurer_parameters_set(text, date, text, text, text) TO kakunin_batch;
-- What runs recorded before this migration stays readable to the roles that read reports.
GRANT SELECT ON insurer_parameters TO kakunin_staff, kakunin_console;
-- Runs no longer write insurer_parameters (what runs before this migration recorded): history.
REVOKE INSERT, UPDATE ON insurer_parameters FROM kakunin_batch;
