-- Issue 29 speed: a counter certificate's printed snapshot comes from a column default instead
-- of the row trigger of sql/031. A BEFORE INSERT row trigger on a table, whatever its WHEN
-- clause, makes PostgreSQL's COPY insert that table one row at a time (no multi-row inserts: it
-- cannot know what the trigger reads), so the run's COPY of its certificates paid for the
-- counter's trigger on every row. A default costs nothing there: the run names
-- printed_snapshot in its COPY column list, so the default is never evaluated for its rows.
--
-- Same behaviour as before: the counter sets the fingerprint of the certificate it is about to
-- issue as a transaction-local setting (set_config('kakunin.printed_snapshot', hex, true)) and
-- counter_issue_certificate (sql/020), which does not name the column, gets it from the
-- default; without the setting (or with anything but 96 hex digits) the column stays NULL.
DROP TRIGGER certificate_counter_snapshot ON certificate;
DROP FUNCTION certificate_counter_snapshot();

CREATE FUNCTION counter_printed_snapshot() RETURNS bytea
LANGUAGE sql STABLE SET search_path = kakunin, pg_temp AS $$
    SELECT CASE WHEN s ~ '^[0-9a-f]{96}$' THEN decode(s, 'hex') END
    FROM (SELECT current_setting('kakunin.printed_snapshot', true) AS s) setting
$$;

ALTER TABLE certificate ALTER COLUMN printed_snapshot SET DEFAULT counter_printed_snapshot();
