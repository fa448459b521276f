-- A version of the city layer (street_segments and facilities), so the API can answer /city
-- with an ETag and a browser can keep the layer across tabs: any statement that writes either
-- table stores its transaction id as the version, in the same transaction as the change.
-- (Reading one meta row costs nothing; count/max(xmin) over the streets read the whole heap.)
CREATE FUNCTION city_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fleetpilot_meta (key, value) VALUES ('city_version', txid_current()::text)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
    RETURN NULL;
END $$;

CREATE TRIGGER street_segments_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON street_segments
    FOR EACH STATEMENT EXECUTE FUNCTION city_bump_version();
CREATE TRIGGER facilities_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON facilities
    FOR EACH STATEMENT EXECUTE FUNCTION city_bump_version();

INSERT INTO fleetpilot_meta (key, value) VALUES ('city_version', txid_current()::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
