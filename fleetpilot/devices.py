"""Device registration: bind a unit, tracker or phone to a vehicle and give it credentials;
generate the broker's password and ACL files from what is registered.

Broker (docs/decisions/0006-trackers-in.md): Mosquitto's ``password_file`` + ``acl_file``,
written by `broker_files` and reloaded with SIGHUP. Each login may publish only its own topics:

* a protocol v1 unit: ``fleet/<city>/<vehicle>/{telemetry,events,status}``, and read its
  ``…/config``;
* an OwnTracks phone ``<user>/<device>``: its own topic (and the app's ``…/cmd`` etc. below
  it) and nothing else — not even read access to other phones' topics, which the app would
  otherwise subscribe to for "friends";
* a Traccar server: the Traccar topic filter of its city;
* the ingest (credentials of FLEETPILOT_MQTT_URL): read on all of those.

Passwords are generated here, printed once by the CLI and stored only as Mosquitto's own
PBKDF2-SHA512 hash (``$7$101$<salt>$<hash>``, the format mosquitto_passwd writes).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

import asyncpg

from fleetpilot.errors import FleetpilotError
from fleetpilot.ingest.dialects import tokens

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
OWNTRACKS_ID = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})/([A-Za-z0-9][A-Za-z0-9._-]{0,63})$")
DIALECTS = ("v1", "traccar", "owntracks")
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
PASSWORD_BYTES = 18
V1_CHANNELS_WRITE = ("telemetry", "events", "status")

INSERT = """
INSERT INTO devices (device_id, vehicle_id, dialect, external_id, mqtt_username, mqtt_password_hash)
VALUES ($1, $2, $3, $4, $5, $6)
"""
LOGINS = """
SELECT d.device_id, d.dialect, d.external_id, d.vehicle_id, d.mqtt_username, d.mqtt_password_hash, v.city
FROM devices d LEFT JOIN vehicles v USING (vehicle_id)
WHERE d.mqtt_username IS NOT NULL AND d.mqtt_password_hash IS NOT NULL
ORDER BY d.mqtt_username
"""
LIST = """
SELECT d.device_id, d.dialect, d.external_id, d.vehicle_id, d.mqtt_username,
       (SELECT count(*) FROM ingest_tokens t WHERE t.device_id = d.device_id AND t.revoked_at IS NULL) AS tokens
FROM devices d ORDER BY d.device_id
"""


class DeviceError(FleetpilotError):
    """A device registration the admin asked for cannot be made (unknown vehicle, duplicate id…)."""


@dataclass(frozen=True)
class Issued:
    device_id: str
    mqtt_username: str | None = None
    mqtt_password: str | None = None  # shown once
    token_id: str | None = None
    token: str | None = None  # shown once


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """The password as Mosquitto 2 stores it (mosquitto_passwd's ``$7$`` PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _check(dialect: str, external_id: str | None, mqtt_username: str | None) -> None:
    if dialect not in DIALECTS:
        raise DeviceError(f"dialect must be one of {', '.join(DIALECTS)}")
    if dialect == "v1" and external_id:
        raise DeviceError("a protocol v1 unit is identified by its vehicle's topic: no --external-id")
    if dialect == "traccar" and not external_id:
        raise DeviceError("a Traccar device needs --external-id: its Traccar identifier (uniqueId)")
    if dialect == "owntracks" and not (external_id and OWNTRACKS_ID.match(external_id)):
        raise DeviceError("an OwnTracks phone needs --external-id <user>/<device> (letters, digits, . _ -)")
    if mqtt_username is not None and not USERNAME.match(mqtt_username):
        raise DeviceError("MQTT usernames are 1-64 letters, digits, . _ - (no spaces, no wildcards)")


async def add_device(
    conn: asyncpg.Connection,
    device_id: str,
    vehicle_id: str,
    dialect: str = "v1",
    external_id: str | None = None,
    *,
    http_token: bool = False,
) -> Issued:
    """Register a device on a vehicle with its credentials: an MQTT login for v1 units (named
    after the device) and OwnTracks phones (the OwnTracks user); Traccar devices get none (their
    Traccar server holds the login). `http_token`: also an HTTP token (OwnTracks' HTTP mode)."""
    username = {"v1": device_id, "owntracks": (external_id or "").split("/")[0], "traccar": None}.get(dialect)
    _check(dialect, external_id, username)
    if http_token and dialect != "owntracks":
        raise DeviceError("per-device HTTP tokens are for OwnTracks phones; a Traccar server gets one token")
    password = secrets.token_urlsafe(PASSWORD_BYTES) if username else None
    async with conn.transaction():
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM vehicles WHERE vehicle_id = $1)", vehicle_id):
            raise DeviceError(f"no vehicle {vehicle_id!r}: register the vehicle first")
        try:
            await conn.execute(
                INSERT,
                device_id,
                vehicle_id,
                dialect,
                external_id,
                username,
                mosquitto_hash(password) if password else None,
            )
        except asyncpg.UniqueViolationError as exc:
            raise DeviceError(f"device {device_id!r} cannot be added: {exc.constraint_name} is taken") from None
        token_id = token = None
        if http_token:
            token_id, token = await tokens.issue(conn, dialect, f"device {device_id}", device_id)
    return Issued(device_id, username, password, token_id, token)


