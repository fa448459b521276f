-- Hazards crews report from the cab (issue 18, item 1). A hazard is a place (the street segment
-- the report was snapped to, or a ~100 m point off the streets) and a category; it carries the
-- city's workflow status. A report links a person to it: that link leaves the database only
-- for the reporter (api/hazards: supervisors and data officers get places, categories and,
-- below k reporters, only the time of day).
CREATE TABLE hazards (
    hazard_id    bigserial PRIMARY KEY,
    place_key    text NOT NULL,              -- segment id, or 'point:<lon>,<lat>' at 3 decimals
    segment_id   text,
    category     text NOT NULL CHECK (category IN ('dangerous_intersection', 'blocked_street', 'parked_cars',
                                                    'low_branches_wires', 'road_damage', 'aggressive_traffic', 'other')),
    lon          double precision NOT NULL,  -- the place: the segment's middle or the rounded point
    lat          double precision NOT NULL,
    status       text NOT NULL DEFAULT 'reported'
                 CHECK (status IN ('reported', 'acknowledged', 'fix_planned', 'fixed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (place_key, category)
);

CREATE TABLE hazard_reports (
    report_id    bigserial PRIMARY KEY,
    hazard_id    bigint NOT NULL REFERENCES hazards,
    person_id    text NOT NULL REFERENCES people ON DELETE CASCADE,
    client_key   text NOT NULL CHECK (length(client_key) BETWEEN 8 AND 64),  -- the phone's idempotency key
    shift_id     text REFERENCES shifts ON DELETE SET NULL,
    lon          double precision NOT NULL,  -- where the reporter put it (shown to the reporter only)
    lat          double precision NOT NULL,
    located_by   text NOT NULL CHECK (located_by IN ('position', 'map')),
    note         text CHECK (length(note) <= 500),
    made_at      timestamptz NOT NULL,       -- tapped on the phone (may be before it reached us)
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (person_id, client_key)
);
CREATE INDEX hazard_reports_hazard ON hazard_reports (hazard_id);
