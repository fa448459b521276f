-- A data gap is not a miss (issue 18): planned service segments whose service window fell in
-- a stretch without fixes are "unknown — no data", kept apart from missed_segments and left
-- out of coverage (analytics/coverage.py). Shifts rolled up before this migration keep '{}'
-- until they are recomputed.
ALTER TABLE shift_metrics ADD COLUMN no_data_segments text[] NOT NULL DEFAULT '{}';

-- A complaint about a street whose collection-day shifts all had no data there is answered
-- "no_data", not "missed".
ALTER TABLE complaints DROP CONSTRAINT complaints_verdict_check;
ALTER TABLE complaints ADD CONSTRAINT complaints_verdict_check
    CHECK (verdict IN ('serviced', 'missed', 'no_data', 'no_shift', 'no_segment'));
