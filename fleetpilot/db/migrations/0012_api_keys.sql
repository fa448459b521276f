-- Read-only API keys for GIS clients (the OGC API - Features door at /ogc). An admin issues
-- and revokes them; only a SHA-256 of the key is stored (the key is 32 random bytes, so a
-- slow password hash would buy nothing), and the key itself is shown once, at issue.
CREATE TABLE api_keys (
    key_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 3 AND 80),
    key_hash    text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix  text NOT NULL,  -- the first characters, so an admin can tell keys apart
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  bigint REFERENCES users,
    revoked_at  timestamptz,
    revoked_by  bigint REFERENCES users,
    last_used_at timestamptz
);
