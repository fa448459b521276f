-- The city's workflow on a hazard (issue 18, item 2): reported -> acknowledged -> fix planned ->
-- fixed, with what was done and on which day, set by a supervisor.
ALTER TABLE hazards
    ADD COLUMN fix_what   text CHECK (length(fix_what) <= 300),
    ADD COLUMN fixed_on   date,
    ADD COLUMN status_at  timestamptz,
    ADD CONSTRAINT hazards_fixed_says_what CHECK (status <> 'fixed' OR (fix_what IS NOT NULL AND fixed_on IS NOT NULL));
