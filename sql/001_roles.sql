-- Group roles for least privilege. Roles are cluster-wide, so each is created only if absent.
-- Log-in roles are made by the DBA and granted one of these:
--   kakunin_batch    the nightly job and feed imports
--   kakunin_staff    counter staff: look up members, record applications, reissue
--   kakunin_auditor  read everything, change nothing
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['kakunin_batch', 'kakunin_staff', 'kakunin_auditor'] LOOP
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created concurrently by a migration of another database
        END;
    END LOOP;
END $$;
