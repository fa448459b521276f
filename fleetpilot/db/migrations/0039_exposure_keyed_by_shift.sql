-- Issue 22: the exposure tables' primary keys lead with the shift. The rollup writes a batch's
-- rows shift by shift, each shift's units in order, so a key (shift_id, unit) takes them at
-- its right-hand edge, where (unit, shift_id) took them all over the index; and the separate
-- index on shift_id (migration 0034) is the key's prefix now. COPY of 69,683 rows of a 50-shift
-- batch into cell_exposure: 0.52-0.65 s of server time before, 0.27-0.29 s after; 38,911
-- segment_exposure rows: 0.25-0.32 s before, 0.20-0.26 s after (docs/benchmarks/rollup.md).
-- The same rows are unique (a shift has one row per unit: migration 0006), only in another order.
-- The hazards page reads a place's streets by segment and day: (segment_id, day) serves it.
ALTER TABLE cell_exposure DROP CONSTRAINT cell_exposure_pkey;
ALTER TABLE cell_exposure ADD CONSTRAINT cell_exposure_pkey PRIMARY KEY (shift_id, cell_id);
DROP INDEX cell_exposure_shift;
ALTER TABLE segment_exposure DROP CONSTRAINT segment_exposure_pkey;
ALTER TABLE segment_exposure ADD CONSTRAINT segment_exposure_pkey PRIMARY KEY (shift_id, segment_id);
DROP INDEX segment_exposure_shift;
CREATE INDEX segment_exposure_segment ON segment_exposure (segment_id, day);
