-- Special-consideration bases of 2026 (SPEC.md 2.2, 4): care_need (要介護・要支援), guardianship
-- (成年後見) and facility (施設入所) join elderly, disability, needs_helper and other. sql/002
-- declared the list as the column's CHECK (application_basis_check); it is replaced by the same
-- check over the wider list (KakuninCore ConsiderationBasis holds the same codes). Every row
-- stored under the old list satisfies the new one.
ALTER TABLE application DROP CONSTRAINT application_basis_check;
ALTER TABLE application ADD CONSTRAINT application_basis_check
    CHECK (basis IN ('elderly', 'disability', 'needs_helper', 'care_need', 'guardianship', 'facility', 'other'));
