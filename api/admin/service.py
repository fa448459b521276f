"""Administrative reads and changes; every change is written to the audit log by the caller's
principal, in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime, timezone

import asyncpg

from fleetpilot.api.admin.schemas import (
    AuditEntry,
    DeviceChange,
    DeviceIn,
    DeviceOut,
    PersonOut,
    PrivacySettings,
    PrivacySettingsOut,
    RetentionOut,
    SkewHeldOut,
    SkewReplayIn,
    SkewReplayOut,
    UserChange,
    UserIn,
    UserOut,
    VehicleIn,
    VehicleOut,
    ZoneIn,
    ZoneOut,
)
from fleetpilot.api.auth.passwords import WeakPassword, hash_password
from fleetpilot.api.policy import Principal, audit, privacy_settings
from fleetpilot.api.users import UserError, create_user, get_user, list_users
from fleetpilot.db.maintenance import apply_retention
from fleetpilot.ingest import replay


class NotFound(LookupError):
    """The addressed row does not exist."""


class Conflict(ValueError):
    """The change breaks a rule of the data (duplicate, dangling reference, account rule)."""


PEOPLE = """
SELECT p.person_id, n.full_name, n.employee_no, p.active,
       EXISTS (SELECT 1 FROM users u WHERE u.person_id = p.person_id) AS has_account
FROM people p LEFT JOIN identity.person_names n ON n.person_id = p.person_id
ORDER BY p.person_id
"""
VEHICLES = "SELECT vehicle_id, city, label, active FROM vehicles ORDER BY vehicle_id"
INSERT_VEHICLE = """
INSERT INTO vehicles (vehicle_id, city, label) VALUES ($1, $2, $3) RETURNING vehicle_id, city, label, active
"""
DEVICE_COLUMNS = (
    "device_id, vehicle_id, mqtt_username, dialect, external_id, installed_at, last_seen, online, firmware, "
    "clock_skew_s, clock_checked_at"
)
DEVICES = f"SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_id"
INSERT_DEVICE = (
    "INSERT INTO devices (device_id, vehicle_id, mqtt_username, dialect, external_id) VALUES ($1, $2, $3, $4, $5) "
    f"RETURNING {DEVICE_COLUMNS}"
)
UPDATE_DEVICE = f"""
UPDATE devices SET vehicle_id = CASE WHEN $2 THEN $3 ELSE vehicle_id END,
                   mqtt_username = CASE WHEN $4 THEN $5 ELSE mqtt_username END
WHERE device_id = $1 RETURNING {DEVICE_COLUMNS}
"""
UPDATE_PRIVACY = """
UPDATE privacy_settings SET retention_days = $1, k_min_shifts = $2, k_min_people = $3, zone_policy = $4,
       deadletter_days = coalesce($6, deadletter_days), skew_hold_hours = coalesce($7, skew_hold_hours),
       updated_at = now(), updated_by = $5
"""
ZONES = "SELECT zone_id, name, lon, lat, radius_m FROM privacy_zones ORDER BY zone_id"
INSERT_ZONE = """
INSERT INTO privacy_zones (name, lon, lat, radius_m) VALUES ($1, $2, $3, $4) RETURNING zone_id, name, lon, lat, radius_m
"""
DELETE_ZONE = "DELETE FROM privacy_zones WHERE zone_id = $1 RETURNING zone_id"
AUDIT = """
SELECT a.audit_id, a.at, u.username AS actor, a.actor_role, a.action, a.subject_person_id, a.shift_id, a.purpose,
       a.detail
