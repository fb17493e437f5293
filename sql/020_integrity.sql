-- Promises the database keeps by itself (issue 28, SPEC.md 8 "Every certificate is in the log"):
--   * every certificate row enters the audit log, whatever path created it, and only kakunin's
--     own paths create one: a running run inside the block of numbers it reserved, or the
--     counter's function (run as the owner);
--   * each role appends only the audit actions it really performs, and a forged or malformed
--     event never stops sealing;
--   * certificate numbers, counter certificates, voids, the end of special consideration and
--     staff applications change only through functions that apply their rules and log;
--   * the batch role creates decision partitions only for a run in progress.
-- Before: kakunin's code paths kept these promises, and a login of an ordinary role could write
-- around them (issue 28 items 4, 5, 8, 13).

-- Who called a SECURITY DEFINER function: the role set with SET ROLE (a console person), else the
-- login. Inside such a function current_user is the owner, so it cannot tell.
CREATE FUNCTION caller_role() RETURNS name
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT CASE WHEN current_setting('role') <> 'none' THEN current_setting('role')::name ELSE session_user END
$$;

-- True for the schema's owner (the migrating role) and superusers: they own the data anyway;
-- what they do still enters the log, and checkpoints catch what they rewrite.
CREATE FUNCTION role_owns_kakunin(r name) RETURNS boolean
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = r), false)
        OR coalesce(pg_has_role(r, (SELECT nspowner FROM pg_namespace WHERE nspname = 'kakunin'), 'USAGE'), false)
$$;
GRANT EXECUTE ON FUNCTION caller_role(), role_owns_kakunin(name) TO PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Audit actions per role.

-- The one writer of events, for kakunin's own functions only (no role may execute it).
CREATE FUNCTION audit_write(p_action text, p_insurer text, p_member text, p_run bigint, p_import bigint, p_details jsonb)
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
REVOKE ALL ON FUNCTION audit_write(text, text, text, bigint, bigint, jsonb) FROM PUBLIC;

-- Which role may append which action through audit_append. What is not listed is refused; the
-- actions of kakunin's own functions (counter issue, void, applications, console logins,
-- certificate changes) are written by those functions and listed for nobody.
CREATE TABLE audit_action_grant (
    action text NOT NULL,
    role name NOT NULL,
    PRIMARY KEY (action, role)
);
INSERT INTO audit_action_grant (action, role) VALUES
    ('run_started', 'kakunin_batch'), ('run_decided', 'kakunin_batch'), ('run_completed', 'kakunin_batch'),
    ('import', 'kakunin_batch'), ('import_refused', 'kakunin_batch'),
    ('certificate_printed', 'kakunin_staff'), ('mail_returned', 'kakunin_staff');
REVOKE ALL ON audit_action_grant FROM PUBLIC;
GRANT SELECT ON audit_action_grant TO kakunin_auditor;

