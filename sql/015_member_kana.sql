-- Counter search by kana prefix (kakunin member find --kana, the console's /members?q=): the
-- reading without spaces, byte-wise, so that a prefix is an index range and the first page
-- comes in order without sorting every match.
CREATE INDEX member_kana ON member
    (insurer_number, ((coalesce(family_name_kana, '') || coalesce(given_name_kana, '')) COLLATE "C"), member_id);

-- Under row-level security PostgreSQL applies a query's own conditions only after the policy's,
-- unless every function in them is leakproof; `||` is not, so for a staff login the index above
-- would serve the insurer only and the prefix would be checked on every member of it (0.5 s at
-- a million members). The search therefore runs in this function, as the owner, with the
-- scope checked inside it exactly as the policies do, for the role the caller acts as.

-- Whether `p_role` may see the members of `p_insurer` (the rule of the staff_scoped policies).
CREATE FUNCTION insurer_visible_to(p_insurer text, p_role name) RETURNS boolean
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT r.rolsuper OR r.rolbypassrls
        OR pg_has_role(r.oid, 'kakunin_batch', 'USAGE') OR pg_has_role(r.oid, 'kakunin_auditor', 'USAGE')
        OR NOT pg_has_role(r.oid, 'kakunin_staff', 'USAGE')
        OR EXISTS (SELECT 1 FROM staff_scope s WHERE s.login = r.rolname AND s.insurer_number = p_insurer)
    FROM pg_roles r WHERE r.rolname = p_role
$$;
CREATE OR REPLACE FUNCTION insurer_visible(p_insurer text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT coalesce(insurer_visible_to(p_insurer, current_user), false)
$$;

-- Members of p_insurer whose reading is in [p_from, p_to), in reading order. The caller is the
-- role set with SET ROLE (the console's person) or else the login.
CREATE FUNCTION member_kana_search(p_insurer text, p_from text, p_to text, p_birth date, p_limit int, p_offset int)
RETURNS SETOF member
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
    SELECT m.* FROM member m
    WHERE m.insurer_number = p_insurer
      AND coalesce(insurer_visible_to(p_insurer, CASE WHEN current_setting('role') <> 'none' THEN current_setting('role')::name
                                                      ELSE session_user END), false)
      AND ((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C") >= p_from
      AND ((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C") < p_to
      AND (p_birth IS NULL OR m.birth_date = p_birth)
    ORDER BY ((coalesce(m.family_name_kana, '') || coalesce(m.given_name_kana, '')) COLLATE "C"), m.member_id
    LIMIT p_limit OFFSET p_offset
$$;
REVOKE EXECUTE ON FUNCTION member_kana_search(text, text, text, date, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION member_kana_search(text, text, text, date, int, int) TO kakunin_staff, kakunin_auditor, kakunin_batch;
GRANT EXECUTE ON FUNCTION insurer_visible_to(text, name) TO PUBLIC;
