-- What-if analysis: per-shift legs (the history scenarios and questions run on) and
-- stored answers. The same in both storage modes.

-- A shift summarised as legs: runs of fixes on one street segment, in one facility, off the
-- network, or a gap. Keyed by shift, never by person, and without coordinates — only the
-- street segment (with the direction driven) or the facility. Legs are derived from raw
-- fixes, so they are removed with them (see whatif_purge_expired) rather than kept like rollups.
CREATE TABLE whatif_legs (
    shift_id      text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    leg           integer NOT NULL CHECK (leg >= 0),
    kind          text NOT NULL CHECK (kind IN ('service', 'travel', 'facility', 'offnet', 'gap')),
    segment_id    text,
    forward       boolean NOT NULL DEFAULT true,
    facility_id   text,
    t0            timestamptz NOT NULL,
    duration_s    real NOT NULL CHECK (duration_s >= 0),
    moving_s      real NOT NULL CHECK (moving_s >= 0),
    length_m      real NOT NULL CHECK (length_m >= 0),
    max_speed_mps real NOT NULL CHECK (max_speed_mps >= 0),
    harsh_brake   smallint NOT NULL DEFAULT 0,
    harsh_accel   smallint NOT NULL DEFAULT 0,
    harsh_corner  smallint NOT NULL DEFAULT 0,
    reversing     smallint NOT NULL DEFAULT 0,
    bin_lift      smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (shift_id, leg)
);

-- When a shift first served each planned stop of its route version (the driven order).
CREATE TABLE whatif_stop_visits (
    shift_id  text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    stop_seq  integer NOT NULL,
    first_at  timestamptz NOT NULL,
    PRIMARY KEY (shift_id, stop_seq)
);

-- Which shifts have legs, from how much data: late fixes change the count and trigger a redo.
CREATE TABLE whatif_prepared (
    shift_id    text PRIMARY KEY REFERENCES shifts ON DELETE CASCADE,
    prepared_at timestamptz NOT NULL DEFAULT now(),
    fixes       bigint NOT NULL,
    events      bigint NOT NULL,
    legs        integer NOT NULL
);

-- Answers, stored with everything that produced them so a link shows the same answer:
-- result_id is a hash of the kind, name, canonical inputs and the data fingerprint.
CREATE TABLE whatif_results (
    result_id        text PRIMARY KEY CHECK (result_id ~ '^[0-9a-f]{32}$'),
    kind             text NOT NULL CHECK (kind IN ('scenario', 'question')),
    name             text NOT NULL,
    inputs           jsonb NOT NULL,
    data_fingerprint text NOT NULL,
    answer           jsonb NOT NULL,
    compute_s        real NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       bigint REFERENCES users ON DELETE SET NULL
);
CREATE INDEX whatif_results_created ON whatif_results (created_at);

-- Retention for legs and stop visits: the same cutoff as raw fixes. Returns shifts purged.
CREATE FUNCTION whatif_purge_expired(cutoff timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    purged integer;
BEGIN
    WITH gone AS (
        DELETE FROM whatif_prepared p USING shifts s
        WHERE s.shift_id = p.shift_id AND s.ends_at <= cutoff
        RETURNING p.shift_id
    ), legs AS (
        DELETE FROM whatif_legs l USING gone g WHERE l.shift_id = g.shift_id
    ), visits AS (
        DELETE FROM whatif_stop_visits v USING gone g WHERE v.shift_id = g.shift_id
    )
    SELECT count(*) INTO purged FROM gone;
    RETURN purged;
END $$;
