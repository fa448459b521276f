-- The stops of each shift, for the crew's map of their own shift (the same in both storage
-- modes: shift_metrics is a plain table). Stored in the shape the shift view sends, in time
-- order: {lon, lat, arrived_at (ISO 8601 UTC), dwell_s}, lon/lat rounded to 1e-5 degrees
-- (~1 m, below the GPS noise); about 300 stops make ~25 kB. The view embeds the value as it
-- is: building the objects per request cost ~1 ms of database CPU. Breaks and facility
-- visits are few and live in shift_metrics.metrics (jsonb) with the other per-shift details.
ALTER TABLE shift_metrics ADD COLUMN stop_points jsonb NOT NULL DEFAULT '[]';
