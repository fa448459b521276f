-- Issue 13: an open-data release carries a fingerprint of the released figures it holds
-- (api/release/bundle.fingerprint: a hash of its temporal layers' features). The door serves
-- it only while the data of its period still give those figures; the weekly job writes the
-- period again when they do not (decision 0022). Releases made before have none: withdrawn.
ALTER TABLE open_data_releases ADD COLUMN data_fingerprint text;
