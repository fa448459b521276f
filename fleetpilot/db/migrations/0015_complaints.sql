-- 311 complaints read from the city's Open311 GeoReport v2 endpoint (fleetpilot/open311) with
-- the record's evidence. No person is stored: evidence names routes, segments, trucks, days.
CREATE TABLE complaints (
    service_request_id text PRIMARY KEY,
    service_code       text,
    status             text,
    description        text,
    requested_at       timestamptz NOT NULL,
    updated_at         timestamptz,
    lon                double precision,
    lat                double precision,
    address            text,
    outside_city       boolean NOT NULL DEFAULT false,  -- kept, marked: no planned street near it
    outside_pilot      boolean NOT NULL DEFAULT false,  -- kept, marked: before the first shift
    times_reopened     integer NOT NULL DEFAULT 0,      -- closed, then open again
    verdict            text CHECK (verdict IN ('serviced', 'missed', 'no_shift', 'no_segment')),
    segment_id         text,
    route_id           text,
    vehicle_id         text,
    collection_day     date,
    passed_at          timestamptz,
    stopped_s          real,
    before_complaint   boolean,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaints_requested ON complaints (requested_at);

-- Answers of the 311 server that could not be read: the reason, size and hash only.
CREATE TABLE complaint_rejects (
    reject_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL,
    bytes       integer NOT NULL,
    sha256      text NOT NULL
);

-- Where the next sync resumes: the latest requested time fully stored.
CREATE TABLE open311_sync (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    cursor      timestamptz NOT NULL,
    last_run_at timestamptz NOT NULL DEFAULT now(),
    last_error  text
);
