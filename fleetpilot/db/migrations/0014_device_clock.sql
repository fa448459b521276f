-- Clock skew per device (issue 19): the unit's clock minus the server's, smoothed over its
-- messages, written by the ingest every ~30 s (ingest/skew.py); shown to admins beside
-- last_seen. Positive: the unit is ahead (its data would be dead-lettered as clock_skew).
ALTER TABLE devices
    ADD COLUMN clock_skew_s real,
    ADD COLUMN clock_checked_at timestamptz;