async def add_traccar_server(conn: asyncpg.Connection, name: str, *, mqtt: bool = False) -> Issued:
    """A Traccar server: an HTTP token and, with `mqtt`, an MQTT login named `name`."""
    _check("traccar", "server", name)
    password = secrets.token_urlsafe(PASSWORD_BYTES) if mqtt else None
    async with conn.transaction():
        try:
            await conn.execute(
                INSERT, name, None, "traccar", None, name if mqtt else None, mosquitto_hash(password) if mqtt else None
            )
        except asyncpg.UniqueViolationError as exc:
            raise DeviceError(f"{name!r} cannot be added: {exc.constraint_name} is taken") from None
        token_id, token = await tokens.issue(conn, "traccar", f"Traccar server {name}")
    return Issued(name, name if mqtt else None, password, token_id, token)


async def list_devices(conn: asyncpg.Connection) -> list[dict]:
    return [dict(r) for r in await conn.fetch(LIST)]


def _owntracks_topic(pattern: str, external_id: str) -> str:
    """The phone's own topic: the pattern's + segments filled with its user and device."""
    values = iter(external_id.split("/"))
    return "/".join(next(values, "+") if part == "+" else part for part in pattern.split("/"))


async def broker_files(
    conn: asyncpg.Connection,
    *,
    city: str,
    traccar_topic: str,
    owntracks_topic: str,
    ingest_username: str,
    ingest_password: str,
) -> tuple[str, str]:
    """(password file, ACL file) for Mosquitto from the registered logins."""
    if not USERNAME.match(ingest_username):
        raise DeviceError("the ingest's MQTT username must be 1-64 letters, digits, . _ -")
    traccar_filter = traccar_topic.replace("{city}", city)
    passwd = [f"{ingest_username}:{mosquitto_hash(ingest_password)}"]
    acl = [
        "# Generated by `fleetpilot devices broker-files` from the devices table: do not edit,",
        "# regenerate and send Mosquitto SIGHUP. Each login may publish only its own topics.",
        "",
        f"user {ingest_username}",
        *(f"topic read fleet/{city}/+/{channel}" for channel in V1_CHANNELS_WRITE),
        f"topic read {traccar_filter}",
        f"topic read {owntracks_topic}",
        # Workers' presence (retained status, last will): how a worker sees a dead peer's
        # stranded share (ingest/peers.py).
        f"topic readwrite fleetpilot/ingest/{city}/#",
    ]
    for r in await conn.fetch(LOGINS):
        user = r["mqtt_username"]
        if user == ingest_username:
            raise DeviceError(f"device {r['device_id']!r} uses the ingest's MQTT username {user!r}")
        passwd.append(f"{user}:{r['mqtt_password_hash']}")
        acl += ["", f"# device {r['device_id']} ({r['dialect']})", f"user {user}"]
        if r["dialect"] == "v1":
            base = f"fleet/{r['city']}/{r['vehicle_id']}"
            acl += [f"topic write {base}/{channel}" for channel in V1_CHANNELS_WRITE]
            acl += [f"topic read {base}/config"]
        elif r["dialect"] == "owntracks":
            own = _owntracks_topic(owntracks_topic, r["external_id"])
            acl += [f"topic readwrite {own}", f"topic readwrite {own}/#"]
        else:  # a Traccar server
            acl += [f"topic write {traccar_filter}"]
    return "\n".join(passwd) + "\n", "\n".join(acl) + "\n"
