-- Real trackers in (issue 17, docs/trackers.md). A device says which dialect it speaks and,
-- for Traccar and OwnTracks, the identity it reports (Traccar's device.uniqueId, OwnTracks'
-- '<user>/<device>'); only an admin binds such an identity to a vehicle, an unknown one is
-- dead-lettered, never created. mqtt_password_hash is the broker's own hash format (Mosquitto
-- PBKDF2-SHA512, '$7$…'), written into the generated password file; no clear password is kept.
ALTER TABLE devices
    ADD COLUMN dialect text NOT NULL DEFAULT 'v1' CHECK (dialect IN ('v1', 'traccar', 'owntracks')),
    ADD COLUMN external_id text CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 128),
    ADD COLUMN mqtt_password_hash text;
CREATE UNIQUE INDEX devices_dialect_external_id ON devices (dialect, external_id) WHERE external_id IS NOT NULL;

-- Bearer tokens of the HTTP ways in: one per Traccar server (it forwards for many devices) or
-- per OwnTracks phone (device_id set: the token is that phone's identity). Only a SHA-256 of
-- the secret is stored (the secret is 32 random bytes, so a slow password hash adds nothing);
-- revoking sets revoked_at and the next request is refused.
CREATE TABLE ingest_tokens (
    token_id      text PRIMARY KEY CHECK (token_id ~ '^[a-z0-9]{8,32}$'),
    dialect       text NOT NULL CHECK (dialect IN ('traccar', 'owntracks')),
    label         text NOT NULL,
    device_id     text REFERENCES devices ON DELETE CASCADE,
    secret_sha256 bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    CHECK (dialect = 'traccar' OR device_id IS NOT NULL)
);
