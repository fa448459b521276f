-- Issue 22: the rollup replaces a batch's exposure rows with DELETE … WHERE shift_id = ANY(…);
-- neither table had an index leading with shift_id, so every batch scanned both tables whole
-- (EXPLAIN (ANALYZE, BUFFERS) on a 210-shift month: 0.83 s and 0.44 s per 50-shift batch),
-- which grows with the history: a backfill of a year would be quadratic. The retention expiry
-- and the crew's reads by shift use them too.
CREATE INDEX cell_exposure_shift ON cell_exposure (shift_id);
CREATE INDEX segment_exposure_shift ON segment_exposure (shift_id);
