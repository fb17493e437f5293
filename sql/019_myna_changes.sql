-- Myna status arrives monthly (SPEC.md 4): every extract adds a snapshot for every member, and
-- nearly all of them repeat the member's previous one. The facts query wants, per member, the
-- latest snapshot on or before the as-of date; read from every snapshot, one year of monthly
-- extracts made the nightly run's facts query 2.6 times slower at a million members (6.1 s
-- until its first row with one snapshot per member, 15.5-16.6 s with twelve), and it would keep
-- growing by a month's worth every month.
--
-- Every snapshot is still stored (nothing an extract said is lost, `member show` lists them
-- all). A snapshot is marked `status_changed` when it is the member's first or its values differ
-- from the member's previous snapshot (by status_as_of). The latest marked snapshot on or before
-- a date carries the values of the latest snapshot on or before it (everything after it repeats
-- it), so the facts query reads only the marked ones, through a partial index that holds
-- nothing else. The importer marks what it inserts and re-marks the members whose snapshots it
-- corrected or inserted before later ones.
--
-- Repeats, the common row, keep the default: only the first and the changed snapshots are
-- written here.
ALTER TABLE myna_status ADD COLUMN status_changed boolean NOT NULL DEFAULT false;

UPDATE myna_status t SET status_changed = true
FROM (SELECT insurer_number, member_id, status_as_of,
             row_number() OVER w = 1
             OR (has_card, registration, card_state, ecert_expiry, card_expiry)
                IS DISTINCT FROM (lag(has_card) OVER w, lag(registration) OVER w, lag(card_state) OVER w,
                                  lag(ecert_expiry) OVER w, lag(card_expiry) OVER w) AS changed
      FROM myna_status
      WINDOW w AS (PARTITION BY insurer_number, member_id ORDER BY status_as_of)) x
WHERE x.changed AND t.insurer_number = x.insurer_number AND t.member_id = x.member_id AND t.status_as_of = x.status_as_of;

CREATE INDEX myna_status_changes ON myna_status (insurer_number, member_id, status_as_of) WHERE status_changed;
