-- Core tables that are the same in both storage modes.
-- The runner sets fleetpilot.storage_mode for the transaction; it is recorded once.

CREATE TABLE fleetpilot_meta (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO fleetpilot_meta (key, value)
VALUES ('storage_mode', current_setting('fleetpilot.storage_mode'));

-- People are pseudonymous everywhere; real names live apart in the identity schema,
-- which only the admin paths of the policy layer read.
CREATE TABLE people (
    person_id  text PRIMARY KEY CHECK (person_id ~ '^[a-z0-9][a-z0-9_-]{2,63}$'),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA identity;
CREATE TABLE identity.person_names (
    person_id   text PRIMARY KEY REFERENCES people ON DELETE CASCADE,
    full_name   text NOT NULL,
    employee_no text
);

CREATE TABLE roles (
    role        text PRIMARY KEY,
    description text NOT NULL
);
INSERT INTO roles VALUES
    ('driver',       'Crew member: sees only their own shifts, insights and access log'),
    ('supervisor',   'Plans routes; sees route, segment and time aggregates; individual access only with a recorded purpose'),
    ('data_officer', 'Asks what-if questions over history; hotspots and k-anonymous exports'),
    ('admin',        'Users, roles, devices, retention and privacy settings');

CREATE TABLE users (
    user_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (length(username) BETWEEN 3 AND 64),
    password_hash   text NOT NULL,
    role            text NOT NULL REFERENCES roles,
    person_id       text UNIQUE REFERENCES people,
    disabled        boolean NOT NULL DEFAULT false,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A driver account is exactly one person; other roles may not borrow a person's identity.
    CHECK ((role = 'driver') = (person_id IS NOT NULL))
);

-- Revoked access tokens (logout); rows expire with the token.
CREATE TABLE token_revocations (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE vehicles (
    vehicle_id text PRIMARY KEY CHECK (vehicle_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
    city       text NOT NULL,
    label      text,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id    text PRIMARY KEY,
    vehicle_id   text REFERENCES vehicles,
    mqtt_username text UNIQUE,
    installed_at timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz,
    last_seq     bigint,
    online       boolean,
    firmware     text
);

-- Geofences (depot, transfer station, landfill, break location) as GeoJSON polygons.
CREATE TABLE facilities (
    facility_id   text PRIMARY KEY,
    facility_type text NOT NULL CHECK (facility_type IN ('depot', 'transfer_station', 'landfill', 'break')),
    name          text NOT NULL,
    geometry      jsonb NOT NULL
);

-- The street network (from the city's GIS or the simulator's city), for speed limits and maps.
CREATE TABLE street_segments (
    segment_id      text PRIMARY KEY,
    name            text,
    road_class      text NOT NULL,
    speed_limit_kmh real NOT NULL CHECK (speed_limit_kmh > 0),
    one_way         boolean NOT NULL DEFAULT false,
    geometry        jsonb NOT NULL
);

-- Routes are versioned: an edit writes a new version; shifts point at the version driven.
CREATE TABLE routes (
    route_id       text PRIMARY KEY,
    name           text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    current_version integer,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE route_versions (
    route_id   text NOT NULL REFERENCES routes,
    version    integer NOT NULL CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text,
    note       text,
    PRIMARY KEY (route_id, version)
);

CREATE TABLE route_segments (
    route_id        text NOT NULL,
    version         integer NOT NULL,
    seq             integer NOT NULL,
    segment_id      text NOT NULL,
    service         boolean NOT NULL DEFAULT true,
    speed_limit_kmh real,
    geometry        jsonb NOT NULL,
    PRIMARY KEY (route_id, version, seq),
    FOREIGN KEY (route_id, version) REFERENCES route_versions ON DELETE CASCADE
);

CREATE TABLE route_stops (
    route_id   text NOT NULL,
    version    integer NOT NULL,
    seq        integer NOT NULL,
    stop_id    text NOT NULL,
    segment_id text,
    lon        double precision NOT NULL,
    lat        double precision NOT NULL,
    PRIMARY KEY (route_id, version, seq),
    FOREIGN KEY (route_id, version) REFERENCES route_versions ON DELETE CASCADE
);

-- A shift is a vehicle's on-duty window. Outside every shift a vehicle's data is private.
CREATE TABLE shifts (
    shift_id      text PRIMARY KEY,
    vehicle_id    text NOT NULL REFERENCES vehicles,
    route_id      text REFERENCES routes,
    route_version integer,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX shifts_vehicle_time ON shifts (vehicle_id, starts_at, ends_at);
CREATE INDEX shifts_time ON shifts (starts_at);

-- The shift<->person link: joined only for the person themself or an audited purpose.
CREATE TABLE shift_crew (
    shift_id  text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    person_id text NOT NULL REFERENCES people,
    crew_role text NOT NULL DEFAULT 'crew',
    PRIMARY KEY (shift_id, person_id)
);
CREATE INDEX shift_crew_person ON shift_crew (person_id);

-- Privacy settings: one row, editable by the admin; the environment seeds the first values.
CREATE TABLE privacy_settings (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    retention_days integer NOT NULL CHECK (retention_days >= 1),
    k_min_shifts   integer NOT NULL CHECK (k_min_shifts >= 1),
    k_min_people   integer NOT NULL CHECK (k_min_people >= 1),
    zone_policy    text NOT NULL DEFAULT 'snap' CHECK (zone_policy IN ('snap', 'drop')),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text
);

-- Places (break rooms, homes near a route) where positions are generalised before storage.
CREATE TABLE privacy_zones (
    zone_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name     text NOT NULL,
    lon      double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat      double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    radius_m real NOT NULL CHECK (radius_m > 0 AND radius_m <= 5000)
);

-- Dead letters: every message the ingest could not accept, byte for byte, with the reason.
CREATE TABLE rejects (
    reject_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    detail      text
);
CREATE INDEX rejects_time ON rejects (received_at);
CREATE INDEX rejects_reason ON rejects (reason);

-- Off-duty and private-mode data is never stored, only counted here (for transparency).
CREATE TABLE privacy_drops (
    vehicle_id text NOT NULL,
    day        date NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('off_duty', 'private_mode', 'privacy_zone')),
    fixes      bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (vehicle_id, day, reason)
);

-- Append-only record of every individual access and administrative change.
CREATE TABLE audit_log (
    audit_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT now(),
    actor_user_id     bigint REFERENCES users,
    actor_role        text NOT NULL,
    action            text NOT NULL,
    subject_person_id text REFERENCES people,
    shift_id          text,
    purpose           text,
    detail            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_subject ON audit_log (subject_person_id, at);

CREATE FUNCTION fleetpilot_audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION fleetpilot_audit_is_append_only();
