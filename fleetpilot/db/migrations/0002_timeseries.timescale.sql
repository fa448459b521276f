-- Fixes and events as TimescaleDB hypertables (1-day chunks), compressed after 7 days,
-- with a retention job. Same columns and keys as the native variant.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE fixes (
    vehicle_id  text NOT NULL,
    ts          timestamptz NOT NULL,
    lon         double precision NOT NULL,
    lat         double precision NOT NULL,
    speed_mps   real,
    heading_deg real,
    hdop        real,
    seq         bigint,
    generalised boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, ts)
);

CREATE TABLE events (
    vehicle_id  text NOT NULL,
    ts          timestamptz NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('harsh_brake', 'harsh_accel', 'harsh_corner', 'reversing',
                                              'bin_lift', 'ignition_on', 'ignition_off')),
    lon         double precision,
    lat         double precision,
    magnitude   real,
    speed_mps   real,
    seq         bigint,
    generalised boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, ts, kind)
);

SELECT create_hypertable('fixes', by_range('ts', INTERVAL '1 day'));
SELECT create_hypertable('events', by_range('ts', INTERVAL '1 day'));

-- One compressed batch holds one vehicle's rows in time order. Every key column must be
-- a segment-by or order-by column (TimescaleDB warns otherwise): unique checks for
-- ON CONFLICT on a compressed chunk find candidate batches through those columns only,
-- so `kind`, part of the events key, joins the events order.
ALTER TABLE fixes SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',
                       timescaledb.compress_orderby = 'ts');
ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',
                        timescaledb.compress_orderby = 'ts, kind');
SELECT add_compression_policy('fixes', INTERVAL '7 days');
SELECT add_compression_policy('events', INTERVAL '7 days');

-- Same function names as native mode so callers need not know the mode.
CREATE FUNCTION fleetpilot_ensure_partitions(parent regclass, first_day date, last_day date)
RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;  -- hypertables create chunks on insert

-- Drops whole 1-day chunks that end before `cutoff`; returns how many. It records no
-- continuous-aggregate invalidation for them: otherwise the next refresh touching those
-- days recomputes fixes_hourly/events_daily from the now-empty raw tables and deletes
-- the rollups, which the privacy model keeps after raw data is gone.
CREATE FUNCTION fleetpilot_drop_partitions_before(parent regclass, cutoff timestamptz)
RETURNS integer LANGUAGE sql
SET timescaledb.skip_cagg_invalidation = on
AS $$
    SELECT count(*)::integer FROM drop_chunks(parent, older_than => cutoff)
$$;

-- Retention as a TimescaleDB background job rather than add_retention_policy: the built-in
-- policy records the invalidations above, and it enforces a copy of retention_days that
-- goes stale when the admin changes the setting. This job reads the live setting each run.
CREATE PROCEDURE fleetpilot_retention_job(job_id integer, config jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    days integer := (SELECT retention_days FROM privacy_settings);
BEGIN
    IF days IS NULL THEN
        RETURN;  -- settings not seeded yet (fleetpilot migrate seeds them right after)
    END IF;
    PERFORM fleetpilot_drop_partitions_before('fixes', now() - make_interval(days => days));
    PERFORM fleetpilot_drop_partitions_before('events', now() - make_interval(days => days));
END $$;

-- Hourly: chunks are whole UTC days, so raw data lives at most a day and an hour past
-- retention_days; a run with nothing to drop only reads TimescaleDB's chunk catalog.
SELECT add_job('fleetpilot_retention_job', INTERVAL '1 hour');
