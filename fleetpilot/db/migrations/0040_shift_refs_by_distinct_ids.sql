-- Issue 22: the per-statement check of migration 0036 joined every inserted row to shifts
-- twice (the lock and the test for a missing shift); a rollup batch inserts ~70,000 exposure
-- rows of 50 shifts. The check now takes the statement's distinct shift ids once and works on
-- those: COPY of a 50-shift batch's 69,683 cell_exposure rows 0.27-0.34 s -> 0.21-0.25 s of
-- server time, as fast as with the check off (docs/benchmarks/rollup.md). Same rows locked,
-- same rows refused, same error.
CREATE OR REPLACE FUNCTION shift_refs_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ids text[];
    missing text;
BEGIN
    SELECT array_agg(shift_id) INTO ids FROM (SELECT DISTINCT shift_id FROM changed) d;
    PERFORM 1 FROM shifts s WHERE s.shift_id = ANY(ids) FOR KEY SHARE;
    SELECT i INTO missing FROM unnest(ids) AS i WHERE NOT EXISTS (SELECT 1 FROM shifts s WHERE s.shift_id = i) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates its reference to shifts', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (shift_id)=(%s) is not present in table "shifts".', missing),
                  TABLE = TG_TABLE_NAME, COLUMN = 'shift_id';
    END IF;
    RETURN NULL;
END $$;
