-- Issue 29 item 7 [2026-12]: the optional columns of members.csv (SPEC.md 4). An extract may
-- carry any of them; a file without one stores NULL ("none") for every member, so today's
-- extracts load unchanged. member_history keeps their changes like any other column's (sql/017
-- reads the columns from the catalog), and a rebuild of a run's files undoes later changes from
-- it, so the printed values of a run are those it saw.
ALTER TABLE member
    -- 発効期日 of copay_ratio (printed with it; NULL: the certificate's valid_from).
    ADD COLUMN copay_effective_on date,
    -- The nhi household is under the 特別療養費 measure (unpaid premiums); NULL: no.
    ADD COLUMN special_care boolean,
    -- 任意記載事項: 限度区分 as the insurer prints it, with its 発効期日; 長期入院該当日; 特定疾病区分.
    ADD COLUMN limit_category text CHECK (char_length(limit_category) BETWEEN 1 AND 10),
    ADD COLUMN limit_effective_on date,
    ADD COLUMN long_stay_on date,
    ADD COLUMN specific_disease text CHECK (specific_disease IN ('A', 'B', 'C')),
    -- Employee schemes: the member's establishment (事業所) and 任意継続; stored for delivery.
    ADD COLUMN establishment_id text COLLATE "C",
    ADD COLUMN voluntary_continuation boolean,
    ADD CONSTRAINT member_limit_effective_with_category CHECK (limit_effective_on IS NULL OR limit_category IS NOT NULL);
