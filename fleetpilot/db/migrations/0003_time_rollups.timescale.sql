-- Hourly and daily time rollups as TimescaleDB continuous aggregates, refreshed by
-- policies. Same names and columns as the native tables. materialized_only: like the
-- native tables they show what was last refreshed, not raw rows merged in at query time.

CREATE MATERIALIZED VIEW fixes_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT vehicle_id,
       time_bucket(INTERVAL '1 hour', ts) AS bucket,
       count(*) AS fixes,
       count(*) FILTER (WHERE speed_mps > 0.5) AS moving_fixes,
       avg(speed_mps)::double precision AS avg_speed_mps,
       max(speed_mps) AS max_speed_mps
FROM fixes
GROUP BY vehicle_id, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW events_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT vehicle_id,
       time_bucket(INTERVAL '1 day', ts) AS bucket,
       kind,
       count(*) AS events
FROM events
GROUP BY vehicle_id, bucket, kind
WITH NO DATA;

SELECT add_continuous_aggregate_policy('fixes_hourly', start_offset => INTERVAL '30 days',
                                       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
SELECT add_continuous_aggregate_policy('events_daily', start_offset => INTERVAL '30 days',
                                       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');

-- refresh_continuous_aggregate cannot run inside a function or transaction, so the
-- Python side (fleetpilot.db.maintenance.refresh_time_rollups) calls it directly in
-- this mode. The policies' 30-day window may reach back past retention_days: that is
-- safe because dropping raw chunks records no invalidation (see 0002), so a refresh
-- leaves the rollups of dropped days alone.
