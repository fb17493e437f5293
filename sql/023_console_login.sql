-- The console's logins, sessions and people, written only through the functions below (each
-- audits what it does): the server's own login (kakunin_console) reads people and sessions,
-- keeps a session's last_seen_at, and nothing more. It cannot create a session, re-enable a
-- person, clear failed logins or record console events of its own choosing.
--
-- Throttling: failed logins of one name within 15 minutes; 5 lock the name for the rest of
-- that time (anyone can lock any name: the documented trade-off; an admin unlocks). An attempt
-- is counted before its password is checked, under a lock of its name, so concurrent wrong
-- passwords are counted exactly; a successful login clears the name's failures.
--
-- A name that is not a person's (a mistyped password in the name field, a probe) is kept only as
-- a keyed SHA-256 (console_secret, readable by no role): the failures and the audit log carry
-- `h:` and the hash's hex, never the text.

CREATE TABLE console_secret (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    name_key bytea NOT NULL CHECK (octet_length(name_key) = 32)
);
INSERT INTO console_secret (name_key)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));
REVOKE ALL ON console_secret FROM PUBLIC;

ALTER TABLE console_login_failure ADD COLUMN attempt_id bigint GENERATED ALWAYS AS IDENTITY;
-- Set when the attempt's password was found wrong or right (an attempt is counted from its start).
ALTER TABLE console_login_failure ADD COLUMN checked_at timestamptz;
CREATE UNIQUE INDEX console_login_failure_attempt ON console_login_failure (attempt_id);

-- The rule of the lock, in one place (the console's message reads it from console_login_attempt).
CREATE FUNCTION console_throttle(OUT failures int, OUT minutes int)
LANGUAGE sql IMMUTABLE SET search_path = kakunin, pg_temp AS $$ SELECT 5, 15 $$;

-- What failures and events name: the person's name when the bytes are a person's name, else the
-- keyed hash of the bytes (a NUL, control characters, any length: bytes, never text).
CREATE FUNCTION console_name_key(p_name bytea) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    escaped text := encode(p_name, 'escape');
BEGIN
    -- encode(…, 'escape') writes every byte outside printable ASCII as \nnn: a match means the
    -- bytes are exactly [a-z0-9_] text.
    IF octet_length(p_name) <= 32 AND escaped ~ '^[a-z][a-z0-9_]{1,31}$'
       AND EXISTS (SELECT 1 FROM console_user WHERE username = escaped) THEN
        RETURN escaped;
    END IF;
    RETURN 'h:' || encode(sha256((SELECT name_key FROM console_secret) || p_name), 'hex');
END $$;

-- Starts a login: counts the attempt (or refuses it, throttled). Returns 'check' with the
-- attempt and the enabled person's password hash (NULL for anyone else: the caller checks a
-- decoy, so that timing does not tell), or 'throttled'.
CREATE FUNCTION console_login_attempt(p_name bytea, p_client text,
                                      OUT outcome text, OUT attempt bigint, OUT password_hash text,
                                      OUT failures int, OUT minutes int)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    key text := console_name_key(p_name);
    recent int;
BEGIN
    SELECT t.failures, t.minutes INTO failures, minutes FROM console_throttle() t;
    PERFORM pg_advisory_xact_lock(hashtextextended('kakunin.console_login:' || key, 0));
    SELECT count(*) INTO recent FROM console_login_failure f
    WHERE f.username = key AND f.failed_at > now() - make_interval(mins => minutes);
    IF recent >= failures THEN
        PERFORM console_audit_refusal(key, 'throttled');
        outcome := 'throttled';
        RETURN;
    END IF;
    DELETE FROM console_login_failure WHERE failed_at < now() - interval '1 day';
    INSERT INTO console_login_failure (username, client) VALUES (key, left(p_client, 200)) RETURNING attempt_id INTO attempt;
    SELECT u.password_hash INTO password_hash FROM console_user u WHERE u.username = key AND u.disabled_at IS NULL;
    outcome := 'check';
END $$;

