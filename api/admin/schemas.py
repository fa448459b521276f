"""Bodies of the admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["driver", "supervisor", "data_officer", "admin"]
IdText = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class UserOut(BaseModel):
    user_id: int
    username: str
    role: str
    person_id: str | None
    disabled: bool
    locked_until: datetime | None
    created_at: datetime


class UserIn(BaseModel):
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    person_id: str | None = Field(None, max_length=64)


class UserChange(BaseModel):
    """Only the fields given are changed; `unlock` clears a sign-in lockout."""

    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=256)
    unlock: bool = False


class PersonOut(BaseModel):
    person_id: str
    full_name: str | None
    employee_no: str | None
    active: bool
    has_account: bool


class VehicleIn(BaseModel):
    vehicle_id: str = IdText
    city: str = Field(min_length=1, max_length=64)
    label: str | None = Field(None, max_length=200)


class VehicleOut(BaseModel):
    vehicle_id: str
    city: str
    label: str | None
    active: bool


class DeviceIn(BaseModel):
    device_id: str = IdText
    vehicle_id: str | None = Field(None, max_length=64)
    mqtt_username: str | None = Field(None, max_length=64)


class DeviceChange(BaseModel):
    vehicle_id: str | None = Field(None, max_length=64)
    mqtt_username: str | None = Field(None, max_length=64)


class DeviceOut(BaseModel):
    device_id: str
    vehicle_id: str | None
    mqtt_username: str | None
    installed_at: datetime
    last_seen: datetime | None
    online: bool | None
    firmware: str | None


class PrivacySettings(BaseModel):
    """k below 2 would let an 'aggregate' be one person's data, so 2 is the floor."""

    retention_days: int = Field(ge=1, le=3650)
    k_min_shifts: int = Field(ge=2, le=1000)
    k_min_people: int = Field(ge=2, le=1000)
    zone_policy: Literal["snap", "drop"]


class PrivacySettingsOut(PrivacySettings):
    # The stored values may predate the floors above (seeded from the environment).
    k_min_shifts: int
    k_min_people: int
    retention_days: int
    updated_at: datetime
    updated_by: str | None


class ZoneIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    radius_m: float = Field(ge=1, le=5000)  # metres; the column is real, so no sub-metre radii


class ZoneOut(ZoneIn):
    zone_id: int


class RetentionOut(BaseModel):
    cutoff: datetime
    dropped_partitions: dict[str, int]


class AuditEntry(BaseModel):
    audit_id: int
    at: datetime
    actor: str | None
    actor_role: str
    action: str
    subject_person_id: str | None
    shift_id: str | None
    purpose: str | None
    detail: dict[str, Any]
