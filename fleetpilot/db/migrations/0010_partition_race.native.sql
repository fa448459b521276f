-- fleetpilot_ensure_partitions, safe under concurrency as its comment always promised.
-- Two writers creating the same day partition raced: the loser waited on the advisory lock,
-- then asked to_regclass again, which answered from its backend's cache (an advisory lock
-- does not make a backend read other sessions' catalog invalidations), so it still saw no
-- table and failed with "relation … already exists". The re-check after the lock now reads
-- pg_class with the statement's fresh snapshot, and a duplicate that still slips through
-- (another creator outside this function) counts as made by someone else.
CREATE OR REPLACE FUNCTION fleetpilot_ensure_partitions(parent regclass, first_day date, last_day date)
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
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                              WHERE c.relname = part
                                AND c.relnamespace = (SELECT relnamespace FROM pg_catalog.pg_class
                                                      WHERE oid = parent));
        lo := day::timestamp AT TIME ZONE 'UTC';
        hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
        BEGIN
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
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- made meanwhile by another session
        END;
    END LOOP;
    RETURN created;
END $$;
