-- Issue 22 (decision 0037): the rollup's four largest derived tables check and cascade their
-- reference to shifts once per statement instead of once per row. A foreign key checks each
-- inserted row with its own lookup and row lock on shifts: INSERT of a fleet-day's 299,456
-- cell_exposure rows cost 4.8-5.7 s of server CPU with it and 3.0-3.2 s without. The
-- triggers below keep what the key guaranteed: no row of a shift that does not exist (the
-- shifts are locked FOR KEY SHARE as the key locks them, so a concurrent delete waits), rows
-- deleted with their shift, and a referenced shift's id never changes.
ALTER TABLE cell_exposure DROP CONSTRAINT cell_exposure_shift_id_fkey;
ALTER TABLE segment_exposure DROP CONSTRAINT segment_exposure_shift_id_fkey;
ALTER TABLE whatif_legs DROP CONSTRAINT whatif_legs_shift_id_fkey;
ALTER TABLE whatif_stop_visits DROP CONSTRAINT whatif_stop_visits_shift_id_fkey;

-- A shift has at most one exposure row per unit (0006's unique index): that is the key. The
-- primary key (unit, day, shift_id) it implied was a fourth index to maintain on every insert
-- (0.9 s of the 299,456 rows' 3.0 s without the foreign key).
ALTER TABLE cell_exposure DROP CONSTRAINT cell_exposure_pkey;
ALTER TABLE cell_exposure ADD CONSTRAINT cell_exposure_pkey PRIMARY KEY USING INDEX cell_exposure_once_per_shift;
ALTER TABLE segment_exposure DROP CONSTRAINT segment_exposure_pkey;
ALTER TABLE segment_exposure ADD CONSTRAINT segment_exposure_pkey PRIMARY KEY USING INDEX segment_exposure_once_per_shift;

-- Inserted or updated rows (transition table `changed`) must name existing shifts.
CREATE FUNCTION shift_refs_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    missing text;
BEGIN
    PERFORM 1 FROM shifts s WHERE s.shift_id IN (SELECT shift_id FROM changed) FOR KEY SHARE;
    SELECT c.shift_id INTO missing FROM changed c
    WHERE NOT EXISTS (SELECT 1 FROM shifts s WHERE s.shift_id = c.shift_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates its reference to shifts', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (shift_id)=(%s) is not present in table "shifts".', missing),
                  TABLE = TG_TABLE_NAME, COLUMN = 'shift_id';
    END IF;
    RETURN NULL;
END $$;

-- Deleted shifts (transition table `gone`) take their rows along, as ON DELETE CASCADE did.
CREATE FUNCTION shift_refs_cascade() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM cell_exposure WHERE shift_id IN (SELECT shift_id FROM gone);
    DELETE FROM segment_exposure WHERE shift_id IN (SELECT shift_id FROM gone);
    DELETE FROM whatif_legs WHERE shift_id IN (SELECT shift_id FROM gone);
    DELETE FROM whatif_stop_visits WHERE shift_id IN (SELECT shift_id FROM gone);
    RETURN NULL;
END $$;

-- Shift ids are never renamed; the key refused a rename of a referenced one, this any rename.
CREATE FUNCTION shift_id_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shift_id of a shift does not change (% -> %)', OLD.shift_id, NEW.shift_id
        USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE TRIGGER cell_exposure_shift_ref AFTER INSERT ON cell_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER cell_exposure_shift_ref_update AFTER UPDATE ON cell_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER segment_exposure_shift_ref AFTER INSERT ON segment_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER segment_exposure_shift_ref_update AFTER UPDATE ON segment_exposure
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER whatif_legs_shift_ref AFTER INSERT ON whatif_legs
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER whatif_legs_shift_ref_update AFTER UPDATE ON whatif_legs
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER whatif_stop_visits_shift_ref AFTER INSERT ON whatif_stop_visits
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER whatif_stop_visits_shift_ref_update AFTER UPDATE ON whatif_stop_visits
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_check();
CREATE TRIGGER shifts_cascade_derived AFTER DELETE ON shifts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION shift_refs_cascade();
CREATE TRIGGER shifts_id_fixed BEFORE UPDATE OF shift_id ON shifts
    FOR EACH ROW WHEN (OLD.shift_id IS DISTINCT FROM NEW.shift_id) EXECUTE FUNCTION shift_id_fixed();
