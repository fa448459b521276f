-- Fixes and events as TimescaleDB hypertables (1-day chunks), compressed after 7 days,
-- with retention policies. Same columns and keys as the native variant.

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

ALTER TABLE fixes SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',
                       timescaledb.compress_orderby = 'ts');
ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',
                        timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('fixes', INTERVAL '7 days');
SELECT add_compression_policy('events', INTERVAL '7 days');

-- The retention job (fleetpilot retention) re-creates these policies when the admin
-- changes retention_days; 90 days is the documented default.
SELECT add_retention_policy('fixes', INTERVAL '90 days');
SELECT add_retention_policy('events', INTERVAL '90 days');

-- Same function names as native mode so callers need not know the mode.
CREATE FUNCTION fleetpilot_ensure_partitions(parent regclass, first_day date, last_day date)
RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;  -- hypertables create chunks on insert

CREATE FUNCTION fleetpilot_drop_partitions_before(parent regclass, cutoff timestamptz)
RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::integer FROM drop_chunks(parent, older_than => cutoff)
$$;
