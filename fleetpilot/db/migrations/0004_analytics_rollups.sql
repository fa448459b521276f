-- Rollups computed by the analytics job (fleetpilot rollup), the same in both modes.
-- They outlive raw-fix retention. Keyed by shift, never by person: the shift<->person
-- link stays in shift_crew.

CREATE TABLE shift_metrics (
    shift_id        text PRIMARY KEY REFERENCES shifts ON DELETE CASCADE,
    vehicle_id      text NOT NULL,
    route_id        text,
    day             date NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    fixes           bigint NOT NULL,
    distance_m      double precision NOT NULL,
    on_route_m      double precision,
    deadhead_m      double precision,
    collection_s    double precision,
    deadhead_s      double precision,
    facility_s      double precision,
    break_s         double precision,
    idle_s          double precision,
    stops           integer,
    dwell_mean_s    double precision,
    turnaround_s    double precision,
    coverage        real CHECK (coverage BETWEEN 0 AND 1),
    missed_segments text[] NOT NULL DEFAULT '{}',
    metrics         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX shift_metrics_route_day ON shift_metrics (route_id, day);
CREATE INDEX shift_metrics_day ON shift_metrics (day);

-- Safety events per shift with their context (device-reported and derived, merged).
CREATE TABLE shift_events (
    shift_id     text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    ts           timestamptz NOT NULL,
    kind         text NOT NULL,
    source       text NOT NULL CHECK (source IN ('device', 'derived', 'both')),
    lon          double precision NOT NULL,
    lat          double precision NOT NULL,
    magnitude    real,
    speed_before real,
    speed_after  real,
    context      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (shift_id, ts, kind)
);

-- Exposure and events per grid cell, day and shift: k-anonymity checks count distinct
-- shifts (and, through shift_crew, people) over any range at query time.
CREATE TABLE cell_exposure (
    cell_id     bigint NOT NULL,
    day         date NOT NULL,
    shift_id    text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    passes      integer NOT NULL,
    harsh_brake integer NOT NULL DEFAULT 0,
    harsh_accel integer NOT NULL DEFAULT 0,
    harsh_corner integer NOT NULL DEFAULT 0,
    speeding    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (cell_id, day, shift_id)
);
CREATE INDEX cell_exposure_day ON cell_exposure (day);

CREATE TABLE segment_exposure (
    segment_id  text NOT NULL,
    day         date NOT NULL,
    shift_id    text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    passes      integer NOT NULL,
    harsh_brake integer NOT NULL DEFAULT 0,
    speeding    integer NOT NULL DEFAULT 0,
    mean_speed_mps real,
    PRIMARY KEY (segment_id, day, shift_id)
);
CREATE INDEX segment_exposure_day ON segment_exposure (day);

-- Late data marks the vehicle-days whose rollups are stale; the rollup job clears them.
CREATE TABLE rollup_dirty (
    vehicle_id text NOT NULL,
    day        date NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, day)
);