-- The way roles append events: the action must be granted to the caller's role; a run's
-- decision is recorded once, by a run in progress of that insurer. The owner may append anything.
CREATE OR REPLACE FUNCTION audit_append(p_action text, p_insurer text, p_member text, p_run bigint, p_import bigint, p_details jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE who name := caller_role();
BEGIN
    IF NOT role_owns_kakunin(who) THEN
        IF NOT EXISTS (SELECT 1 FROM audit_action_grant g WHERE g.action = p_action AND pg_has_role(who, g.role, 'USAGE')) THEN
            RAISE EXCEPTION 'role % may not record audit action %', who, coalesce(p_action, 'NULL')
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'each role records only the actions it performs (table audit_action_grant)';
        END IF;
        IF p_action = 'run_decided' AND NOT EXISTS (
               SELECT 1 FROM run r WHERE r.run_id = p_run AND r.insurer_number = p_insurer
                 AND r.status = 'running' AND r.phase = 'deciding') THEN
            RAISE EXCEPTION 'run_decided is recorded only by run % of insurer % while it decides', p_run, p_insurer
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN audit_write(p_action, p_insurer, p_member, p_run, p_import, p_details);
END $$;

-- The console's records and certificate changes are kakunin's own writes.
CREATE OR REPLACE FUNCTION audit_console(p_action text, p_insurer text, p_member text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF p_action NOT IN ('member_viewed', 'members_listed', 'console_login', 'console_login_refused', 'console_logout',
                        'console_user_added', 'console_user_disabled') THEN
        RAISE EXCEPTION 'audit_console records views and logins only, not %', p_action USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN audit_write(p_action, p_insurer, p_member, NULL, NULL,
                       coalesce(p_details, '{}'::jsonb) || jsonb_build_object('database_role', current_setting('role')));
END $$;

CREATE OR REPLACE FUNCTION audit_certificate_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE changed jsonb;
BEGIN
    SELECT jsonb_object_agg(o.key, jsonb_build_array(o.value, n.value)) INTO changed
    FROM jsonb_each(to_jsonb(OLD)) o JOIN jsonb_each(to_jsonb(NEW)) n USING (key)
    WHERE o.value IS DISTINCT FROM n.value;
    IF changed IS NOT NULL THEN
        PERFORM audit_write('certificate_changed', NEW.insurer_number, NEW.member_id, NEW.run_id, NULL,
                            jsonb_build_object('certificate_number', NEW.certificate_number, 'changes', changed));
    END IF;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Every certificate enters the log.

-- Certificates created and not yet in the log, as ranges of numbers per statement and run (a
-- run's COPY adds one row per round, not one per certificate).
CREATE TABLE audit_pending_certificate (
    insurer_number text COLLATE "C" NOT NULL,
    run_id bigint,
    number_from bigint NOT NULL,
    number_to bigint NOT NULL
);
CREATE INDEX audit_pending_certificate_run ON audit_pending_certificate (run_id);
REVOKE ALL ON audit_pending_certificate FROM PUBLIC;
INSERT INTO audit_pending_certificate (insurer_number, run_id, number_from, number_to)
SELECT c.insurer_number, c.run_id, min(c.certificate_number), max(c.certificate_number)
FROM certificate c
WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.insurer_number = c.insurer_number AND l.certificate_number = c.certificate_number)
GROUP BY c.insurer_number, c.run_id;

-- Who may create a certificate. Runs with the rights of whoever inserts (not SECURITY DEFINER),
-- so current_user is the login, or the owner inside kakunin's own functions: a certificate
-- without a run comes only from those (the counter); one of a run only from that run while it
-- decides, numbered inside the block the run reserved.
CREATE FUNCTION certificate_created_by_kakunin() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
DECLARE bad record;
BEGIN
    IF role_owns_kakunin(current_user) THEN RETURN NULL; END IF;
    SELECT a.certificate_number, a.run_id INTO bad
    FROM added a LEFT JOIN run r ON r.run_id = a.run_id
    WHERE a.run_id IS NULL
       OR r.run_id IS NULL OR r.status <> 'running' OR r.phase IS DISTINCT FROM 'deciding'
       OR r.insurer_number <> a.insurer_number OR r.numbers_from IS NULL
       OR a.certificate_number < r.numbers_from OR a.certificate_number >= r.numbers_to
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'certificate % cannot be created this way: certificates come from a run in progress (inside its block of numbers) or a counter issue',
            bad.certificate_number
            USING ERRCODE = 'insufficient_privilege', HINT = 'use kakunin run or kakunin counter issue';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION certificate_enters_log() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
BEGIN
    INSERT INTO audit_pending_certificate (insurer_number, run_id, number_from, number_to)
    SELECT insurer_number, run_id, min(certificate_number), max(certificate_number) FROM added GROUP BY insurer_number, run_id;
    RETURN NULL;
END $$;

CREATE TRIGGER certificate_a_created AFTER INSERT ON certificate REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION certificate_created_by_kakunin();
CREATE TRIGGER certificate_b_logged AFTER INSERT ON certificate REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION certificate_enters_log();

-- The pending certificates of the ranges that match, placed from position p_at in number order;
-- returns how many. Certificates already in the log are not placed twice.
CREATE FUNCTION audit_seal_certificates(p_at bigint, p_insurer text, p_run bigint, p_number bigint, p_orphans boolean)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE added bigint;
BEGIN
    WITH ranges AS (
        DELETE FROM audit_pending_certificate p
        WHERE CASE
            WHEN p_orphans THEN
                -- a range whose event is still waiting for a seal waits with it
                NOT EXISTS (SELECT 1 FROM audit_pending ap JOIN audit_event e ON e.event_id = ap.event_id
                            WHERE e.insurer_number = p.insurer_number
                              AND CASE WHEN p.run_id IS NOT NULL THEN e.action = 'run_decided' AND e.run_id = p.run_id
                                       ELSE e.action = 'counter_issued' AND e.details->>'certificate_number' ~ '^[0-9]{1,18}$'
                                            AND CASE WHEN e.details->>'certificate_number' ~ '^[0-9]{1,18}$'
                                                     THEN (e.details->>'certificate_number')::bigint BETWEEN p.number_from AND p.number_to END
                                  END)
            WHEN p_run IS NOT NULL THEN p.insurer_number = p_insurer AND p.run_id = p_run
            ELSE p.insurer_number = p_insurer AND p.run_id IS NULL AND p_number BETWEEN p.number_from AND p.number_to
        END
        RETURNING p.*),
    certs AS (
        SELECT DISTINCT c.insurer_number, c.certificate_number
        FROM ranges r JOIN certificate c ON c.insurer_number = r.insurer_number
             AND c.certificate_number BETWEEN r.number_from AND r.number_to AND c.run_id IS NOT DISTINCT FROM r.run_id
        WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.insurer_number = c.insurer_number AND l.certificate_number = c.certificate_number))
    INSERT INTO audit_log (log_index, insurer_number, certificate_number)
    SELECT p_at - 1 + row_number() OVER (ORDER BY insurer_number, certificate_number), insurer_number, certificate_number FROM certs;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END $$;
REVOKE ALL ON FUNCTION audit_seal_certificates(bigint, text, bigint, bigint, boolean) FROM PUBLIC;

-- Gives every committed event not yet in the log its position, in event order; a run_decided
-- event is followed by the certificates that run created, a counter_issued event by its
-- certificate. Certificates created without such an event (by the owner, around kakunin) follow
-- at the end of the seal: nothing stays outside the log. An event is sealed as it is: a forged or
-- repeated one places nothing twice and never makes sealing fail.
CREATE OR REPLACE FUNCTION audit_seal() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    n bigint;
    ids bigint[];
    ev audit_event;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kakunin.audit_seal'));
    SELECT coalesce(max(log_index) + 1, 0) INTO n FROM audit_log;
    WITH gone AS (DELETE FROM audit_pending RETURNING event_id)
    SELECT array_agg(event_id ORDER BY event_id) INTO ids FROM gone;
    FOR ev IN SELECT * FROM audit_event WHERE event_id = ANY (coalesce(ids, '{}')) ORDER BY event_id LOOP
        INSERT INTO audit_log (log_index, event_id) VALUES (n, ev.event_id);
        n := n + 1;
        IF ev.action = 'run_decided' AND ev.run_id IS NOT NULL AND ev.insurer_number IS NOT NULL THEN
            n := n + audit_seal_certificates(n, ev.insurer_number, ev.run_id, NULL, false);
        ELSIF ev.action = 'counter_issued' AND ev.insurer_number IS NOT NULL
              AND ev.details->>'certificate_number' ~ '^[0-9]{1,18}$' THEN
            n := n + audit_seal_certificates(n, ev.insurer_number, NULL, (ev.details->>'certificate_number')::bigint, false);
        END IF;
    END LOOP;
    n := n + audit_seal_certificates(n, NULL, NULL, NULL, true);
    RETURN n;
END $$;

-- How many certificates (of an insurer, of one run of it, or all) are in the table, in the log,
-- waiting for a seal, and outside both (never, unless the owner disabled a trigger): the run's
-- reconciliation and `audit verify` check it. A run's certificates are read by its block.
CREATE FUNCTION certificate_log_coverage(p_insurer text, p_run bigint DEFAULT NULL)
RETURNS TABLE (certificates bigint, logged bigint, pending bigint, outside bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
    WITH c AS (
        SELECT EXISTS (SELECT 1 FROM audit_log l WHERE l.insurer_number = c.insurer_number AND l.certificate_number = c.certificate_number) AS in_log,
               EXISTS (SELECT 1 FROM audit_pending_certificate p WHERE p.insurer_number = c.insurer_number
                         AND p.run_id IS NOT DISTINCT FROM c.run_id
                         AND c.certificate_number BETWEEN p.number_from AND p.number_to) AS waiting
        FROM certificate c
        WHERE (p_insurer IS NULL OR c.insurer_number = p_insurer)
          AND (p_run IS NULL OR (c.run_id = p_run
               AND c.certificate_number >= (SELECT coalesce(numbers_from, 0) FROM run WHERE run_id = p_run)
               AND c.certificate_number < (SELECT coalesce(numbers_to, 9223372036854775807) FROM run WHERE run_id = p_run))))
    SELECT count(*), count(*) FILTER (WHERE in_log), count(*) FILTER (WHERE NOT in_log AND waiting),
           count(*) FILTER (WHERE NOT in_log AND NOT waiting)
    FROM c
$$;
REVOKE ALL ON FUNCTION certificate_log_coverage(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION certificate_log_coverage(text, bigint) TO kakunin_batch, kakunin_auditor, kakunin_staff;

-- ---------------------------------------------------------------------------------------------
-- Numbering: blocks for runs, single numbers for the counter, nothing else.

-- The first number of the block run p_run may use: the block recorded on the run when it is big
-- enough (a rerun numbers as the first attempt did), else p_count new numbers from the counter.
-- Only for a run in progress, and no bigger than the insurer's members.
CREATE FUNCTION certificate_numbers_reserve(p_run bigint, p_count bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE r run; first bigint;
BEGIN
    SELECT * INTO r FROM run WHERE run_id = p_run FOR UPDATE;
    IF NOT FOUND OR r.status <> 'running' OR r.phase IS DISTINCT FROM 'deciding' THEN
        RAISE EXCEPTION 'run % is not deciding: numbers are reserved only by a run in progress', p_run
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_count IS NULL OR p_count < 1 OR p_count > greatest(1, (SELECT count(*) FROM member WHERE insurer_number = r.insurer_number)) THEN
        RAISE EXCEPTION 'a run reserves at least one number and at most one per member of its insurer (asked for %)', p_count
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.numbers_from IS NOT NULL AND r.numbers_to - r.numbers_from >= p_count THEN
        RETURN r.numbers_from;
    END IF;
    UPDATE certificate_counter SET next_number = next_number + p_count WHERE insurer_number = r.insurer_number
    RETURNING next_number - p_count INTO first;
    UPDATE run SET numbers_from = first, numbers_to = first + p_count WHERE run_id = p_run;
    RETURN first;
END $$;

-- In the run's commit transaction: the unused tail [p_next, numbers_to) goes back to the counter,
-- unless a number was taken since or a certificate of the run lies in it.
CREATE FUNCTION certificate_numbers_return(p_run bigint, p_next bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE r run; n int;
BEGIN
    SELECT * INTO r FROM run WHERE run_id = p_run;
    IF NOT FOUND OR r.status <> 'running' OR r.numbers_from IS NULL OR p_next IS NULL
       OR p_next < r.numbers_from OR p_next >= r.numbers_to
       OR EXISTS (SELECT 1 FROM certificate c WHERE c.insurer_number = r.insurer_number
                    AND c.certificate_number >= p_next AND c.certificate_number < r.numbers_to) THEN
        RETURN false;
    END IF;
    UPDATE certificate_counter SET next_number = p_next WHERE insurer_number = r.insurer_number AND next_number = r.numbers_to;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END $$;

REVOKE ALL ON FUNCTION certificate_numbers_reserve(bigint, bigint), certificate_numbers_return(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION certificate_numbers_reserve(bigint, bigint), certificate_numbers_return(bigint, bigint) TO kakunin_batch;
REVOKE UPDATE ON certificate_counter FROM kakunin_batch, kakunin_staff;
REVOKE UPDATE (numbers_from, numbers_to) ON run FROM kakunin_batch;

-- ---------------------------------------------------------------------------------------------
-- Counter work: one function per action, each checking the rows it changes and logging.

CREATE FUNCTION require_visible(p_insurer text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF NOT coalesce(insurer_visible_to(p_insurer, caller_role()), false) THEN
        RAISE EXCEPTION 'role % is not scoped to insurer %', caller_role(), p_insurer USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;

-- A certificate handed over at the counter (即日交付): the insurer's next number, the certificate,
-- the one it replaces voided, the application fulfilled, a special-consideration basis recorded,
-- open returned mail resolved, and the counter_issued event, which the seal follows with the
-- certificate's own entry. Every row it changes must change: a replaced certificate voided
-- meanwhile, or an application fulfilled meanwhile, fails the issue (SQLSTATE 55000).
CREATE FUNCTION counter_issue_certificate(
    p_insurer text, p_member text, p_kind text, p_reasons text[], p_valid_from date, p_valid_to date, p_issued_on date,
    p_replaces bigint, p_application bigint, p_special boolean, p_records_consideration_on bigint, p_person text, p_details jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE number bigint; n int; resolved int; details jsonb;
BEGIN
    PERFORM require_visible(p_insurer);
    IF p_kind NOT IN ('issue', 'renew', 'issue_on_application', 'reissue') OR p_valid_from IS NULL OR p_valid_to IS NULL
       OR p_valid_to < p_valid_from OR p_issued_on IS NULL OR p_person IS NULL OR p_person = '' THEN
        RAISE EXCEPTION 'a counter certificate needs a kind, a validity and the person who issues it' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE certificate_counter SET next_number = next_number + 1 WHERE insurer_number = p_insurer RETURNING next_number - 1 INTO number;
    IF number IS NULL THEN
        RAISE EXCEPTION 'insurer % has no certificate counter', p_insurer USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO certificate (insurer_number, certificate_number, member_id, run_id, kind, reasons, valid_from, valid_to, issued_on,
                             replaces_certificate_number, application_id, special_consideration, issued_by)
    VALUES (p_insurer, number, p_member, NULL, p_kind, p_reasons, p_valid_from, p_valid_to, p_issued_on,
            p_replaces, p_application, coalesce(p_special, false), p_person);
    IF p_replaces IS NOT NULL THEN
        UPDATE certificate SET status = 'voided', voided_on = p_issued_on,
               void_reason = format('replaced by certificate %s (reissued at the counter)', number)
        WHERE insurer_number = p_insurer AND certificate_number = p_replaces AND member_id = p_member AND status = 'active';
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'certificate % is no longer active: it was changed while this certificate was being issued', p_replaces
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    IF p_application IS NOT NULL THEN
        UPDATE application SET fulfilled_certificate_number = number, fulfilled_on = p_issued_on, updated_at = now()
        WHERE insurer_number = p_insurer AND application_id = p_application AND member_id = p_member
          AND status = 'approved' AND fulfilled_on IS NULL;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'application % is no longer approved and open: it was changed while this certificate was being issued', p_application
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    IF p_records_consideration_on IS NOT NULL THEN
        UPDATE certificate SET special_consideration = true, consideration_ended_on = NULL
        WHERE insurer_number = p_insurer AND certificate_number = p_records_consideration_on AND member_id = p_member AND status = 'active';
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'certificate % is no longer active', p_records_consideration_on USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    UPDATE mail_return SET resolved_on = p_issued_on WHERE insurer_number = p_insurer AND member_id = p_member AND resolved_on IS NULL;
    GET DIAGNOSTICS resolved = ROW_COUNT;
    details := coalesce(p_details, '{}'::jsonb) || jsonb_build_object('certificate_number', number, 'person', p_person);
    IF resolved > 0 THEN details := details || jsonb_build_object('mail_returns_resolved', resolved); END IF;
    PERFORM audit_write('counter_issued', p_insurer, p_member, NULL, NULL, details);
    RETURN number;
END $$;

-- Voids an active certificate (e.g. issued in error).
CREATE FUNCTION certificate_void(p_insurer text, p_number bigint, p_reason text, p_on date, p_person text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE member text; st text;
BEGIN
    PERFORM require_visible(p_insurer);
    IF p_reason IS NULL OR btrim(p_reason) = '' OR p_on IS NULL THEN
        RAISE EXCEPTION 'voiding needs a reason and a date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT member_id, status INTO member, st FROM certificate WHERE insurer_number = p_insurer AND certificate_number = p_number FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insurer % has no certificate %', p_insurer, p_number USING ERRCODE = 'no_data_found';
    END IF;
    IF st <> 'active' THEN
        RAISE EXCEPTION 'certificate % is already %', p_number, st USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE certificate SET status = 'voided', voided_on = p_on, void_reason = p_reason
    WHERE insurer_number = p_insurer AND certificate_number = p_number AND status = 'active';
    PERFORM audit_write('certificate_voided', p_insurer, member, NULL, NULL,
                        jsonb_build_object('certificate_number', p_number, 'reason', p_reason, 'on', p_on, 'person', p_person));
    RETURN member;
END $$;

-- Ends a member's special consideration (SPEC.md 2.5 rule 6); returns the certificates changed.
CREATE FUNCTION consideration_end(p_insurer text, p_member text, p_on date, p_reason text, p_person text) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE n int;
BEGIN
    PERFORM require_visible(p_insurer);
    IF p_reason IS NULL OR btrim(p_reason) = '' OR p_on IS NULL THEN
        RAISE EXCEPTION 'ending special consideration needs a reason and a date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE certificate SET consideration_ended_on = p_on
    WHERE insurer_number = p_insurer AND member_id = p_member AND special_consideration AND consideration_ended_on IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'member % has no certificate under special consideration still in force', p_member
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM audit_write('consideration_ended', p_insurer, p_member, NULL, NULL,
                        jsonb_build_object('on', p_on, 'reason', p_reason, 'certificates', n, 'person', p_person));
    RETURN n;
END $$;

-- Records a staff application (the caller applied the field rules and NO_BASIS; the table's
-- trigger below checks NO_BASIS again). Returns its id, or NULL when the member already has one
-- of that kind received that day.
CREATE FUNCTION application_add(p_insurer text, p_member text, p_kind text, p_received_on date, p_basis text, p_status text,
                                p_reject_reason text, p_person text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE id bigint;
BEGIN
    PERFORM require_visible(p_insurer);
    INSERT INTO application (insurer_number, member_id, kind, received_on, basis, status, reject_reason, source, entered_by)
    VALUES (p_insurer, p_member, p_kind, p_received_on, p_basis, p_status, p_reject_reason, 'staff', caller_role())
    ON CONFLICT (insurer_number, member_id, kind, received_on) DO NOTHING
    RETURNING application_id INTO id;
    IF id IS NOT NULL THEN
        PERFORM audit_write('application_added', p_insurer, p_member, NULL, NULL,
                            coalesce(p_details, '{}'::jsonb) || jsonb_build_object('application_id', id, 'person', p_person));
    END IF;
    RETURN id;
END $$;

-- Moves a pending application to approved or rejected (with a reason).
CREATE FUNCTION application_decide(p_insurer text, p_application bigint, p_approve boolean, p_reason text, p_person text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE member text; st text; details jsonb;
BEGIN
    PERFORM require_visible(p_insurer);
    IF NOT coalesce(p_approve, false) AND (p_reason IS NULL OR btrim(p_reason) = '') THEN
        RAISE EXCEPTION 'a rejection needs a reason' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT member_id, status INTO member, st FROM application WHERE insurer_number = p_insurer AND application_id = p_application FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insurer % has no application %', p_insurer, p_application USING ERRCODE = 'no_data_found';
    END IF;
    IF st <> 'pending' THEN
        RAISE EXCEPTION 'application % is %, not pending', p_application, st USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE application SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END,
           reject_reason = CASE WHEN p_approve THEN NULL ELSE p_reason END, updated_at = now()
    WHERE insurer_number = p_insurer AND application_id = p_application AND status = 'pending';
    details := jsonb_build_object('application_id', p_application, 'status', CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END,
                                  'person', p_person);
    IF NOT p_approve THEN details := details || jsonb_build_object('reason', p_reason); END IF;
    PERFORM audit_write('application_decided', p_insurer, member, NULL, NULL, details);
    RETURN member;
END $$;

DO $$
DECLARE f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'counter_issue_certificate(text, text, text, text[], date, date, date, bigint, bigint, boolean, bigint, text, jsonb)',
        'certificate_void(text, bigint, text, date, text)', 'consideration_end(text, text, date, text, text)',
        'application_add(text, text, text, date, text, text, text, text, jsonb)', 'application_decide(text, bigint, boolean, text, text)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO kakunin_staff', f);
    END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION require_visible(text) FROM PUBLIC;

-- Staff change certificates and applications only through the functions above.
REVOKE INSERT, UPDATE ON certificate FROM kakunin_staff;
REVOKE INSERT, UPDATE ON application FROM kakunin_staff;

-- An application enters only through a running import of applications or a staff function, and
-- never as an open special-consideration application without a basis (NO_BASIS, SPEC.md 2.2;
-- elderly members need none from the measure's first day, 2026-08-01).
CREATE FUNCTION application_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NOT role_owns_kakunin(current_user) THEN
        IF NEW.source <> 'import' OR NEW.import_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM import i WHERE i.import_id = NEW.import_id AND i.status = 'running') THEN
            RAISE EXCEPTION 'applications are recorded by an import of applications or at the counter (kakunin application add)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF NEW.kind = 'special_consideration' AND NEW.basis IS NULL AND NEW.status <> 'rejected'
       AND NOT (NEW.received_on >= DATE '2026-08-01'
                AND EXISTS (SELECT 1 FROM member m WHERE m.insurer_number = NEW.insurer_number AND m.member_id = NEW.member_id
                              AND m.scheme = 'elderly')) THEN
        RAISE EXCEPTION 'a special-consideration application without a basis is rejected (NO_BASIS)'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER application_checked BEFORE INSERT OR UPDATE OF kind, basis, status ON application
    FOR EACH ROW EXECUTE FUNCTION application_rules();

-- ---------------------------------------------------------------------------------------------
-- Decision partitions: for a run in progress only (the owner may create any).
CREATE OR REPLACE FUNCTION ensure_decision_partition(d date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    first date := date_trunc('month', d)::date;
    name text := format('decision_y%sm%s', to_char(first, 'YYYY'), to_char(first, 'MM'));
BEGIN
    IF NOT role_owns_kakunin(caller_role())
       AND NOT EXISTS (SELECT 1 FROM run WHERE as_of = d AND status = 'running' AND phase = 'deciding') THEN
        RAISE EXCEPTION 'a decision partition is created only for the as-of date of a run in progress (not %)', d
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(format('%I.%I', current_schema(), name)) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF decision FOR VALUES FROM (%L) TO (%L)',
                           name, first, (first + interval '1 month')::date);
        EXCEPTION WHEN duplicate_table THEN
            NULL;
        END;
    END IF;
    RETURN name;
END $$;

-- ---------------------------------------------------------------------------------------------
-- A run changes existing rows only through this function, in its commit transaction: it reads
-- the changes the run staged in its session's pg_temp.run_change (certificate_number of the new
-- certificate, application fulfilled, certificate replaced, certificate whose special
-- consideration is recorded). Each change must name a certificate of this run for the same
-- member, and must find its row as the run's snapshot saw it; one changed meanwhile (voided or
-- fulfilled at the counter) fails with SQLSTATE 40001 and the run decides again.
CREATE FUNCTION run_apply_changes(p_run bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE r run; expected int[]; changed int[] := '{}'; n int;
BEGIN
    SELECT * INTO r FROM run WHERE run_id = p_run;
    IF NOT FOUND OR r.status <> 'running' OR r.phase IS DISTINCT FROM 'deciding' THEN
        RAISE EXCEPTION 'run % is not deciding: only a run in progress applies its changes', p_run
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT ARRAY[count(replaces), count(records_on), count(application_id)]::int[] INTO expected FROM pg_temp.run_change;
    UPDATE certificate c SET status = 'voided', voided_on = r.as_of, void_reason = 'replaced by certificate ' || x.certificate_number
    FROM pg_temp.run_change x JOIN certificate k ON k.insurer_number = r.insurer_number AND k.certificate_number = x.certificate_number
                                                 AND k.run_id = p_run
    WHERE c.insurer_number = r.insurer_number AND c.certificate_number = x.replaces AND c.member_id = k.member_id AND c.status = 'active';
    GET DIAGNOSTICS n = ROW_COUNT;
    changed := changed || n;
    UPDATE certificate c SET special_consideration = true, consideration_ended_on = NULL
    FROM pg_temp.run_change x
    WHERE c.insurer_number = r.insurer_number AND c.certificate_number = x.records_on AND c.status = 'active'
      AND (c.member_id IN (SELECT k.member_id FROM certificate k
                                               WHERE k.insurer_number = r.insurer_number AND k.certificate_number = x.certificate_number
                                                 AND k.run_id = p_run)
           OR EXISTS (SELECT 1 FROM application a WHERE a.application_id = x.application_id AND a.member_id = c.member_id
                        AND a.insurer_number = r.insurer_number));
    GET DIAGNOSTICS n = ROW_COUNT;
    changed := changed || n;
    UPDATE application a SET fulfilled_run_id = p_run, fulfilled_certificate_number = x.certificate_number, fulfilled_on = r.as_of,
           updated_at = now()
    FROM pg_temp.run_change x
    WHERE a.application_id = x.application_id AND a.insurer_number = r.insurer_number AND a.fulfilled_on IS NULL
      AND a.status = 'approved';
    GET DIAGNOSTICS n = ROW_COUNT;
    changed := changed || n;
    IF changed <> expected THEN
        RAISE EXCEPTION 'rows this run changes were changed meanwhile (expected %, changed %)', expected, changed
            USING ERRCODE = 'serialization_failure';
    END IF;
END $$;
REVOKE ALL ON FUNCTION run_apply_changes(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION run_apply_changes(bigint) TO kakunin_batch;
-- The run's changes to existing certificates and applications go through it.
REVOKE UPDATE ON certificate FROM kakunin_batch;
REVOKE UPDATE ON application FROM kakunin_batch;
GRANT UPDATE (basis, status, reject_reason, import_id, updated_at) ON application TO kakunin_batch;
