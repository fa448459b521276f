-- Native mode replaces fleetpilot_ensure_partitions with a concurrency-safe version here;
-- with TimescaleDB it creates nothing (hypertables make chunks on insert), so nothing changes.
SELECT 1;
