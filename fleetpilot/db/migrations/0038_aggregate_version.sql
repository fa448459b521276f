-- A version of the data the route aggregates are made of (issue 22, item 5; decision 0043), so
-- the API can keep an answer (a route's segment coverage) under the version it was computed at
-- and know, reading one meta row, whether it still holds. Any transaction that writes a row the
-- coverage reads stores its transaction id as 'aggregate_version': the shifts' metrics (new or
-- re-run rollups), the shifts themselves (route, version, times), their crew (whom k counts),
-- the crew's missed-segment causes, blocked-street hazards and their reports (the causes view),
-- routes and their planned segments. Street names are in 'city_version' (migration 0008).
--
-- The write is deferred to the commit (a deferrable constraint trigger) and made once per
-- transaction: a statement-level trigger would hold the meta row's lock from the rollup's
-- first write to its commit, and concurrent rollup workers would wait for each other. Written
-- at the commit, the row is held only while a transaction commits. (TRUNCATE, which a
-- constraint trigger cannot watch, bumps it at the statement.)
CREATE FUNCTION aggregate_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fleetpilot.aggregate_bumped', true) IS DISTINCT FROM txid_current()::text THEN
        INSERT INTO fleetpilot_meta (key, value) VALUES ('aggregate_version', txid_current()::text)
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
        PERFORM set_config('fleetpilot.aggregate_bumped', txid_current()::text, true);
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'shift_metrics', 'shifts', 'shift_crew', 'missed_causes', 'hazards', 'hazard_reports', 'routes', 'route_segments'
    ] LOOP
        EXECUTE format(
            'CREATE CONSTRAINT TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
            'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION aggregate_bump_version()',
            t || '_aggregate_version', t);
        -- (A constraint trigger cannot be ON TRUNCATE: that one fires at the statement.)
        EXECUTE format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION aggregate_bump_version()',
            t || '_aggregate_version_truncate', t);
    END LOOP;
END $$;

INSERT INTO fleetpilot_meta (key, value) VALUES ('aggregate_version', txid_current()::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
