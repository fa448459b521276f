-- The stops of each shift, for the crew's map of their own shift (the same in both storage
-- modes: shift_metrics is a plain table). One compact array per stop, in time order:
-- [lon, lat, arrival epoch s, dwell s]; lon/lat rounded to 1e-5 degrees (~1 m, below the
-- GPS noise). About 300 stops in a shift keep it near 12 kB. The shift detail query turns
-- them into {lon, lat, arrived_at, dwell_s}. Breaks and facility visits are few and live in
-- shift_metrics.metrics (jsonb) with the other per-shift details.
ALTER TABLE shift_metrics ADD COLUMN stop_points jsonb NOT NULL DEFAULT '[]';
