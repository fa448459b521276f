-- Shifts are filed under the local day of their start in the city's time zone
-- (fleetpilot.localtime, decision 0013), which SQL does not know. A crew change marks stale the
-- day its shift is filed under, read from shift_metrics (written in the same transaction as
-- the shift's exposure rows, keyed by shift_id), instead of recomputing it from starts_at in UTC.
CREATE OR REPLACE FUNCTION crew_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exposure_stale_days (day)
    SELECT DISTINCT m.day FROM changed c JOIN shift_metrics m ON m.shift_id = c.shift_id
    ON CONFLICT (day) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$;