FROM audit_log a LEFT JOIN users u ON u.user_id = a.actor_user_id
WHERE ($1::text IS NULL OR a.action = $1) AND ($2::text IS NULL OR a.subject_person_id = $2)
ORDER BY a.audit_id DESC LIMIT $3 OFFSET $4
"""


def _user_out(user) -> UserOut:
    return UserOut(**vars(user))


async def users(conn: asyncpg.Connection) -> list[UserOut]:
    return [_user_out(u) for u in await list_users(conn)]


async def add_user(conn: asyncpg.Connection, actor: Principal, body: UserIn) -> UserOut:
    """An account made by an admin: its password is known to the admin, so its owner must
    replace it before the account reaches any data; for a person's account the creation is
    recorded with that person as subject (it shows in their access log)."""
    async with conn.transaction():
        try:
            user_id = await create_user(
                conn, body.username, body.password, body.role, body.person_id, must_change_password=True
            )
        except UserError as exc:
            raise Conflict(str(exc)) from None
        await audit(
            conn,
            actor,
            "create_user",
            subject_person_id=body.person_id,
            detail={"user_id": user_id, "username": body.username, "role": body.role, "person_id": body.person_id},
        )
    return _user_out(await get_user(conn, user_id))


# A change that could let the admin act as the account's owner, or that changes what the
# account may do, ends the account's tokens (version bump); a password set by the admin must
# be replaced by its owner at the next sign-in.
END_TOKENS = "UPDATE users SET token_version = token_version + 1 WHERE user_id = $1"
SET_PASSWORD_BY_ADMIN = """
UPDATE users SET password_hash = $2, must_change_password = true, token_version = token_version + 1
WHERE user_id = $1
"""


async def change_user(conn: asyncpg.Connection, actor: Principal, user_id: int, change: UserChange) -> UserOut:
    async with conn.transaction():
        user = await get_user(conn, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        if change.role is not None and (change.role == "driver") != (user.role == "driver"):
            raise Conflict("a driver account belongs to one person; create a new account to change that")
        if change.role is not None:
            await conn.execute("UPDATE users SET role = $2 WHERE user_id = $1", user_id, change.role)
            if change.role != user.role:
                await conn.execute(END_TOKENS, user_id)
        if change.disabled is not None:
            await conn.execute("UPDATE users SET disabled = $2 WHERE user_id = $1", user_id, change.disabled)
            if change.disabled:
                await conn.execute(END_TOKENS, user_id)
        if change.password is not None:
            try:
                password_hash = await hash_password(change.password)
            except WeakPassword as exc:
                raise Conflict(str(exc)) from None
            await conn.execute(SET_PASSWORD_BY_ADMIN, user_id, password_hash)
        if change.unlock:
            await conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = $1", user_id)
        changed = change.model_dump(exclude_unset=True, exclude={"password"})
        if change.password is not None:
            changed["password"] = "reset (the owner must change it at next sign-in)"
        await audit(
            conn, actor, "change_user", subject_person_id=user.person_id, detail={"user_id": user_id, **changed}
        )
    return _user_out(await get_user(conn, user_id))


async def people(conn: asyncpg.Connection, actor: Principal) -> list[PersonOut]:
    """Real names (identity schema): admin only, and the read itself is audited."""
    async with conn.transaction():
        rows = await conn.fetch(PEOPLE)
        await audit(conn, actor, "read_identities", detail={"people": len(rows)})
    return [PersonOut(**dict(r)) for r in rows]


async def vehicles(conn: asyncpg.Connection) -> list[VehicleOut]:
    return [VehicleOut(**dict(r)) for r in await conn.fetch(VEHICLES)]


async def add_vehicle(conn: asyncpg.Connection, actor: Principal, body: VehicleIn) -> VehicleOut:
    async with conn.transaction():
        try:
            row = await conn.fetchrow(INSERT_VEHICLE, body.vehicle_id, body.city, body.label)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(f"vehicle {body.vehicle_id!r} exists or is not a valid id ({exc.constraint_name})") from None
        await audit(conn, actor, "add_vehicle", detail=body.model_dump())
    return VehicleOut(**dict(row))


async def devices(conn: asyncpg.Connection) -> list[DeviceOut]:
    return [DeviceOut(**dict(r)) for r in await conn.fetch(DEVICES)]


async def add_device(conn: asyncpg.Connection, actor: Principal, body: DeviceIn) -> DeviceOut:
    async with conn.transaction():
        try:
            row = await conn.fetchrow(
                INSERT_DEVICE, body.device_id, body.vehicle_id, body.mqtt_username, body.dialect, body.external_id
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(f"device cannot be added: {exc.constraint_name} (duplicate or unknown vehicle)") from None
        await audit(conn, actor, "add_device", detail=body.model_dump())
    return DeviceOut(**dict(row))


async def change_device(conn: asyncpg.Connection, actor: Principal, device_id: str, change: DeviceChange) -> DeviceOut:
    given = change.model_fields_set
    async with conn.transaction():
        try:
            row = await conn.fetchrow(
                UPDATE_DEVICE,
                device_id,
                "vehicle_id" in given,
                change.vehicle_id,
                "mqtt_username" in given,
                change.mqtt_username,
            )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(f"device cannot be changed: {exc.constraint_name}") from None
        if row is None:
            raise NotFound(f"no device {device_id!r}")
        await audit(
            conn, actor, "change_device", detail={"device_id": device_id, **change.model_dump(exclude_unset=True)}
        )
    return DeviceOut(**dict(row))


async def get_privacy(conn: asyncpg.Connection) -> PrivacySettingsOut:
    return PrivacySettingsOut(**dict(await privacy_settings(conn)))


async def set_privacy(conn: asyncpg.Connection, actor: Principal, body: PrivacySettings) -> PrivacySettingsOut:
    async with conn.transaction():
        before = dict(await privacy_settings(conn))
        await conn.execute(
            UPDATE_PRIVACY,
            body.retention_days,
            body.k_min_shifts,
            body.k_min_people,
            body.zone_policy,
            actor.username,
            body.deadletter_days,
            body.skew_hold_hours,
        )
        await audit(
            conn,
            actor,
            "change_privacy_settings",
            detail={"before": {k: before[k] for k in PrivacySettings.model_fields}, "after": body.model_dump()},
        )
    return await get_privacy(conn)


async def zones(conn: asyncpg.Connection) -> list[ZoneOut]:
    return [ZoneOut(**dict(r)) for r in await conn.fetch(ZONES)]


async def add_zone(conn: asyncpg.Connection, actor: Principal, body: ZoneIn) -> ZoneOut:
    async with conn.transaction():
        row = await conn.fetchrow(INSERT_ZONE, body.name, body.lon, body.lat, body.radius_m)
        await audit(conn, actor, "add_privacy_zone", detail={"zone_id": row["zone_id"], "name": body.name})
    return ZoneOut(**dict(row))


async def remove_zone(conn: asyncpg.Connection, actor: Principal, zone_id: int) -> None:
    async with conn.transaction():
        if await conn.fetchval(DELETE_ZONE, zone_id) is None:
            raise NotFound(f"no privacy zone {zone_id}")
        await audit(conn, actor, "remove_privacy_zone", detail={"zone_id": zone_id})


async def run_retention(conn: asyncpg.Connection, actor: Principal, now: datetime | None = None) -> RetentionOut:
    result = await apply_retention(conn, now or datetime.now(timezone.utc))
    await audit(conn, actor, "run_retention", detail={"cutoff": result.cutoff.isoformat(), "dropped": result.dropped})
    return RetentionOut(cutoff=result.cutoff, dropped_partitions=result.dropped)


async def audit_log(
    conn: asyncpg.Connection, action: str | None, person_id: str | None, limit: int, offset: int
) -> list[AuditEntry]:
    return [AuditEntry(**dict(r)) for r in await conn.fetch(AUDIT, action, person_id, limit, offset)]


async def skew_held(conn: asyncpg.Connection) -> list[SkewHeldOut]:
    return [SkewHeldOut(**r) for r in await replay.held(conn)]


async def replay_skew(
    conn: asyncpg.Connection, actor: Principal, vehicle_id: str, body: SkewReplayIn, now_ms: int
) -> SkewReplayOut:
    """Replay the vehicle's held clock-skew messages through the ingest pipeline; the audit row
    is written in the replay's transaction."""

    async def record(c: asyncpg.Connection, result: replay.ReplayResult) -> None:
        await audit(c, actor, "replay_skew_held", detail=result.as_detail())

    try:
        result = await replay.replay_held(conn, vehicle_id, offset_s=body.offset_s, audit=record, now_ms=now_ms)
    except replay.UnknownVehicle as exc:
        raise NotFound(str(exc)) from None
    return SkewReplayOut(**result.as_detail())
