-- What each decision was made from (replay, SPEC.md 8): the member's facts as the run read them,
-- the policy columns of the facts query joined by '|' (empty for none). About 70 bytes per
-- decision; dropped with the month's partition like the decisions themselves.
ALTER TABLE decision ADD COLUMN facts text;
