-- Least-privilege database roles for the services (issue 13; docs/decisions/0009).
-- The migrating role (the configured URL's user: the owner of every table) keeps DDL; the
-- API, ingest workers and the rollup service log in as these roles, which own nothing: they
-- cannot ALTER a table, so cannot disable the append-only trigger of audit_log, and no grant
-- lets any of them UPDATE, DELETE or TRUNCATE it. Roles are per cluster, grants per database;
-- the roles are made once (by the first database migrated) and have no password: an operator
-- whose server asks for one sets it (ALTER ROLE ... PASSWORD) and gives each service its URL.
DO $$
DECLARE
    service text;
BEGIN
    FOREACH service IN ARRAY ARRAY['fleetpilot_api', 'fleetpilot_ingest', 'fleetpilot_rollup'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service) THEN
            BEGIN
                EXECUTE format(
                    'CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', service);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration made it at the same moment
            END;
        END IF;
    END LOOP;
END $$;

GRANT USAGE ON SCHEMA public TO fleetpilot_api, fleetpilot_ingest, fleetpilot_rollup;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fleetpilot_api, fleetpilot_ingest, fleetpilot_rollup;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO fleetpilot_api, fleetpilot_ingest, fleetpilot_rollup;
-- Tables and partitions made later by the owner (migrations, partition upkeep) get the same.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO fleetpilot_api, fleetpilot_ingest, fleetpilot_rollup;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO fleetpilot_api, fleetpilot_ingest, fleetpilot_rollup;

-- Real names: the API alone (the admin's audited read); ingest and rollup never see them.
GRANT USAGE ON SCHEMA identity TO fleetpilot_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA identity TO fleetpilot_api;

-- The audit log: the API appends and reads; nobody but the owner changes or removes a row.
REVOKE ALL ON audit_log FROM fleetpilot_api, fleetpilot_ingest, fleetpilot_rollup;
GRANT SELECT, INSERT ON audit_log TO fleetpilot_api;
-- Accounts, tokens and API keys are the API's alone.
REVOKE ALL ON users, token_revocations, api_keys FROM fleetpilot_ingest, fleetpilot_rollup;

-- Upkeep that needs the tables' owner (day partitions, retention) runs as the owner, through
-- these functions only, with a fixed search_path.
DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'fleetpilot_ensure_partitions(regclass, date, date)',
        'fleetpilot_drop_partitions_before(regclass, timestamptz)',
        'fleetpilot_refresh_time_rollups(timestamptz, timestamptz)',
        'whatif_purge_expired(timestamptz)'
    ] LOOP
        IF to_regprocedure(fn) IS NOT NULL THEN
            EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = public, pg_temp', fn);
        END IF;
    END LOOP;
END $$;
