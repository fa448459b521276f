-- The pilot's goals (issue 16): each a KPI of the catalogue (fleetpilot.analytics.goals) with
-- a baseline period, a target and its direction, and the department that owns it. Versioned:
-- a change is a new row with the next version, so a changed target keeps its history, and
-- rows are never updated or deleted (the trigger below; the audit log records who did it).
CREATE TABLE goals (
    goal_id       text NOT NULL CHECK (goal_id ~ '^[a-z0-9][a-z0-9-]{0,47}$'),
    version       integer NOT NULL CHECK (version >= 1),
    kpi           text NOT NULL,
    title         text NOT NULL CHECK (length(title) BETWEEN 3 AND 200),
    definition    text NOT NULL CHECK (length(definition) BETWEEN 10 AND 2000),
    baseline_from date NOT NULL,
    baseline_to   date NOT NULL CHECK (baseline_to > baseline_from),  -- local days, [from, to)
    target        double precision NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('at_least', 'at_most')),
    department    text NOT NULL CHECK (length(department) BETWEEN 2 AND 120),
    retired       boolean NOT NULL DEFAULT false,  -- the latest version says whether it still counts
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    PRIMARY KEY (goal_id, version)
);

CREATE FUNCTION fleetpilot_goals_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'goals keep their history: add a version instead (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER goals_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON goals
    FOR EACH STATEMENT EXECUTE FUNCTION fleetpilot_goals_are_append_only();

-- Every retention run, for the privacy record of the pilot report (fleetpilot_meta keeps
-- only the last one).
CREATE TABLE retention_runs (
    run_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_at             timestamptz NOT NULL DEFAULT now(),
    cutoff             timestamptz NOT NULL,
    partitions_dropped integer NOT NULL,
    positions_expired  integer NOT NULL,  -- shifts whose per-shift positions went
    rejects_purged     integer NOT NULL
);
