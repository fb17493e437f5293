-- Returned mail (返戻, SPEC.md 7): a certificate that came back undelivered. The member is not
-- mailed again until a later import changes the member's postal code or address, or staff hand
-- a document over at the counter (resolved_on); the nightly run holds such members with
-- MAIL_RETURNED.
CREATE TABLE mail_return (
    return_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    insurer_number text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    document text NOT NULL CHECK (document IN ('certificate', 'eligibility_notice', 'apply_notice')),
    certificate_number bigint,
    returned_on date NOT NULL,
    note text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by text NOT NULL DEFAULT session_user,
    resolved_on date,
    FOREIGN KEY (insurer_number, member_id) REFERENCES member,
    CHECK (document <> 'certificate' OR certificate_number IS NOT NULL)
);
CREATE UNIQUE INDEX mail_return_once ON mail_return (insurer_number, certificate_number) WHERE certificate_number IS NOT NULL;
CREATE INDEX mail_return_open ON mail_return (insurer_number, member_id) WHERE resolved_on IS NULL;
GRANT SELECT, INSERT ON mail_return TO kakunin_staff;
GRANT UPDATE (resolved_on) ON mail_return TO kakunin_staff;
GRANT SELECT ON mail_return TO kakunin_batch, kakunin_auditor;
