-- Counter staff see a member's whole record (SPEC.md 7): the history of changes and the
-- imports that made them. Everything staff change goes through audited paths (audit_append;
-- the certificate trigger).
GRANT SELECT ON member_history, import TO kakunin_staff;
