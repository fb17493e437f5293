-- Issue 29 item 4: the elderly rules from 2026-08-01 (SPEC.md 2.2, 2.4).
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

-- [2026-12] SPEC.md 2.2: an elderly member's special-consideration application needs no basis
-- for a certificate whose period starts on or after 2026-08-01, whenever it was received (and
-- only while the insurer's elderly_apply_without_basis is on). Whether it is accepted is decided
-- by the import and the counter (the parameters in force on the day received); whether it is
-- issued on, by the run (the certificate period, Policy rule 3). This guard no longer ties it to
-- the received date: it refuses an open special-consideration application without a basis only
-- for a member who is not elderly.
CREATE OR REPLACE FUNCTION application_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NOT role_owns_kakunin(current_user) THEN
        IF NEW.source <> 'import' OR NEW.import_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM import i WHERE i.import_id = NEW.import_id AND i.status = 'running') THEN
            RAISE EXCEPTION 'applications are recorded by an import of applications or at the counter (kakunin application add)'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF NEW.kind = 'special_consideration' AND NEW.basis IS NULL AND NEW.status <> 'rejected'
       AND NOT EXISTS (SELECT 1 FROM member m WHERE m.insurer_number = NEW.insurer_number AND m.member_id = NEW.member_id
                         AND m.scheme = 'elderly') THEN
        RAISE EXCEPTION 'a special-consideration application without a basis is rejected (NO_BASIS)'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
