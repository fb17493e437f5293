-- Insurers, imports and the three feeds (SPEC.md section 4).
--
-- The bulk tables (member, myna_status) carry no foreign keys: a per-row RI trigger would
-- double the cost of a million-row import. Their integrity is enforced by the import's merge,
-- which only inserts rows whose insurer exists and whose member exists.
--
-- Identifiers (insurer_number, member_id, household_id) compare byte-wise (COLLATE "C"): that
-- is the right order for codes, and it keeps btree maintenance of a million-row load cheap
-- (a linguistic collation calls strcoll on every comparison).

CREATE TABLE insurer (
    insurer_number text COLLATE "C" PRIMARY KEY CHECK (insurer_number ~ '^[0-9]{6}([0-9]{2})?$'),
    name text,
    -- Certificate numbers are issued from this counter, within the insurer, never reused.
    next_certificate_number bigint NOT NULL DEFAULT 1 CHECK (next_certificate_number > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per file given to `kakunin import`.
CREATE TABLE import (
    import_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed text NOT NULL CHECK (feed IN ('members', 'myna_status', 'applications')),
    file_name text NOT NULL,
    file_sha256 text,
    file_bytes bigint,
    status text NOT NULL CHECK (status IN ('running', 'loaded', 'loaded_with_rejects', 'refused', 'failed')),
    refusal text,
    rows_read bigint NOT NULL DEFAULT 0,
    rows_loaded bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    inserted bigint NOT NULL DEFAULT 0,
    updated bigint NOT NULL DEFAULT 0,
    unchanged bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    actor text NOT NULL DEFAULT session_user,
    host text
);

-- Every rejected input row: line of the file (1 = header), column, value and reason.
CREATE TABLE import_reject (
    import_id bigint NOT NULL REFERENCES import ON DELETE CASCADE,
    line bigint NOT NULL,
    column_name text,
    value text,
    reason text NOT NULL,
    member_id text
);
CREATE INDEX import_reject_by_import ON import_reject (import_id, line);

CREATE TABLE member (
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    scheme text NOT NULL CHECK (scheme IN ('nhi', 'elderly', 'employee')),
    symbol text,
    number text NOT NULL,
    branch text,
    family_name text NOT NULL,
    given_name text,
    family_name_kana text,
    given_name_kana text,
    birth_date date NOT NULL,
    sex smallint NOT NULL CHECK (sex IN (1, 2, 9)),
    qualified_on date NOT NULL,
    disqualified_on date,
    household_id text COLLATE "C",
    household_head boolean NOT NULL DEFAULT false,
    postal_code text,
    address text,
    address_extra text,
    preferred_language text,
    copay_ratio smallint CHECK (copay_ratio IN (10, 20, 30)),
    residence_expiry date,
    legacy_card_expiry date,
    access_restricted boolean NOT NULL DEFAULT false,
    created_by_import bigint,
    updated_by_import bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (insurer_number, member_id),
    CHECK (disqualified_on IS NULL OR disqualified_on >= qualified_on)
);
-- No index on household_id: the nightly job reads all of an insurer's members at once and
-- groups households itself; a second index would cost 40% more on every million-row load.

-- What changed in a member, when, and by which import (auditors ask what the batch saw).
-- A member's first version is the row itself (created_by_import); later changes land here.
CREATE TABLE member_history (
    history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    import_id bigint NOT NULL REFERENCES import,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_columns text[] NOT NULL,
    old_values jsonb NOT NULL,
    new_values jsonb NOT NULL
);
CREATE INDEX member_history_by_member ON member_history (insurer_number, member_id, history_id);

-- Monthly snapshots from the online eligibility system; the batch uses the latest one on or
-- before the as-of date.
CREATE TABLE myna_status (
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    status_as_of date NOT NULL,
    has_card boolean NOT NULL,
    registration text CHECK (registration IN ('registered', 'not_registered', 'cancel_requested', 'cancelled')),
    card_state text NOT NULL CHECK (card_state IN ('active', 'suspended', 'renewing', 'returned', 'none')),
    ecert_expiry date,
    card_expiry date,
    import_id bigint NOT NULL,
    PRIMARY KEY (insurer_number, member_id, status_as_of)
);

CREATE TABLE application (
    application_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('special_consideration', 'card_lost', 'card_renewing', 'reissue')),
    received_on date NOT NULL,
    basis text CHECK (basis IN ('elderly', 'disability', 'needs_helper', 'other')),
    status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reject_reason text,
    source text NOT NULL CHECK (source IN ('import', 'staff')),
    import_id bigint REFERENCES import,
    entered_by text NOT NULL DEFAULT session_user,
    fulfilled_run_id bigint,
    fulfilled_certificate_number bigint,
    fulfilled_on date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (insurer_number, member_id, kind, received_on),
    FOREIGN KEY (insurer_number, member_id) REFERENCES member,
    CHECK (status <> 'rejected' OR reject_reason IS NOT NULL)
);
CREATE INDEX application_open ON application (insurer_number, member_id)
    WHERE status = 'approved' AND fulfilled_on IS NULL;
