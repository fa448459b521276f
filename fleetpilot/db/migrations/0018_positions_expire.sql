-- Nothing positional outlives its purpose (issue 13, item 2).

-- Dead letters: reason, topic, vehicle, size, hash and receive time; the payload only as
-- text with its numbers removed (ingest/deadletter.py), with their own short retention.
ALTER TABLE rejects
    ADD COLUMN payload_bytes  integer,
    ADD COLUMN payload_sha256 bytea,
    ADD COLUMN vehicle_id     text;
-- Rows stored before this migration kept raw payloads: keep their size and hash only, and
-- take the numbers out of their detail lines.
UPDATE rejects SET payload_bytes = length(payload), payload_sha256 = sha256(payload), payload = '',
                   detail = regexp_replace(detail, '[0-9]+([.,:][0-9]+)*', '#', 'g');
ALTER TABLE rejects ALTER COLUMN payload_bytes SET NOT NULL, ALTER COLUMN payload_sha256 SET NOT NULL;

ALTER TABLE privacy_settings
    ADD COLUMN deadletter_days integer NOT NULL DEFAULT 7 CHECK (deadletter_days BETWEEN 1 AND 90);

-- When a shift's raw fixes expire, its per-shift positions go too: its stop points, the
-- positions (and street) of its safety events, and its per-shift exposure rows (cells and
-- segments it passed, in order a coarse trace). What stays is aggregate: shift_metrics'
-- figures and the day/week exposure blocks (cell_daily ... segment_weekly). Exposure rows
-- are removed only from days whose blocks are up to date (not in exposure_stale_days), and
-- those days are not marked stale by the removal: the blocks already hold their sums. A
-- stale day's rows wait for the rollup job to rebuild its blocks, then go at the next run.
ALTER TABLE shift_events ALTER COLUMN lon DROP NOT NULL, ALTER COLUMN lat DROP NOT NULL;

CREATE FUNCTION fleetpilot_expire_shift_positions(cutoff timestamptz) RETURNS integer
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
