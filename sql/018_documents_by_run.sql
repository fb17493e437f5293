-- Issue 15 (large insurers, years of history): what reads one run's documents back after its
-- commit (the audit seal, the run report, a rebuild of its files, the operations page) found
-- them with `run_id = …`, which no index serves: a scan of every certificate and notice ever
-- issued, about one more row per member per year.
--
--  * Certificates: a run numbers its certificates from the block it reserved, which it alone
--    uses ([numbers_from, numbers_to) on its run row, sql/011; the block is sized from the
--    members the run reads, so no number falls outside it). Those readers add that range to
--    their condition: a range of the primary key, with no index added to the inserts.
--  * Notices have no number. A BRIN index on run_id: run ids grow, and notices are only ever
--    appended, so each range of heap pages holds few runs. Rows landing in pages not yet
--    summarised cost the insert nothing; autosummarize summarises each range once it is full.
--    A run's notices are then read from its own recent pages and the unsummarised tail.
CREATE INDEX notice_by_run ON notice USING brin (run_id) WITH (autosummarize = on);

CREATE OR REPLACE FUNCTION audit_seal() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE
    n bigint;
    ids bigint[];
    ev audit_event;
    added bigint;
    first_number bigint;
    end_number bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kakunin.audit_seal'));
    SELECT coalesce(max(log_index) + 1, 0) INTO n FROM audit_log;
    WITH gone AS (DELETE FROM audit_pending RETURNING event_id)
    SELECT array_agg(event_id ORDER BY event_id) INTO ids FROM gone;
    IF ids IS NULL THEN RETURN n; END IF;
    FOR ev IN SELECT * FROM audit_event WHERE event_id = ANY (ids) ORDER BY event_id LOOP
        INSERT INTO audit_log (log_index, event_id) VALUES (n, ev.event_id);
        n := n + 1;
        IF ev.action = 'run_decided' AND ev.run_id IS NOT NULL THEN
            -- The run's block of numbers; a run from before sql/011 has none: all numbers.
            SELECT coalesce(r.numbers_from, 0), coalesce(r.numbers_to, 9223372036854775807)
            INTO first_number, end_number FROM run r WHERE r.run_id = ev.run_id;
            INSERT INTO audit_log (log_index, insurer_number, certificate_number)
            SELECT n - 1 + row_number() OVER (ORDER BY c.certificate_number), c.insurer_number, c.certificate_number
            FROM certificate c
            WHERE c.insurer_number = ev.insurer_number AND c.run_id = ev.run_id
              AND c.certificate_number >= coalesce(first_number, 0)
              AND c.certificate_number < coalesce(end_number, 9223372036854775807);
            GET DIAGNOSTICS added = ROW_COUNT;
            n := n + added;
        ELSIF ev.action = 'counter_issued' THEN
            INSERT INTO audit_log (log_index, insurer_number, certificate_number)
            SELECT n, c.insurer_number, c.certificate_number FROM certificate c
            WHERE c.insurer_number = ev.insurer_number AND c.certificate_number = (ev.details->>'certificate_number')::bigint
              AND c.run_id IS NULL;
            GET DIAGNOSTICS added = ROW_COUNT;
            n := n + added;
        END IF;
    END LOOP;
    RETURN n;
END $$;
