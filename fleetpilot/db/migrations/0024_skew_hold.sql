-- Messages held whole for a clock-skew replay (issue 19 item 6; docs/decisions/0015).
-- Only messages rejected as clock_skew (the unit's own clock ahead, its data fine) of a
-- registered vehicle, at most ingest/skewhold.MAX_HELD_PER_VEHICLE per vehicle, kept
-- privacy_settings.skew_hold_hours (retention removes older ones; a replay ignores them).
-- Every other reject keeps only its scrubbed dead letter in `rejects`. The positions here
-- may be off duty: nobody reads them but the replay, which sends them through the ingest's
-- privacy filter and then empties them (the hash stays until retention, so a redelivery of
-- a message already held or replayed is not held again: nothing is stored twice).
CREATE TABLE skew_held (
    held_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id  text NOT NULL REFERENCES vehicles ON DELETE CASCADE,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    payload     bytea NOT NULL,  -- emptied by the replay
    payload_sha256 bytea NOT NULL,
    skew_ms     bigint NOT NULL,  -- the unit's `sent` minus the server's clock, on this message
    replayed_at timestamptz
);
CREATE UNIQUE INDEX skew_held_message ON skew_held (vehicle_id, payload_sha256);
CREATE INDEX skew_held_vehicle ON skew_held (vehicle_id, received_at);
CREATE INDEX skew_held_received ON skew_held (received_at);

ALTER TABLE privacy_settings
    ADD COLUMN skew_hold_hours integer NOT NULL DEFAULT 48 CHECK (skew_hold_hours BETWEEN 1 AND 168);
