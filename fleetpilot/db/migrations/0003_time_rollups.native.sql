-- Hourly and daily time rollups as tables this project maintains (native mode).
-- In TimescaleDB mode the same names are continuous aggregates with the same columns.
-- Buckets are aligned on UTC hours/days (date_bin origin 2000-01-01, like time_bucket).

CREATE TABLE fixes_hourly (
    vehicle_id    text NOT NULL,
    bucket        timestamptz NOT NULL,
    fixes         bigint NOT NULL,
    moving_fixes  bigint NOT NULL,
    avg_speed_mps double precision,
    max_speed_mps real,
    PRIMARY KEY (vehicle_id, bucket)
);

CREATE TABLE events_daily (
    vehicle_id text NOT NULL,
    bucket     timestamptz NOT NULL,
    kind       text NOT NULL,
    events     bigint NOT NULL,
    PRIMARY KEY (vehicle_id, bucket, kind)
);

-- Recompute the rollups for whole buckets overlapping [from_ts, to_ts). Idempotent.
-- Buckets that start before the retention watermark are left alone: their raw data may
-- already be gone, and rollups must outlive it.
CREATE FUNCTION fleetpilot_refresh_time_rollups(from_ts timestamptz, to_ts timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    origin    constant timestamptz := timestamptz '2000-01-01 00:00+00';
    watermark timestamptz := (SELECT value::timestamptz FROM fleetpilot_meta WHERE key = 'retention_watermark');
    first_ts  timestamptz := greatest(from_ts, coalesce(watermark, from_ts));
    h0 timestamptz := date_bin('1 hour', first_ts - interval '1 microsecond', origin) + interval '1 hour';
    d0 timestamptz := date_bin('1 day', first_ts - interval '1 microsecond', origin) + interval '1 day';
    h1 timestamptz := date_bin('1 hour', to_ts - interval '1 microsecond', origin) + interval '1 hour';
    d1 timestamptz := date_bin('1 day', to_ts - interval '1 microsecond', origin) + interval '1 day';
BEGIN
    -- Without a watermark the bucket holding from_ts is rebuilt too (round down, not up).
    IF watermark IS NULL OR from_ts >= watermark THEN
        h0 := date_bin('1 hour', from_ts, origin);
        d0 := date_bin('1 day', from_ts, origin);
    END IF;
    DELETE FROM fixes_hourly WHERE bucket >= h0 AND bucket < h1;
    INSERT INTO fixes_hourly
    SELECT vehicle_id,
           date_bin('1 hour', ts, timestamptz '2000-01-01 00:00+00'),
           count(*),
           count(*) FILTER (WHERE speed_mps > 0.5),
           avg(speed_mps),
           max(speed_mps)
    FROM fixes
    WHERE ts >= h0 AND ts < h1
    GROUP BY 1, 2;

    DELETE FROM events_daily WHERE bucket >= d0 AND bucket < d1;
    INSERT INTO events_daily
    SELECT vehicle_id, date_bin('1 day', ts, timestamptz '2000-01-01 00:00+00'), kind, count(*)
    FROM events
    WHERE ts >= d0 AND ts < d1
    GROUP BY 1, 2, 3;
END $$;
