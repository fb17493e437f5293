-- A first load of the members builds the primary key and the kana index after the COPY
-- (member_bulk_load_end, sql/016), one after the other inside the import's transaction. Each
-- build is a parallel sort: the leader and up to max_parallel_maintenance_workers workers scan
-- and sort a share of the table each, then the leader merges their runs alone while it writes
-- the index. On two cores the server's default of two workers puts three sorting processes on
-- two cores and leaves the leader a three-way merge; one worker sorts with one process a core
-- and merges two runs. The setting is the function's own (local to the import's transaction):
-- nothing else of the server changes.
CREATE OR REPLACE FUNCTION member_bulk_load_end() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = kakunin, pg_temp AS $$
DECLARE x record;
BEGIN
    PERFORM set_config('maintenance_work_mem', '512MB', true);
    PERFORM set_config('max_parallel_maintenance_workers', '1', true);
    FOR x IN SELECT statement FROM member_deferred_ddl ORDER BY position LOOP
        EXECUTE x.statement;
    END LOOP;
    DELETE FROM member_deferred_ddl;
END $$;
