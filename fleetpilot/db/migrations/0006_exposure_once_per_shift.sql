-- A shift contributes at most one exposure row per grid cell and per street segment (the
-- rollup job keys a shift's rows by its start day). The API's k-anonymity checks count a
-- unit's shifts as its rows; these indexes make that count exact by construction.
CREATE UNIQUE INDEX cell_exposure_once_per_shift ON cell_exposure (cell_id, shift_id);
CREATE UNIQUE INDEX segment_exposure_once_per_shift ON segment_exposure (segment_id, shift_id);
