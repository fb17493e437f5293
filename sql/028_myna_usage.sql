-- [2026-12] The elderly usage test (SPEC.md 2.4): myna_status.csv may carry how often the card
-- was used for insurance. Both columns are optional in the feed (SPEC.md 4): a file without them
-- stores NULL, which the policy reads as "unknown" (the usage test then fails safe: a
-- certificate). The import's stage tables are made from this table's columns, so they follow.
ALTER TABLE myna_status
    -- Uses in the 12 months before status_as_of.
    ADD COLUMN uses_12m integer CHECK (uses_12m >= 0),
    -- The last day the card was used (NULL: never or unknown).
    ADD COLUMN last_used_on date,
    ADD CONSTRAINT myna_status_last_use_not_after_status CHECK (last_used_on <= status_as_of);
