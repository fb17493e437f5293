-- Issue 29 item 9 [2026-12] (SPEC.md 2.5 "Printed details change"): each certificate a run
-- issues keeps a fingerprint of what it prints (KakuninCore PrintedSnapshot: one 32-bit hash per
-- printed field, 48 bytes). The nightly facts query returns it with the member's latest active
-- certificate, and the run compares it with what the member's record would print on that
-- certificate now: a difference, outside the mailing horizon of its end, gets a replacement.
-- NULL: a certificate issued before this migration, or handed over at the counter. It is
-- treated as unchanged (no fingerprint, no comparison): its printed values were never kept, and
-- recomputing them from member_history at issued_on would redo the printing rule in SQL. Such a
-- certificate is replaced on a change only by its ordinary renewal, which keeps a fingerprint.
ALTER TABLE certificate
    ADD COLUMN printed_snapshot bytea CHECK (octet_length(printed_snapshot) = 48);
