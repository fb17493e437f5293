-- Issue 34: incremental nights. A run decides only the members whose facts changed since the
-- insurer's previous run or whose review date has come; every other member's decision in force
-- is carried forward, without a row in the run. Each decision keeps
--   next_review_on: the first as-of date on which the policy could decide otherwise with the
--                   same facts (KakuninCore Policy.nextReview); NULL: no date does;
--   facts_digest:   a 64-bit digest of the facts row the run read (any change decides again).
-- Decisions written before this migration have neither: their members are decided again.
ALTER TABLE decision ADD COLUMN next_review_on date, ADD COLUMN facts_digest bigint;

-- The decision in force for run R, per member of R's insurer: the latest decision among the runs
-- from R's base run (the last full run, run.counts->>'base_run_id'; R itself for a full run or a
-- run made before this migration) up to R. A decision carried forward is shown as R's: R's run
-- id and as-of date; S, when it was the deciding run's as-of date (no document covered it),
-- moves to R's as-of date (KakuninCore Decision.carried); a carried decision issues nothing, so
-- its certificate number is empty. Every read of "the decisions of run R" goes through here.
-- Plain SQL without SET clauses, so that the planner inlines it: a caller's condition on
-- member_id (explain, one member) reaches the decisions' index.
CREATE FUNCTION decision_in_force(p_run bigint)
RETURNS TABLE (run_id bigint, insurer_number text, member_id text, as_of date, scheme text, outcome text, reasons text[],
               s_date date, valid_from date, valid_to date, certificate_number bigint, facts text,
               next_review_on date, facts_digest bigint, decided_run_id bigint, decided_as_of date)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (d.member_id) r.run_id, d.insurer_number, d.member_id, r.as_of, d.scheme, d.outcome, d.reasons,
           CASE WHEN d.s_date = d.as_of THEN r.as_of ELSE d.s_date END, d.valid_from, d.valid_to,
           CASE WHEN d.run_id = r.run_id THEN d.certificate_number END, d.facts, d.next_review_on, d.facts_digest,
           d.run_id, d.as_of
    FROM kakunin.run r
    JOIN kakunin.run b ON b.run_id = coalesce((r.counts->>'base_run_id')::bigint, r.run_id)
    JOIN kakunin.decision d ON d.insurer_number = r.insurer_number AND d.as_of BETWEEN b.as_of AND r.as_of
                   AND d.run_id BETWEEN b.run_id AND r.run_id
    WHERE r.run_id = p_run
    ORDER BY d.member_id, d.run_id DESC
$$;
