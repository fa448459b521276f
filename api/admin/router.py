"""/admin: users, people (real names), vehicles, devices, privacy settings and zones, retention, audit log."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, status

from fleetpilot.api.admin import service
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
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY, Allowed, Conn
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/admin", tags=["admin"], responses=REFUSALS)
Admin = Allowed(Capability.ADMIN)
T = TypeVar("T")
NOT_FOUND = {404: {"description": "no such item"}}
CONFLICT = {409: {"description": "duplicate, unknown reference or broken account rule"}, **UNREADABLE_BODY}


async def _answer(call: Awaitable[T]) -> T:
    """Map the service's NotFound/Conflict to 404/409."""
    try:
        return await call
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except service.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.get("/users", response_model=list[UserOut])
async def list_users(_: Admin, conn: Conn) -> list[UserOut]:
    return await service.users(conn)


@router.post("/users", response_model=UserOut, status_code=201, responses=CONFLICT)
async def add_user(access: Admin, conn: Conn, body: UserIn) -> UserOut:
    return await _answer(service.add_user(conn, access.principal, body))


@router.patch("/users/{user_id}", response_model=UserOut, responses={**NOT_FOUND, **CONFLICT})
async def change_user(
    access: Admin, conn: Conn, user_id: Annotated[int, Path(ge=1, le=2**62)], body: UserChange
) -> UserOut:
    return await _answer(service.change_user(conn, access.principal, user_id, body))


@router.get("/people", response_model=list[PersonOut])
async def people(access: Admin, conn: Conn) -> list[PersonOut]:
    """People with their real names. The read is recorded in the audit log."""
    return await service.people(conn, access.principal)


@router.get("/vehicles", response_model=list[VehicleOut])
async def vehicles(_: Admin, conn: Conn) -> list[VehicleOut]:
    return await service.vehicles(conn)


@router.post("/vehicles", response_model=VehicleOut, status_code=201, responses=CONFLICT)
async def add_vehicle(access: Admin, conn: Conn, body: VehicleIn) -> VehicleOut:
    return await _answer(service.add_vehicle(conn, access.principal, body))


@router.get("/devices", response_model=list[DeviceOut])
async def devices(_: Admin, conn: Conn) -> list[DeviceOut]:
    return await service.devices(conn)


@router.post("/devices", response_model=DeviceOut, status_code=201, responses=CONFLICT)
async def add_device(access: Admin, conn: Conn, body: DeviceIn) -> DeviceOut:
    return await _answer(service.add_device(conn, access.principal, body))


@router.patch("/devices/{device_id}", response_model=DeviceOut, responses={**NOT_FOUND, **CONFLICT})
async def change_device(
    access: Admin, conn: Conn, device_id: Annotated[str, Path(max_length=64)], body: DeviceChange
) -> DeviceOut:
    return await _answer(service.change_device(conn, access.principal, device_id, body))


@router.get("/skew-held", response_model=list[SkewHeldOut])
async def skew_held(_: Admin, conn: Conn) -> list[SkewHeldOut]:
    """Vehicles with messages held for clock skew: how many, and the skew measured on them and now."""
    return await service.skew_held(conn)


@router.post(
    "/vehicles/{vehicle_id}/skew-replay", response_model=SkewReplayOut, responses={**NOT_FOUND, **UNREADABLE_BODY}
)
async def replay_skew(
    access: Admin, conn: Conn, vehicle_id: Annotated[str, Path(max_length=64)], body: SkewReplayIn
) -> SkewReplayOut:
    """Replay the vehicle's held messages with corrected times through the ingest pipeline (off-duty
    fixes dropped, privacy zones applied, nothing stored twice); the held copies are deleted; audited."""
    return await _answer(service.replay_skew(conn, access.principal, vehicle_id, body, int(time.time() * 1000)))


@router.get("/privacy", response_model=PrivacySettingsOut)
async def privacy(_: Admin, conn: Conn) -> PrivacySettingsOut:
    return await service.get_privacy(conn)


@router.put("/privacy", response_model=PrivacySettingsOut, responses=UNREADABLE_BODY)
async def set_privacy(access: Admin, conn: Conn, body: PrivacySettings) -> PrivacySettingsOut:
    """Retention days, k (shifts and people) and the privacy-zone policy; effective immediately."""
    return await service.set_privacy(conn, access.principal, body)


@router.get("/privacy/zones", response_model=list[ZoneOut])
async def zones(_: Admin, conn: Conn) -> list[ZoneOut]:
    return await service.zones(conn)


@router.post("/privacy/zones", response_model=ZoneOut, status_code=201, responses=UNREADABLE_BODY)
async def add_zone(access: Admin, conn: Conn, body: ZoneIn) -> ZoneOut:
    return await service.add_zone(conn, access.principal, body)


@router.delete("/privacy/zones/{zone_id}", status_code=204, responses=NOT_FOUND)
async def remove_zone(access: Admin, conn: Conn, zone_id: Annotated[int, Path(ge=1, le=2**62)]) -> None:
    await _answer(service.remove_zone(conn, access.principal, zone_id))


@router.post("/retention/run", response_model=RetentionOut)
async def run_retention(access: Admin, conn: Conn) -> RetentionOut:
    """Remove raw fixes and events older than the retention period now; rollups stay."""
    return await service.run_retention(conn, access.principal)


@router.get("/audit", response_model=list[AuditEntry])
async def audit_log(
    _: Admin,
    conn: Conn,
    action: Annotated[str | None, Query(max_length=64)] = None,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditEntry]:
    """The append-only audit log, newest first."""
    return await service.audit_log(conn, action, person_id, limit, offset)
