-- The route driven per shift, simplified by the rollup job for the crew's map (issue 22,
-- item 5): the track view read ~36,000 raw fixes per request and thinned them (p95 695 ms at
-- 50 clients, 16-21 ms of database CPU per request). Now it serves this row as it is, and
-- reads the raw fixes only when asked for them (?detail=raw).
-- coordinates: [[lon, lat], ...] in time order, Douglas-Peucker within tolerance_m of every
-- fix (fleetpilot.analytics.simplify), degrees to 1e-5; json, not jsonb, so the text the rollup
-- wrote is the text the API sends (no parsing, no re-serialising). A 10 h shift is a few
-- hundred points, ~10 kB before PostgreSQL compresses it.
CREATE TABLE shift_tracks (
    shift_id    text PRIMARY KEY REFERENCES shifts ON DELETE CASCADE,
    tolerance_m real NOT NULL,
    fixes       integer NOT NULL,  -- fixes the line was simplified from
    points      integer NOT NULL,  -- positions in coordinates
    coordinates json NOT NULL
);

-- It is positional per shift, so it expires with the raw fixes like the stop points and
-- event positions (migration 0018, issue 13 item 2): the function is 0018's with the tracks
-- deleted too.
CREATE OR REPLACE FUNCTION fleetpilot_expire_shift_positions(cutoff timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    expired integer;
BEGIN
    CREATE TEMP TABLE expired_shifts ON COMMIT DROP AS
        SELECT shift_id FROM shifts WHERE ends_at <= cutoff;
    CREATE TEMP TABLE clean_days ON COMMIT DROP AS
        SELECT DISTINCT e.day FROM (
            SELECT day FROM cell_exposure c JOIN expired_shifts x USING (shift_id)
            UNION SELECT day FROM segment_exposure s JOIN expired_shifts x USING (shift_id)
        ) e
        WHERE NOT EXISTS (SELECT 1 FROM exposure_stale_days d WHERE d.day = e.day);
    UPDATE shift_metrics m SET stop_points = '[]'
    FROM expired_shifts x WHERE m.shift_id = x.shift_id AND m.stop_points <> '[]';
    GET DIAGNOSTICS expired = ROW_COUNT;
    DELETE FROM shift_tracks t USING expired_shifts x WHERE t.shift_id = x.shift_id;
    UPDATE shift_events e SET lon = NULL, lat = NULL,
                              context = e.context - ARRAY['segment_id', 'cell_id', 'lon', 'lat', 'street']
    FROM expired_shifts x WHERE e.shift_id = x.shift_id AND (e.lon IS NOT NULL OR e.lat IS NOT NULL);
    DELETE FROM cell_exposure c USING expired_shifts x, clean_days d
    WHERE c.shift_id = x.shift_id AND c.day = d.day;
    DELETE FROM segment_exposure s USING expired_shifts x, clean_days d
    WHERE s.shift_id = x.shift_id AND s.day = d.day;
    -- The deletes' triggers marked these days stale; their blocks are still exact.
    DELETE FROM exposure_stale_days s USING clean_days d WHERE s.day = d.day AND s.marked_at = now();
    DROP TABLE expired_shifts, clean_days;
    RETURN expired;
END $$;

-- The crew's shift list and trends (issue 22, item 5): each counted its shifts' safety
-- moments per request (a subquery per shift: ~60 % of their buffers in EXPLAIN (ANALYZE,
-- BUFFERS)); the rollup job now stores the count. NULL for a shift rolled up before this
-- migration: the API counts those as before until they are recomputed.
ALTER TABLE shift_metrics ADD COLUMN safety_events integer;
-- A person's shifts by an index-only scan (the person index alone fetched a heap block per
-- crew row, scattered over the table).
CREATE INDEX shift_crew_person_shift ON shift_crew (person_id, shift_id);
DROP INDEX shift_crew_person;
