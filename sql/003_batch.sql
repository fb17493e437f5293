-- Runs, decisions, certificates, notices and the audit trail (SPEC.md section 5).

-- Insurer parameter files as loaded for a run, by content hash (provenance of every decision).
CREATE TABLE insurer_parameters (
    insurer_number text COLLATE "C" NOT NULL REFERENCES insurer,
    content_sha256 text NOT NULL,
    parameters jsonb NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (insurer_number, content_sha256)
);

-- The run registry: one run per insurer, as-of date and job. A run holds a lease that it
-- renews while alive; a run whose lease has expired is abandoned and the next `kakunin run`
-- for it takes it over and finishes it.
CREATE TABLE run (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL REFERENCES insurer,
    as_of date NOT NULL,
    job text NOT NULL DEFAULT 'nightly',
    status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    phase text,
    lease_owner text,
    lease_expires_at timestamptz,
    attempts integer NOT NULL DEFAULT 1,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    actor text NOT NULL DEFAULT session_user,
    host text,
    code_version text,
    params_sha256 text,
    params_source text,
    counts jsonb,
    UNIQUE (insurer_number, as_of, job)
);

-- One decision per member per run. Partitioned by month of the as-of date so old runs are
-- dropped with DROP TABLE of a partition rather than a mass DELETE.
CREATE TABLE decision (
    run_id bigint NOT NULL,
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    as_of date NOT NULL,
    scheme text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('issue', 'renew', 'issue_on_application', 'apply_notice',
                                             'eligibility_notice', 'none', 'held')),
    reasons text[] NOT NULL,
    s_date date,
    valid_from date,
    valid_to date,
    certificate_number bigint,
    PRIMARY KEY (as_of, run_id, member_id)
) PARTITION BY RANGE (as_of);

-- Creates the month's partition of decision if it does not exist yet; the run calls this.
CREATE FUNCTION ensure_decision_partition(d date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', d)::date;
    name text := format('decision_y%sm%s', to_char(first, 'YYYY'), to_char(first, 'MM'));
BEGIN
    IF to_regclass(format('%I.%I', current_schema(), name)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF decision FOR VALUES FROM (%L) TO (%L)',
                       name, first, (first + interval '1 month')::date);
    END IF;
    RETURN name;
END $$;

-- certificate and notice carry no foreign keys: only the nightly run writes them, set-based
-- from member, run and application in one transaction, and per-row RI triggers would cost more
-- than the rest of the insert (measured: ~10 µs per row per key).
CREATE TABLE certificate (
    insurer_number text COLLATE "C" NOT NULL,
    certificate_number bigint NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    run_id bigint,
    kind text NOT NULL CHECK (kind IN ('issue', 'renew', 'issue_on_application', 'reissue')),
    reasons text[] NOT NULL,
    valid_from date NOT NULL,
    valid_to date NOT NULL,
    issued_on date NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'voided')),
    voided_on date,
    void_reason text,
    replaces_certificate_number bigint,
    application_id bigint,
    -- First issued on a special-consideration application (directly or by renewal).
    special_consideration boolean NOT NULL DEFAULT false,
    consideration_ended_on date,
    PRIMARY KEY (insurer_number, certificate_number),
    CHECK (valid_to >= valid_from),
    CHECK (valid_to < valid_from + interval '5 years'),
    CHECK (status <> 'voided' OR voided_on IS NOT NULL)
);
CREATE INDEX certificate_by_member ON certificate (insurer_number, member_id, valid_from DESC);

-- Eligibility notices and application guidance notices sent.
CREATE TABLE notice (
    notice_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('eligibility_notice', 'apply_notice')),
    run_id bigint,
    sent_on date NOT NULL,
    -- For eligibility notices: insurer, symbol, number, branch and copay shown on it.
    details text,
    reasons text[] NOT NULL
);
CREATE INDEX notice_by_member ON notice (insurer_number, member_id, kind, sent_on DESC);

-- The audit trail. Each event carries the hash of the one before it; changing or deleting
-- any event breaks the chain, which `kakunin audit verify` recomputes.
CREATE TABLE audit_event (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL DEFAULT session_user,
    host text,
    action text NOT NULL,
    insurer_number text,
    member_id text,
    run_id bigint,
    import_id bigint,
    details jsonb NOT NULL DEFAULT '{}',
    prev_hash text NOT NULL,
    hash text NOT NULL UNIQUE
);

-- The canonical text an event's hash covers.
CREATE FUNCTION audit_event_payload(e audit_event) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws('|', e.event_id, to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                     e.actor, coalesce(e.host, ''), e.action, coalesce(e.insurer_number, ''),
                     coalesce(e.member_id, ''), coalesce(e.run_id::text, ''),
                     coalesce(e.import_id::text, ''), e.details::text, e.prev_hash)
$$;

CREATE FUNCTION audit_event_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'audit events cannot be changed or deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Serialise writers so the chain is linear.
    PERFORM pg_advisory_xact_lock(hashtext('kakunin.audit_event'));
    SELECT hash INTO NEW.prev_hash FROM audit_event ORDER BY event_id DESC LIMIT 1;
    NEW.prev_hash := coalesce(NEW.prev_hash, repeat('0', 64));
    NEW.hash := encode(sha256(convert_to(audit_event_payload(NEW), 'UTF8')), 'hex');
    RETURN NEW;
END $$;

CREATE TRIGGER audit_event_chain BEFORE INSERT OR UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_chain();
