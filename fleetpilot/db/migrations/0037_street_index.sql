-- Issue 22 (decision 0039): the street index (analytics.matching.LineIndex: per 4 m cell, the
-- street within 15 m and the position along it) stored by what it is built from. Building it
-- is a Euclidean distance transform over the city's grid: 3.0 s of CPU for a 32,576-street
-- city, a third of a fleet-day's first rollup, paid again by every rollup process and on every
-- machine; loading it is one row. Derived data: a row built from other streets (another key)
-- is never read, and the rollup replaces it.
CREATE TABLE street_index (
    built_from bytea PRIMARY KEY,  -- CityRows.index_key(): frame, radius, cell and every street's id and geometry
    built_at timestamptz NOT NULL DEFAULT now(),
    radius_m double precision NOT NULL,
    cell_m double precision NOT NULL,
    x0 double precision NOT NULL,
    y0 double precision NOT NULL,
    nx integer NOT NULL,
    ny integer NOT NULL,
    near bytea NOT NULL,      -- bit per cell (numpy packbits, row-major): a street within radius_m
    label bytea NOT NULL,     -- int32 per near cell: the street's position in segment_id order
    along bytea NOT NULL,     -- float32 per near cell: metres from the street's first vertex
    length_m bytea NOT NULL   -- float64 per street, segment_id order
);
-- Tens of MB of numbers that compress poorly: pglz would spend CPU on every write and read.
ALTER TABLE street_index
    ALTER COLUMN near SET STORAGE EXTERNAL,
    ALTER COLUMN label SET STORAGE EXTERNAL,
    ALTER COLUMN along SET STORAGE EXTERNAL,
    ALTER COLUMN length_m SET STORAGE EXTERNAL;
