-- Issue 21: turns a truck may not take (OSM restriction relations, decision 0030), as pairs of
-- street segments meeting at the via node: only_* is stored as the turns it forbids. The
-- planner never takes one; the plans page marks them. Part of the city layer, so a write bumps
-- its version (migration 0008) like street_segments and facilities.
CREATE TABLE street_turn_restrictions (
    from_segment_id text NOT NULL REFERENCES street_segments ON DELETE CASCADE,
    via_lon         double precision NOT NULL,
    via_lat         double precision NOT NULL,
    to_segment_id   text NOT NULL REFERENCES street_segments ON DELETE CASCADE,
    restriction     text NOT NULL CHECK (restriction ~ '^(no|only)_'),  -- the relation's kind, as tagged
    source          text NOT NULL,  -- osm-relation-<id>
    PRIMARY KEY (from_segment_id, via_lon, via_lat, to_segment_id)
);
CREATE INDEX street_turn_restrictions_to ON street_turn_restrictions (to_segment_id);

CREATE TRIGGER street_turn_restrictions_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON street_turn_restrictions FOR EACH STATEMENT EXECUTE FUNCTION city_bump_version();
