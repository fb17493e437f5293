-- Issue 29 item 9 [2026-12] (SPEC.md 2.5 "Printed details change"): each certificate a run
-- issues keeps a fingerprint of what it prints (KakuninCore PrintedSnapshot: one 32-bit hash per
-- printed field, 48 bytes). The nightly facts query returns it with the member's latest active
-- certificate, and the run compares it with what the member's record would print on that
-- certificate now: a difference, outside the mailing horizon of its end, gets a replacement.
-- NULL: a certificate issued before this migration. It is
-- treated as unchanged (no fingerprint, no comparison): its printed values were never kept, and
-- recomputing them from member_history at issued_on would redo the printing rule in SQL. Such a
-- certificate is replaced on a change only by its ordinary renewal, which keeps a fingerprint.
ALTER TABLE certificate
    ADD COLUMN printed_snapshot bytea CHECK (octet_length(printed_snapshot) = 48);

-- A certificate handed over at the counter keeps its fingerprint too. counter_issue_certificate
-- (sql/020) is left as it is: the counter sets the fingerprint of the certificate it is about to
-- issue as a transaction-local setting (set_config('kakunin.printed_snapshot', hex, true)), and
-- this trigger stores it on the counter's row. Run rows (run_id set) carry their own and skip
-- the trigger by its WHEN clause, so a run's COPY pays nothing per row.
CREATE FUNCTION certificate_counter_snapshot() RETURNS trigger
LANGUAGE plpgsql SET search_path = kakunin, pg_temp AS $$
DECLARE hex text := current_setting('kakunin.printed_snapshot', true);
BEGIN
    IF hex ~ '^[0-9a-f]{96}$' THEN
        NEW.printed_snapshot := decode(hex, 'hex');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER certificate_counter_snapshot BEFORE INSERT ON certificate
    FOR EACH ROW WHEN (NEW.run_id IS NULL AND NEW.printed_snapshot IS NULL)
    EXECUTE FUNCTION certificate_counter_snapshot();
