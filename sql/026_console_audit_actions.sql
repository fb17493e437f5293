-- The console's functions (sql/023) record their events through audit_append, which since
-- sql/020 lets each role append only the actions granted to it: the console's server login
-- performs logins, logouts and people management; operators set parameters and rebuild a run's files. The people's views (audit_console) are
-- kakunin's own write, whichever person's role called it.
INSERT INTO audit_action_grant (action, role) VALUES
    ('console_login', 'kakunin_console'), ('console_login_refused', 'kakunin_console'), ('console_logout', 'kakunin_console'),
    ('console_user_disabled', 'kakunin_console'), ('console_user_enabled', 'kakunin_console'),
    ('console_user_unlocked', 'kakunin_console'),
    -- A new version of an insurer's parameters (sql/022), set by operators.
    ('parameters_set', 'kakunin_batch'),
    -- A completed run's mailing files written again from the database (kakunin run --rebuild-files).
    ('run_files_rebuilt', 'kakunin_batch')
ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION audit_console(p_action text, p_insurer text, p_member text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF p_action NOT IN ('member_viewed', 'members_listed') THEN
        RAISE EXCEPTION 'audit_console records views only, not %', p_action USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN audit_write(p_action, p_insurer, p_member, NULL, NULL,
                       coalesce(p_details, '{}'::jsonb) || jsonb_build_object('database_role', current_setting('role')));
END $$;
