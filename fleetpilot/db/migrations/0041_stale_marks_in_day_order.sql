-- Issue 22: the stale-day marks (migration 0007, crews 0021) lock their days' rows of
-- exposure_stale_days to the commit, in the order the statement's DISTINCT produced them: a
-- hash order, different for different sets of days (20 days inserted in reverse came out as
-- 15, 05, 09, 19, …). Two writers whose rows share two days — rollup workers, or the rollup's
-- last batch written beside the one before it (decision 0046), in a backfill of many days —
-- could each hold one day and wait for the other's: a deadlock, and one of them aborted. In day
-- order, every writer takes them in the same order.
CREATE OR REPLACE FUNCTION exposure_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Transition tables: `changed` holds the inserted (or deleted) rows of the statement.
    INSERT INTO exposure_stale_days (day)
    SELECT DISTINCT day FROM changed ORDER BY day
    ON CONFLICT (day) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION crew_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exposure_stale_days (day)
    SELECT DISTINCT m.day FROM changed c JOIN shift_metrics m ON m.shift_id = c.shift_id ORDER BY m.day
    ON CONFLICT (day) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$;
