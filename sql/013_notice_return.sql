-- Returned notices (返戻, SPEC.md 7): a notice that came back undelivered is recorded like a
-- certificate, once, and holds the member's mail until the address changes. A notice is named
-- by its natural key (member, kind, run: sql/005), so the return keeps the notice's run.
ALTER TABLE mail_return ADD COLUMN notice_run_id bigint;
CREATE UNIQUE INDEX mail_return_notice_once ON mail_return (insurer_number, member_id, document, notice_run_id)
    WHERE notice_run_id IS NOT NULL;
ALTER TABLE mail_return ADD CONSTRAINT mail_return_notice_named CHECK (document = 'certificate' OR notice_run_id IS NOT NULL);
