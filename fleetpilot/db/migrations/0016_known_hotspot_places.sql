-- Known hotspots as places (issue 20): touching significant segments merge into one place,
-- named by its streets ("Madison Terrace at Austin Court") by the same code as the hotspot
-- endpoints (fleetpilot.rollup.places), so the driver's badge says the data officer's name.
ALTER TABLE known_hotspots ADD COLUMN place_id text, ADD COLUMN place text;
