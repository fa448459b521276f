-- Hotspots known to drivers, and day/week blocks of exposure so that hotspot reads over a
-- month do not aggregate one row per shift. The same in both storage modes (plain tables).

-- Street segments that are significant hotspots of a kind over the last 90 days (k-visible
-- segments only), rewritten by the rollup job after each run that changed exposure.
CREATE TABLE known_hotspots (
    segment_id    text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('harsh_brake', 'speeding')),
    passes        bigint NOT NULL,
    events        integer NOT NULL,
    rate_per_1000 double precision NOT NULL,
    expected      double precision NOT NULL,   -- events at the fleet's rate over those passes
    q             double precision NOT NULL,   -- Benjamini–Hochberg adjusted p
    first_day     date NOT NULL,               -- the window judged: [first_day, last_day]
    last_day      date NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (segment_id, kind)
);

-- A stable bit per person for crew masks: a block's people are the set bits of the OR of its
-- shifts' crews, and masks of different days can be ORed because a bit never changes owner.
-- Bits are appended (max + 1) and never reused: a deleted person's row keeps its bit with
-- no person, so the mask width never shrinks.
CREATE TABLE person_bits (
    bit       integer PRIMARY KEY CHECK (bit >= 0),
    person_id text UNIQUE REFERENCES people ON DELETE SET NULL
);

-- Per grid cell / street segment and UTC day (week: the Monday), the sums of its exposure
-- rows: distinct shifts (a shift has one row per unit and belongs to one day, so they add),
-- passes, events, and the crew mask (NULL when no shift had a crew on record).
CREATE TABLE cell_daily (
    day          date NOT NULL,
    cell_id      bigint NOT NULL,
    shifts       integer NOT NULL,
    passes       bigint NOT NULL,
    harsh_brake  integer NOT NULL,
    harsh_accel  integer NOT NULL,
    harsh_corner integer NOT NULL,
    speeding     integer NOT NULL,
    crew         varbit,
    PRIMARY KEY (day, cell_id)
);
CREATE TABLE cell_weekly (LIKE cell_daily INCLUDING ALL);
ALTER TABLE cell_weekly RENAME COLUMN day TO week;
ALTER TABLE cell_weekly ADD CHECK (extract(isodow FROM week) = 1);

CREATE TABLE segment_daily (
    day         date NOT NULL,
    segment_id  text NOT NULL,
    shifts      integer NOT NULL,
    passes      bigint NOT NULL,
    harsh_brake integer NOT NULL,
    speeding    integer NOT NULL,
    crew        varbit,
    PRIMARY KEY (day, segment_id)
);
CREATE TABLE segment_weekly (LIKE segment_daily INCLUDING ALL);
ALTER TABLE segment_weekly RENAME COLUMN day TO week;
ALTER TABLE segment_weekly ADD CHECK (extract(isodow FROM week) = 1);

-- Days whose blocks are stale: any change to exposure rows, or to the crew of a shift, marks
-- its day here (statement triggers below, whoever writes). Readers take a stale day from the
-- exposure rows themselves, so results are exact at any time; the rollup job rebuilds the
-- blocks of these days and clears them.
CREATE TABLE exposure_stale_days (
    day       date PRIMARY KEY,
    marked_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO exposure_stale_days (day)
SELECT day FROM cell_exposure UNION SELECT day FROM segment_exposure;

CREATE FUNCTION exposure_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Transition tables: `changed` holds the inserted (or deleted) rows of the statement.
    INSERT INTO exposure_stale_days (day)
    SELECT DISTINCT day FROM changed
    ON CONFLICT (day) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$;

CREATE FUNCTION crew_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The rollup job keys a shift's exposure rows by its start day (UTC).
    INSERT INTO exposure_stale_days (day)
    SELECT DISTINCT (s.starts_at AT TIME ZONE 'UTC')::date FROM changed c JOIN shifts s ON s.shift_id = c.shift_id
    ON CONFLICT (day) DO UPDATE SET marked_at = now();
    RETURN NULL;
END $$;

-- A trigger with a transition table takes one event, hence one trigger per event.
CREATE TRIGGER cell_exposure_insert AFTER INSERT ON cell_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER cell_exposure_update AFTER UPDATE ON cell_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER cell_exposure_update_old AFTER UPDATE ON cell_exposure
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER cell_exposure_delete AFTER DELETE ON cell_exposure
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER segment_exposure_insert AFTER INSERT ON segment_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER segment_exposure_update AFTER UPDATE ON segment_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER segment_exposure_update_old AFTER UPDATE ON segment_exposure
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER segment_exposure_delete AFTER DELETE ON segment_exposure
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION exposure_mark_stale();
CREATE TRIGGER shift_crew_insert AFTER INSERT ON shift_crew
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION crew_mark_stale();
CREATE TRIGGER shift_crew_update AFTER UPDATE ON shift_crew
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION crew_mark_stale();
CREATE TRIGGER shift_crew_update_old AFTER UPDATE ON shift_crew
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION crew_mark_stale();
CREATE TRIGGER shift_crew_delete AFTER DELETE ON shift_crew
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION crew_mark_stale();
