-- Myna status arrives monthly (SPEC.md 4): every extract adds a snapshot for every member, and
-- nearly all of them repeat the member's previous one. The facts query wants, per member, the
-- latest snapshot on or before the as-of date; read from every snapshot, one year of monthly
-- extracts made the nightly run's facts query 2.6 times slower at a million members (6.1 s
-- until its first row with one snapshot per member, 15.5-16.6 s with twelve), and it would keep
-- growing by a month's worth every month.
--
-- Every snapshot is still stored (nothing an extract said is lost, `member show` lists them
-- all). A snapshot whose values are those of the member's previous snapshot (by status_as_of)
-- is marked `repeats_previous`; the latest snapshot on or before a date and the latest one not
-- marked on or before that date carry the same values, so the facts query reads only the
-- unmarked ones, through a partial index that holds nothing else. The importer recomputes the
-- mark for the members it touched, after its inserts and corrections (a snapshot corrected or
-- inserted between two others can change its successor's mark).
ALTER TABLE myna_status ADD COLUMN repeats_previous boolean NOT NULL DEFAULT false;

UPDATE myna_status t SET repeats_previous = true
FROM (SELECT insurer_number, member_id, status_as_of,
             row_number() OVER w > 1
             AND (has_card, registration, card_state, ecert_expiry, card_expiry)
                 IS NOT DISTINCT FROM (lag(has_card) OVER w, lag(registration) OVER w, lag(card_state) OVER w,
                                       lag(ecert_expiry) OVER w, lag(card_expiry) OVER w) AS repeats
      FROM myna_status
      WINDOW w AS (PARTITION BY insurer_number, member_id ORDER BY status_as_of)) x
WHERE x.repeats AND t.insurer_number = x.insurer_number AND t.member_id = x.member_id AND t.status_as_of = x.status_as_of;

CREATE INDEX myna_status_changes ON myna_status (insurer_number, member_id, status_as_of) WHERE NOT repeats_previous;
