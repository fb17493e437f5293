-- Issue 34 item 5 (the full night against the SQL peer): a run's commit applies its changes to
-- existing rows through run_apply_changes (sql/020). Same checks, same answer; a kind of change
-- the run has none of is no longer looked for. On a first night no certificate is replaced and
-- none records a special consideration, yet each of those two UPDATEs hashed every active
-- certificate of the insurer to join the changes' empty column (about 0.1 s each for the 175,849
-- certificates of a 511,330-member insurer, inside the commit). With no such change, the UPDATE
-- could change no row: it counts 0, as it did.
CREATE OR REPLACE FUNCTION run_apply_changes(p_run bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE r run; expected int[]; changed int[] := '{}'; n int;
BEGIN
    SELECT * INTO r FROM run WHERE run_id = p_run;
    IF NOT FOUND OR r.status <> 'running' OR r.phase IS DISTINCT FROM 'deciding' THEN
        RAISE EXCEPTION 'run % is not deciding: only a run in progress applies its changes', p_run
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT ARRAY[count(replaces), count(records_on), count(application_id)]::int[] INTO expected FROM pg_temp.run_change;
    n := 0;
    IF expected[1] > 0 THEN
        UPDATE certificate c SET status = 'voided', voided_on = r.as_of, void_reason = 'replaced by certificate ' || x.certificate_number
        FROM pg_temp.run_change x JOIN certificate k ON k.insurer_number = r.insurer_number AND k.certificate_number = x.certificate_number
                                                     AND k.run_id = p_run
        WHERE c.insurer_number = r.insurer_number AND c.certificate_number = x.replaces AND c.member_id = k.member_id AND c.status = 'active';
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    changed := changed || n;
    n := 0;
    IF expected[2] > 0 THEN
        UPDATE certificate c SET special_consideration = true, consideration_ended_on = NULL
        FROM pg_temp.run_change x
        WHERE c.insurer_number = r.insurer_number AND c.certificate_number = x.records_on AND c.status = 'active'
          AND (c.member_id IN (SELECT k.member_id FROM certificate k
                                                   WHERE k.insurer_number = r.insurer_number AND k.certificate_number = x.certificate_number
                                                     AND k.run_id = p_run)
               OR EXISTS (SELECT 1 FROM application a WHERE a.application_id = x.application_id AND a.member_id = c.member_id
                            AND a.insurer_number = r.insurer_number));
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
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
