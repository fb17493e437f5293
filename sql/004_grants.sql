-- Least privilege for the group roles of 001_roles.sql.
GRANT USAGE ON SCHEMA kakunin TO kakunin_batch, kakunin_staff, kakunin_auditor;

GRANT SELECT ON ALL TABLES IN SCHEMA kakunin TO kakunin_auditor;

GRANT SELECT, INSERT, UPDATE ON insurer, import, member, myna_status, application,
    run, certificate, notice, insurer_parameters TO kakunin_batch;
GRANT SELECT, INSERT ON import_reject, member_history, decision, audit_event TO kakunin_batch;
GRANT EXECUTE ON FUNCTION ensure_decision_partition(date) TO kakunin_batch;
-- The nightly run analyses the tables it has just filled (ANALYZE needs ownership or MAINTAIN);
-- without the grant a batch role skips it with a warning and the run still works.

GRANT SELECT ON insurer, member, myna_status, certificate, notice, decision, run TO kakunin_staff;
GRANT SELECT, INSERT, UPDATE ON application TO kakunin_staff;
GRANT UPDATE (status, voided_on, void_reason, consideration_ended_on) ON certificate TO kakunin_staff;
GRANT SELECT, INSERT ON audit_event TO kakunin_staff;

-- Nobody but the owner may rewrite history.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC;