CREATE FUNCTION console_audit_refusal(p_key text, p_reason text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
    SELECT audit_append('console_login_refused', NULL, NULL, NULL, NULL,
        CASE WHEN p_key LIKE 'h:%' THEN jsonb_build_object('username_hash', substr(p_key, 3), 'reason', p_reason)
             ELSE jsonb_build_object('username', p_key, 'reason', p_reason) END);
$$;

-- The attempt's password was wrong (or the name is no enabled person's): it stays counted.
CREATE FUNCTION console_login_failed(p_attempt bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    key text;
    reason text;
BEGIN
    UPDATE console_login_failure SET checked_at = clock_timestamp()
    WHERE attempt_id = p_attempt AND checked_at IS NULL RETURNING username INTO key;
    IF key IS NULL THEN
        RAISE EXCEPTION 'no open login attempt %', p_attempt USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT CASE WHEN key LIKE 'h:%' THEN 'unknown or malformed user name'
                WHEN (SELECT disabled_at FROM console_user WHERE username = key) IS NOT NULL THEN 'disabled'
                ELSE 'wrong password' END INTO reason;
    PERFORM console_audit_refusal(key, reason);
END $$;

-- The attempt's password was right: a session (known by the SHA-256 of its cookie) for the
-- enabled person the attempt named, the name's failures cleared, the login audited. Only an open
-- attempt of the last minute opens a session.
CREATE FUNCTION console_login_succeeded(p_attempt bigint, p_token_sha256 bytea, p_csrf text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    key text;
BEGIN
    SELECT f.username INTO key FROM console_login_failure f
    WHERE f.attempt_id = p_attempt AND f.checked_at IS NULL AND f.failed_at > now() - interval '1 minute';
    PERFORM 1 FROM console_user WHERE username = key AND disabled_at IS NULL FOR UPDATE;
    IF key IS NULL OR NOT FOUND THEN
        RAISE EXCEPTION 'no open login attempt % of an enabled person', p_attempt USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF octet_length(p_token_sha256) <> 32 OR length(p_csrf) < 32 THEN
        RAISE EXCEPTION 'a session is a SHA-256 and a CSRF token of 32 characters or more' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('kakunin.console_login:' || key, 0));
    DELETE FROM console_login_failure WHERE username = key;
    INSERT INTO console_session (token_sha256, username, csrf_token) VALUES (p_token_sha256, key, p_csrf);
    UPDATE console_user SET last_login_at = now() WHERE username = key;
    PERFORM audit_append('console_login', NULL, NULL, NULL, NULL, jsonb_build_object('person', key));
    RETURN key;
END $$;

-- Ends the session of a cookie (logout).
CREATE FUNCTION console_logout(p_token_sha256 bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    who text;
BEGIN
    UPDATE console_session SET ended_at = now() WHERE token_sha256 = p_token_sha256 AND ended_at IS NULL RETURNING username INTO who;
    IF who IS NOT NULL THEN
        PERFORM audit_append('console_logout', NULL, NULL, NULL, NULL, jsonb_build_object('person', who));
    END IF;
END $$;

-- People management (kakunin user disable|enable|unlock, the console's 利用者 page). Each returns
-- what it did: 'done', 'not_found', 'unchanged' (already so), or 'last_admin' (refused: the last
-- enabled admin is never disabled). p_person is who asked (the CLI's person, console:NAME).
CREATE FUNCTION console_user_disable(p_username text, p_person text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    u console_user;
BEGIN
    -- Admin changes one at a time: two admins disabling each other cannot both succeed.
    PERFORM pg_advisory_xact_lock(hashtextextended('kakunin.console_admins', 0));
    SELECT * INTO u FROM console_user WHERE username = p_username FOR UPDATE;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF u.disabled_at IS NOT NULL THEN RETURN 'unchanged'; END IF;
    IF u.role = 'admin' AND NOT EXISTS (SELECT 1 FROM console_user WHERE role = 'admin' AND disabled_at IS NULL AND username <> p_username) THEN
        RETURN 'last_admin';
    END IF;
    UPDATE console_user SET disabled_at = now(), disabled_by = p_person WHERE username = p_username;
    UPDATE console_session SET ended_at = now() WHERE username = p_username AND ended_at IS NULL;
    PERFORM audit_append('console_user_disabled', NULL, NULL, NULL, NULL, jsonb_build_object('username', p_username, 'person', p_person));
    RETURN 'done';
END $$;

CREATE FUNCTION console_user_enable(p_username text, p_person text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    u console_user;
BEGIN
    SELECT * INTO u FROM console_user WHERE username = p_username FOR UPDATE;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF u.disabled_at IS NULL THEN RETURN 'unchanged'; END IF;
    UPDATE console_user SET disabled_at = NULL, disabled_by = NULL WHERE username = p_username;
    PERFORM audit_append('console_user_enabled', NULL, NULL, NULL, NULL, jsonb_build_object('username', p_username, 'person', p_person));
    RETURN 'done';
END $$;

-- Clears the failed logins that lock a name (before the 15 minutes are over).
CREATE FUNCTION console_user_unlock(p_username text, p_person text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    n int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM console_user WHERE username = p_username) THEN RETURN 'not_found'; END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('kakunin.console_login:' || p_username, 0));
    DELETE FROM console_login_failure WHERE username = p_username;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN RETURN 'unchanged'; END IF;
    PERFORM audit_append('console_user_unlocked', NULL, NULL, NULL, NULL,
                         jsonb_build_object('username', p_username, 'person', p_person, 'failures_cleared', n));
    RETURN 'done';
END $$;

DO $$
DECLARE f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['console_name_key(bytea)', 'console_login_attempt(bytea, text)', 'console_audit_refusal(text, text)',
                             'console_login_failed(bigint)', 'console_login_succeeded(bigint, bytea, text)', 'console_logout(bytea)',
                             'console_user_disable(text, text)', 'console_user_enable(text, text)', 'console_user_unlock(text, text)'] LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION console_login_attempt(bytea, text), console_login_failed(bigint), console_login_succeeded(bigint, bytea, text),
    console_logout(bytea), console_user_disable(text, text), console_user_enable(text, text), console_user_unlock(text, text)
    TO kakunin_console;

-- The server's login keeps reading people (password hashes, for bcrypt off the database), sessions
-- (and their last_seen_at) and failures (the 利用者 page shows who is locked); it writes nothing else.
REVOKE INSERT, UPDATE, DELETE ON console_user, console_session, console_login_failure FROM kakunin_console;
GRANT UPDATE (last_seen_at) ON console_session TO kakunin_console;
GRANT SELECT ON console_login_failure TO kakunin_console;

-- The people's roles record only what they view; console events come from the functions above.
CREATE OR REPLACE FUNCTION audit_console(p_action text, p_insurer text, p_member text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF p_action NOT IN ('member_viewed', 'members_listed') THEN
        RAISE EXCEPTION 'audit_console records views only, not %', p_action USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN audit_append(p_action, p_insurer, p_member, NULL, NULL,
                        coalesce(p_details, '{}'::jsonb) || jsonb_build_object('database_role', current_setting('role')));
END $$;
REVOKE EXECUTE ON FUNCTION audit_console(text, text, text, jsonb) FROM kakunin_console;

-- Events about no insurer (logins, refused names, people management, seals) are not for counter
-- staff: they see the events of their insurers only. Auditors still see everything.
DROP POLICY staff_scoped ON audit_event;
CREATE POLICY staff_scoped ON audit_event TO kakunin_staff
    USING (insurer_number IN (SELECT s.insurer_number FROM staff_scope s WHERE s.login = current_user))
    WITH CHECK (insurer_number IS NULL OR insurer_number IN (SELECT s.insurer_number FROM staff_scope s WHERE s.login = current_user));

-- The counter's kana search by key (the console's search pages): members of p_insurer whose
-- reading is in [p_from, p_to) and after (p_after_kana, p_after_member), in (reading, member id)
-- order, byte-wise; at most p_limit. A deep page reads no more than the first one.
CREATE FUNCTION member_kana_search_after(p_insurer text, p_from text, p_to text, p_birth date, p_after_kana text,
                                         p_after_member text, p_limit int)
RETURNS SETOF member
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
    SELECT m.* FROM member m
    WHERE m.insurer_number = p_insurer
      AND coalesce(insurer_visible_to(p_insurer, CASE WHEN current_setting('role') <> 'none' THEN current_setting('role')::name
                                                      ELSE session_user END), false)
      AND ((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C") >= p_from
      AND ((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C") < p_to
      AND (((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C"), m.member_id COLLATE "C")
          > (p_after_kana COLLATE "C", p_after_member COLLATE "C")
      AND (p_birth IS NULL OR m.birth_date = p_birth)
    ORDER BY ((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C"), m.member_id COLLATE "C"
    LIMIT least(p_limit, 1000)
$$;
REVOKE EXECUTE ON FUNCTION member_kana_search_after(text, text, text, date, text, text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION member_kana_search_after(text, text, text, date, text, text, int) TO kakunin_staff, kakunin_auditor, kakunin_batch;
