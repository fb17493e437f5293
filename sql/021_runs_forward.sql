-- Runs move forward in time (SPEC.md 2.5). A run does not see, as covering its as-of date, a
-- certificate issued by a run for a later date: a catch-up run or a mistyped year would issue
-- overlapping certificates. So no run row may be added for an as-of date earlier than that of
-- a completed or running issuing run of the same insurer (any job). `kakunin run` checks this
-- in the registry's transaction, under the insurer's run lock, and refuses before anything is
-- written (exit 12); this trigger is the same rule for any other path that inserts a run row.

-- The latest completed or running run of the insurer whose as-of date is after `p_as_of`:
-- the run a run for `p_as_of` would go back behind (none: the run moves forward).
CREATE FUNCTION run_later_than(p_insurer text, p_as_of date)
RETURNS TABLE (run_id bigint, as_of date, job text, status text)
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT r.run_id, r.as_of, r.job, r.status FROM run r
    WHERE r.insurer_number = p_insurer AND r.as_of > p_as_of AND r.status IN ('completed', 'running')
    ORDER BY r.as_of DESC, r.run_id DESC
    LIMIT 1
$$;

CREATE FUNCTION run_moves_forward() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
DECLARE
    later record;
BEGIN
    -- The insurer's run lock (RunRegistry.lockKey): two sessions cannot both pass the check
    -- with rows the other has not committed. A `kakunin run` holds it already (session level).
    PERFORM pg_advisory_xact_lock(hashtextextended('kakunin.run:' || NEW.insurer_number, 0));
    SELECT * INTO later FROM run_later_than(NEW.insurer_number, NEW.as_of);
    IF FOUND THEN
        RAISE EXCEPTION 'a run of insurer % as of % would go back in time: run % (job %, %) is as of %',
            NEW.insurer_number, NEW.as_of, later.run_id, later.job, later.status, later.as_of
            USING ERRCODE = 'check_violation',
                  HINT = 'runs move forward in time (SPEC.md 2.5): run for a date on or after the latest run''s';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER run_moves_forward BEFORE INSERT ON run FOR EACH ROW EXECUTE FUNCTION run_moves_forward();

-- Every date kakunin accepts lies in 1900-01-01 … 2099-12-31 (SPEC.md 2.5); a run's as-of date
-- is one of them.
ALTER TABLE run ADD CONSTRAINT run_as_of_in_range CHECK (as_of BETWEEN DATE '1900-01-01' AND DATE '2099-12-31') NOT VALID;
