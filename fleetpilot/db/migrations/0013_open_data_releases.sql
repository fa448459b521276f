-- Open-data releases written by `fleetpilot release` (api/release): the transparency page
-- links the latest, and /open-data/latest/<file> serves exactly the files recorded here.
CREATE TABLE open_data_releases (
    release_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period_start date NOT NULL,
    period_end   date NOT NULL CHECK (period_end > period_start),
    k_min_shifts integer NOT NULL,
    k_min_people integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    directory    text NOT NULL,
    files        text[] NOT NULL
);
