-- Vendor-grade mailing files (issue 13).
--
-- A document whose record the vendor's file cannot carry (a character the encoding lacks, a
-- control character, a field over max_chars) is issued but not mailed: it waits for staff,
-- and says why.
ALTER TABLE certificate ADD COLUMN mail_exception text;
ALTER TABLE notice ADD COLUMN mail_exception text;

-- The files show the members as the run saw them, even when they are written again after a
-- crash and an import has changed an address meanwhile: the run keeps its snapshot, and every
-- member row and every change carries the transaction that made it (pg_current_xact_id() is
-- stable, so a COPY into member still inserts in batches).
ALTER TABLE run ADD COLUMN facts_snapshot pg_snapshot;
ALTER TABLE member ADD COLUMN created_xact xid8;
ALTER TABLE member ALTER COLUMN created_xact SET DEFAULT pg_current_xact_id();
ALTER TABLE member_history ADD COLUMN xact xid8;
ALTER TABLE member_history ALTER COLUMN xact SET DEFAULT pg_current_xact_id();

GRANT UPDATE (facts_snapshot) ON run TO kakunin_batch;
