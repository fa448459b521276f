-- k counts distinct drivers, not every crew member (issue 13; docs/decisions/0009): a route
-- driven all week by one driver with rotating helpers is one person's figures. A shift's
-- crew are its driver(s) and helpers; rows stored before this migration had no role and
-- count as drivers (as before), new rows say which they are (the roster import: the first
-- crew member listed drives unless an entry says otherwise).
UPDATE shift_crew SET crew_role = 'driver' WHERE crew_role NOT IN ('driver', 'helper');
ALTER TABLE shift_crew
    ALTER COLUMN crew_role SET DEFAULT 'driver',
    ADD CONSTRAINT shift_crew_role CHECK (crew_role IN ('driver', 'helper'));
