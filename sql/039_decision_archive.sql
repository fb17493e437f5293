-- Issue 34 item 4: old decision partitions archived to files the auditors verify against the
-- log, and dropped from the database only after that (`kakunin archive --before D`).
--
-- A month's partition may go once no decision in force needs it: every insurer's latest run
-- reads its decisions in force from its base run on (run.counts base_run_id, sql/033
-- decision_in_force), so the months before the month of the oldest such base run (of the latest
-- run and the one before it) hold nothing that is still in force. The archive command writes the partition's rows to a file, records a
-- `decisions_archived` event (file name, rows, sha256, the runs it covers), seals it into the
-- log, and only then asks decision_partition_drop, which refuses without that sealed entry.

-- The first month whose decisions some insurer still reads (NULL: no run has decided anything):
-- the month of the oldest base run among each insurer's two latest runs that decided: the
-- latest run's decisions in force (the next night starts from them; a run in progress reads them
-- too) and those of the run before it (the latest run's report shows the changes since it).
CREATE FUNCTION decision_archive_needed_from() RETURNS date
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT date_trunc('month', min(b.as_of))::date
    FROM (SELECT coalesce((counts->>'base_run_id')::bigint, run_id) AS base,
                 row_number() OVER (PARTITION BY insurer_number ORDER BY run_id DESC) AS latest
          FROM run WHERE phase IN ('decided', 'completed')) r
    JOIN run b ON b.run_id = r.base
    WHERE r.latest <= 2
$$;
GRANT EXECUTE ON FUNCTION decision_archive_needed_from() TO kakunin_batch, kakunin_staff, kakunin_auditor;

-- The month's partition of decision (its first day), as the archive sees it: name, rows, runs.
CREATE FUNCTION decision_partitions()
RETURNS TABLE (partition_name text, month date, next_month date)
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT c.relname::text, to_date(substr(c.relname, 11, 4) || substr(c.relname, 16, 2), 'YYYYMM'),
           (to_date(substr(c.relname, 11, 4) || substr(c.relname, 16, 2), 'YYYYMM') + interval '1 month')::date
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'kakunin.decision'::regclass AND c.relname ~ '^decision_y[0-9]{4}m[0-9]{2}$'
    ORDER BY 2
$$;
GRANT EXECUTE ON FUNCTION decision_partitions() TO kakunin_batch, kakunin_staff, kakunin_auditor;

-- The batch role records what it archived; the drop below records itself.
INSERT INTO audit_action_grant (action, role) VALUES ('decisions_archived', 'kakunin_batch');

-- Drops the decisions' partition of one month (its first day), with the owner's rights: only
-- when the month lies before every decision in force (decision_archive_needed_from) and a
-- sealed `decisions_archived` event names the partition with its current number of rows and a
-- sha256. Records `decision_partition_dropped` (rows, the archive's event) in the log.
CREATE FUNCTION decision_partition_drop(p_month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    part text := format('decision_y%sm%s', to_char(p_month, 'YYYY'), to_char(p_month, 'MM'));
    needed date;
    n bigint;
    archived audit_event;
BEGIN
    IF p_month IS NULL OR p_month <> date_trunc('month', p_month)::date
       OR NOT EXISTS (SELECT 1 FROM decision_partitions() p WHERE p.partition_name = part) THEN
        RAISE EXCEPTION 'no decision partition for the month of %', p_month USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', part);
    needed := decision_archive_needed_from();
    IF needed IS NULL OR (p_month + interval '1 month')::date > needed THEN
        RAISE EXCEPTION 'partition % holds decisions still in force (decisions in force read from %)', part, coalesce(needed::text, 'no run')
            USING ERRCODE = 'object_in_use', HINT = 'archive only months before the oldest base run an insurer still reads from';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', part) INTO n;
    SELECT e.* INTO archived FROM audit_event e JOIN audit_log l ON l.event_id = e.event_id
    WHERE e.action = 'decisions_archived' AND e.details->>'partition' = part AND e.details->>'rows' = n::text
      AND e.details->>'sha256' ~ '^[0-9a-f]{64}$'
    ORDER BY e.event_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'partition % (% rows) has no sealed decisions_archived entry in the audit log with that number of rows', part, n
            USING ERRCODE = 'insufficient_privilege', HINT = 'kakunin archive writes the file and the entry first';
    END IF;
    EXECUTE format('DROP TABLE %I', part);
    PERFORM audit_write('decision_partition_dropped', NULL, NULL, NULL, NULL,
                        jsonb_build_object('partition', part, 'rows', n, 'archive_event_id', archived.event_id,
                                           'file', archived.details->>'file', 'sha256', archived.details->>'sha256'));
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION decision_partition_drop(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION decision_partition_drop(date) TO kakunin_batch;
