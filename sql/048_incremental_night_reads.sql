-- Issue 34 (incremental nights at 1,000,000 members, <= 0.10 of a full night's time): the
-- candidates of sql/044, the same members, with the member table read once instead of twice.
-- sql/044 read every member for the changed ones, then every member again (a hash join) for
-- the nhi members of the households to read whole: at 1,000,000 members two reads of 34,000
-- pages. Here one read keeps what both need (`mem`): the changed members of any scheme (a
-- member who left nhi or a household changes the heads of the household it left) and the
-- key and household of every nhi member of a household (about 20 bytes each, in memory).
-- A household is read whole when one of its nhi members is a candidate, or a changed member
-- of any scheme names it (now, or in fact_change when it left it). A candidate of another
-- scheme does not bring its household in: the facts of an nhi household (its heads, the
-- head's name and address) are taken from its nhi members only (MemberFactsQuery: the window
-- over the 'H-' envelope, which only nhi members have).
CREATE OR REPLACE FUNCTION incremental_candidates(p_insurer text, p_previous bigint, p_as_of date)
RETURNS TABLE (member_id text)
LANGUAGE plpgsql STABLE SET search_path = kakunin, pg_temp AS $$
DECLARE
    snap pg_snapshot;
    since xid8;
    prev_as_of date;
    base_run bigint;
    base_as_of date;
BEGIN
    SELECT r.facts_snapshot, r.as_of, b.run_id, b.as_of INTO snap, prev_as_of, base_run, base_as_of
    FROM run r JOIN run b ON b.run_id = coalesce((r.counts->>'base_run_id')::bigint, r.run_id)
    WHERE r.run_id = p_previous AND r.insurer_number = p_insurer;
    IF snap IS NULL THEN
        RAISE EXCEPTION 'run % of insurer % kept no snapshot of its facts: the next run must be full', p_previous, p_insurer
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    since := pg_snapshot_xmin(snap);
    RETURN QUERY
    WITH mem AS MATERIALIZED (
        -- One read of the members: the changed ones (any scheme: a member who left nhi or a
        -- household changes its old household's heads) and every nhi member of a household.
        SELECT m.member_id, m.household_id, m.scheme = 'nhi' AND m.household_id IS NOT NULL AS in_household,
               coalesce(m.changed_xact, m.created_xact) >= since
                 AND NOT pg_visible_in_snapshot(coalesce(m.changed_xact, m.created_xact), snap) AS changed
        FROM member m
        WHERE m.insurer_number = p_insurer
          AND (m.scheme = 'nhi' AND m.household_id IS NOT NULL
               OR coalesce(m.changed_xact, m.created_xact) >= since
                  AND NOT pg_visible_in_snapshot(coalesce(m.changed_xact, m.created_xact), snap))
    ),
    changed AS MATERIALIZED (
        SELECT x.member_id FROM mem x WHERE x.changed
        UNION ALL SELECT f.member_id FROM fact_change f
        WHERE f.insurer_number = p_insurer AND f.changed_xact >= since AND NOT pg_visible_in_snapshot(f.changed_xact, snap)
        UNION ALL SELECT s.member_id FROM myna_status s
        WHERE s.insurer_number = p_insurer AND s.status_changed
          AND (s.changed_xact >= since AND NOT pg_visible_in_snapshot(s.changed_xact, snap)
               OR s.status_as_of > prev_as_of AND s.status_as_of <= p_as_of)
        UNION ALL SELECT a.member_id FROM application a
        WHERE a.insurer_number = p_insurer
          AND (a.changed_xact >= since AND NOT pg_visible_in_snapshot(a.changed_xact, snap)
               OR a.received_on > prev_as_of AND a.received_on <= p_as_of)
        UNION ALL SELECT c.member_id FROM certificate c
        WHERE c.insurer_number = p_insurer AND c.changed_xact >= since AND NOT pg_visible_in_snapshot(c.changed_xact, snap)
        UNION ALL SELECT n.member_id FROM notice n
        WHERE n.insurer_number = p_insurer AND n.changed_xact >= since AND NOT pg_visible_in_snapshot(n.changed_xact, snap)
        UNION ALL SELECT r.member_id FROM mail_return r
        WHERE r.insurer_number = p_insurer
          AND (r.changed_xact >= since AND NOT pg_visible_in_snapshot(r.changed_xact, snap)
               OR r.returned_on > prev_as_of AND r.returned_on <= p_as_of)
        -- An establishment's name or address is read by its employees' facts and returned mail.
        UNION ALL SELECT m.member_id FROM establishment e JOIN member m USING (insurer_number, establishment_id)
        WHERE e.insurer_number = p_insurer AND e.changed_xact >= since AND NOT pg_visible_in_snapshot(e.changed_xact, snap)
        UNION ALL SELECT r.member_id FROM establishment e JOIN mail_return r USING (insurer_number, establishment_id)
        WHERE e.insurer_number = p_insurer AND e.changed_xact >= since AND NOT pg_visible_in_snapshot(e.changed_xact, snap)
        -- Due for review: a decision of the chain decision_in_force(p_previous) reads (sql/033) whose
        -- review date lies after the previous run's as-of date and not after this one's. Every
        -- decision in force for p_previous has a review date after its as-of date (a run decides
        -- again every member whose date has come, and carries a decision forward only while its
        -- date lies ahead), so no earlier date can be due; a decision of the chain superseded by
        -- a later one makes its member a candidate for nothing (read, found the same, carried).
        -- Without the superseded rows' anti-join, the chain is read once and nothing is hashed.
        UNION ALL SELECT x.member_id FROM decision x
        WHERE x.insurer_number = p_insurer AND x.as_of BETWEEN base_as_of AND prev_as_of
          AND x.run_id BETWEEN base_run AND p_previous AND x.next_review_on > prev_as_of AND x.next_review_on <= p_as_of
    ),
    households AS (
        SELECT x.household_id FROM mem x WHERE x.changed AND x.household_id IS NOT NULL
        UNION SELECT x.household_id FROM (SELECT DISTINCT ch.member_id FROM changed ch) c JOIN mem x USING (member_id) WHERE x.in_household
        UNION SELECT f.household_id FROM fact_change f
        WHERE f.insurer_number = p_insurer AND f.household_id IS NOT NULL AND f.changed_xact >= since
          AND NOT pg_visible_in_snapshot(f.changed_xact, snap)
    )
    SELECT c.member_id FROM changed c
    UNION
    SELECT x.member_id FROM mem x JOIN households h USING (household_id) WHERE x.in_household;
END $$;
REVOKE ALL ON FUNCTION incremental_candidates(text, bigint, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION incremental_candidates(text, bigint, date) TO kakunin_batch;

-- The run's block of certificate numbers: an incremental night asks for one number per member
-- it reads (its candidates), not per member of the insurer; the check that a block is no bigger
-- than the insurer's members counts up to the block's size only (sql/020 counted every member:
-- 67 ms at 1,000,000 members, on a night that reads 31,000). Otherwise as sql/020.
CREATE OR REPLACE FUNCTION certificate_numbers_reserve(p_run bigint, p_count bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE r run; first bigint;
BEGIN
    SELECT * INTO r FROM run WHERE run_id = p_run FOR UPDATE;
    IF NOT FOUND OR r.status <> 'running' OR r.phase IS DISTINCT FROM 'deciding' THEN
        RAISE EXCEPTION 'run % is not deciding: numbers are reserved only by a run in progress', p_run
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_count IS NULL OR p_count < 1
       OR p_count > greatest(1, (SELECT count(*) FROM (SELECT FROM member WHERE insurer_number = r.insurer_number LIMIT p_count) m)) THEN
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
REVOKE ALL ON FUNCTION certificate_numbers_reserve(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION certificate_numbers_reserve(bigint, bigint) TO kakunin_batch;
