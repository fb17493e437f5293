-- The web console (kakunin serve): its people, their sessions and failed logins.
--
-- Every person is also a PostgreSQL role of their own (NOLOGIN; named console_role below), a
-- member of kakunin_staff (counter) or kakunin_auditor (auditor, operator, admin). The server
-- runs each request's statements under that role (SET ROLE), so row-level security (sql/011)
-- applies to the person: a counter person's insurers are their rows in staff_scope.
-- The server's own login needs only kakunin_console: the tables below, and membership of the
-- people's roles (kakunin user add grants each to kakunin_console). kakunin_console does not
-- inherit their rights (NOINHERIT): outside a request the server sees no member.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kakunin_console') THEN
        CREATE ROLE kakunin_console NOLOGIN NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created concurrently by a migration of another database
END $$;
GRANT USAGE ON SCHEMA kakunin TO kakunin_console;

CREATE TABLE console_user (
    username text COLLATE "C" PRIMARY KEY CHECK (username ~ '^[a-z][a-z0-9_]{1,31}$'),
    role text NOT NULL CHECK (role IN ('counter', 'auditor', 'operator', 'admin')),
    -- The PostgreSQL role the person's requests run as (unique per database: roles are
    -- cluster-wide, databases are not).
    console_role name NOT NULL UNIQUE,
    password_hash text NOT NULL CHECK (password_hash LIKE '$2%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT session_user,
    disabled_at timestamptz,
    disabled_by text,
    last_login_at timestamptz
);

-- A session is known by the SHA-256 of its cookie: the table alone does not let anyone in.
CREATE TABLE console_session (
    token_sha256 bytea PRIMARY KEY,
    username text COLLATE "C" NOT NULL REFERENCES console_user,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    client text
);
CREATE INDEX console_session_user ON console_session (username) WHERE ended_at IS NULL;

-- Failed logins, for throttling (kept a day; the audit log keeps them for good).
CREATE TABLE console_login_failure (
    username text COLLATE "C" NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    client text
);
CREATE INDEX console_login_failure_user ON console_login_failure (username, failed_at);

GRANT SELECT, UPDATE (last_login_at, disabled_at, disabled_by) ON console_user TO kakunin_console;
GRANT SELECT, INSERT, UPDATE (last_seen_at, ended_at) ON console_session TO kakunin_console;
GRANT SELECT, INSERT, DELETE ON console_login_failure TO kakunin_console;
GRANT SELECT ON staff_scope, insurer TO kakunin_console;

-- What the console records in the audit log beyond counter work: who viewed whose personal data
-- (閲覧記録), logins and logouts. Callable by the console's server and by the people's roles
-- (an auditor, who changes nothing, still leaves a record of what they viewed); the action is
-- one of a fixed list, the person is who the server vouches for.
CREATE FUNCTION audit_console(p_action text, p_insurer text, p_member text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF p_action NOT IN ('member_viewed', 'members_listed', 'console_login', 'console_login_refused', 'console_logout',
                        'console_user_added', 'console_user_disabled') THEN
        RAISE EXCEPTION 'audit_console records views and logins only, not %', p_action USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN audit_append(p_action, p_insurer, p_member, NULL, NULL,
                        -- current_user is the owner here (SECURITY DEFINER); the role the caller set is 'role'.
                        coalesce(p_details, '{}'::jsonb) || jsonb_build_object('database_role', current_setting('role')));
END $$;
REVOKE EXECUTE ON FUNCTION audit_console(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_console(text, text, text, jsonb) TO kakunin_console, kakunin_staff, kakunin_auditor, kakunin_batch;
