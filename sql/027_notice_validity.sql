-- An eligibility notice to an nhi member who has attained 70 carries 有効期限 and the copay's
-- 発効期日 (SPEC.md 3 [2026-12]): the period it was issued for, so that the next runs see when
-- it lapses (a new notice is due then, like a renewal) and a rebuild of the files prints the
-- same dates. NULL for every other notice (they carry no validity date).
ALTER TABLE notice ADD COLUMN valid_from date, ADD COLUMN valid_to date,
    ADD CONSTRAINT notice_validity CHECK ((valid_from IS NULL) = (valid_to IS NULL) AND (valid_to IS NULL OR valid_to >= valid_from));
