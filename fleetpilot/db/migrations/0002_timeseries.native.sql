-- Fixes and events, natively partitioned by UTC day (no TimescaleDB).
-- No foreign keys to vehicles: the ingest validates identity, and FK checks would cost
-- a lookup per row at 7 M rows a day.

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
) PARTITION BY RANGE (ts);

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
) PARTITION BY RANGE (ts);

-- The default partitions catch any timestamp without a day partition yet, so an insert
-- never fails; fleetpilot_ensure_partitions moves such rows into their day partition.
CREATE TABLE fixes_default PARTITION OF fixes DEFAULT;
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Create the daily partitions of `parent` covering [first_day, last_day] (UTC days).
-- Safe to call concurrently from several ingest workers; returns how many it created.
CREATE FUNCTION fleetpilot_ensure_partitions(parent regclass, first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day       date;
    part      text;
    dflt      text := parent::text || '_default';
    lo        timestamptz;
    hi        timestamptz;
    created   integer := 0;
    has_rows  boolean;
BEGIN
    IF last_day - first_day > 400 THEN
        RAISE EXCEPTION 'refusing to create % daily partitions at once', last_day - first_day + 1;
    END IF;
    FOR day IN SELECT generate_series(first_day, last_day, interval '1 day')::date LOOP
        part := format('%s_p%s', parent::text, to_char(day, 'YYYYMMDD'));
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        PERFORM pg_advisory_xact_lock(hashtext(part));
        CONTINUE WHEN to_regclass(part) IS NOT NULL;  -- another worker made it meanwhile
        lo := day::timestamp AT TIME ZONE 'UTC';
        hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE ts >= $1 AND ts < $2)', dflt)
            INTO has_rows USING lo, hi;
        IF has_rows THEN
            -- Late data already sits in the default partition: move it, then attach.
            EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
            EXECUTE format('WITH moved AS (DELETE FROM %I WHERE ts >= $1 AND ts < $2 RETURNING *)
                            INSERT INTO %I SELECT * FROM moved', dflt, part) USING lo, hi;
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, lo, hi);
        ELSE
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', part, parent, lo, hi);
        END IF;
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

-- Retention: drop whole day partitions that end at or before `cutoff` and delete older
-- rows from the default partition. Returns the number of partitions dropped.
CREATE FUNCTION fleetpilot_drop_partitions_before(parent regclass, cutoff timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
          AND c.relname ~ '_p[0-9]{8}$'
          AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    EXECUTE format('DELETE FROM %I WHERE ts < $1', parent::text || '_default') USING cutoff;
    -- Raw data before the watermark may be gone: rollup refreshes must not rebuild it.
    INSERT INTO fleetpilot_meta (key, value) VALUES ('retention_watermark', cutoff::text)
    ON CONFLICT (key) DO UPDATE
    SET value = greatest(fleetpilot_meta.value::timestamptz, EXCLUDED.value::timestamptz)::text,
        updated_at = now();
    RETURN dropped;
END $$;

-- Today and a week either side exist from the start; the ingest and the maintenance job
-- extend this as time passes and late data arrives.
SELECT fleetpilot_ensure_partitions('fixes', current_date - 7, current_date + 7);
SELECT fleetpilot_ensure_partitions('events', current_date - 7, current_date + 7);
