"""Bodies of the admin endpoints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

Role = Literal["driver", "supervisor", "data_officer", "admin"]
OWNTRACKS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
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
    password: str = Field(min_length=12, max_length=256)
    role: Role
    person_id: str | None = Field(None, max_length=64)


class UserChange(BaseModel):
    """Only the fields given are changed; `unlock` clears a sign-in lockout."""

    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=12, max_length=256)
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
    # Real trackers (docs/trackers.md): the dialect it speaks and the identity it reports —
    # Traccar's device identifier (uniqueId) or OwnTracks' <user>/<device>.
    dialect: Literal["v1", "traccar", "owntracks"] = "v1"
    external_id: str | None = Field(None, max_length=128)

    @field_validator("external_id", "mqtt_username", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        return value or None

    @model_validator(mode="after")
    def _identity_fits_dialect(self) -> DeviceIn:
        if self.dialect == "v1" and self.external_id:
            raise ValueError("a protocol v1 unit is identified by its truck's topic: no tracker identity")
        if self.dialect != "v1" and not self.external_id:
            raise ValueError("a Traccar or OwnTracks device needs its identity (Traccar identifier, or user/device)")
        if self.dialect == "owntracks" and not OWNTRACKS_ID.match(self.external_id):
            raise ValueError("an OwnTracks identity is <user>/<device> (letters, digits, . _ -)")
        return self


class DeviceChange(BaseModel):
    vehicle_id: str | None = Field(None, max_length=64)
    mqtt_username: str | None = Field(None, max_length=64)


class DeviceOut(BaseModel):
    device_id: str
    vehicle_id: str | None
    mqtt_username: str | None
    dialect: str
    external_id: str | None
    installed_at: datetime
    last_seen: datetime | None
    online: bool | None
    firmware: str | None
    clock_skew_s: float | None = None  # the unit's clock minus the server's (ingest, issue 19)
    clock_checked_at: datetime | None = None


class PrivacySettings(BaseModel):
    """k below 2 would let an 'aggregate' be one person's data, so 2 is the floor."""

    retention_days: int = Field(ge=1, le=3650)
    k_min_shifts: int = Field(ge=2, le=1000)
    k_min_people: int = Field(ge=2, le=1000)
    zone_policy: Literal["snap", "drop"]
    # Dead letters (rejected messages, numbers removed); omitted = unchanged.
    deadletter_days: int | None = Field(None, ge=1, le=90)
    # A clock-skewed unit's messages held whole for a replay (decision 0015); omitted = unchanged.
    skew_hold_hours: int | None = Field(None, ge=1, le=168)


class PrivacySettingsOut(PrivacySettings):
    # The stored values may predate the floors above (seeded from the environment).
    k_min_shifts: int
    k_min_people: int
    retention_days: int
    deadletter_days: int
    skew_hold_hours: int
    updated_at: datetime
    updated_by: str | None


class SkewHeldOut(BaseModel):
    """A vehicle's messages held for clock skew (decision 0015): counts and skews, never positions."""

    vehicle_id: str
    held: int
    oldest: datetime
    newest: datetime
    held_skew_s: float  # the unit's clock ahead of the server's, on average over the held messages
    clock_skew_s: float | None  # its device's skew measured now (near 0 once the clock is fixed)


class SkewReplayIn(BaseModel):
    # How far ahead the unit's clock was, in s; omitted: the skew measured on the held messages.
    offset_s: float | None = Field(None, ge=-86_400, le=86_400)


class SkewReplayOut(BaseModel):
    vehicle_id: str
    offset_s: float | None  # the correction applied: the unit's clock was this far ahead
    measured: bool  # offset_s was measured on the held messages, not stated
    messages: int
    replayed: int
    still_skewed: int
    fixes_stored: int
    events_stored: int
    duplicates: int
    not_stored: dict[str, int]  # by privacy reason (off_duty, private_mode, privacy_zone): counted only
    rejected: dict[str, int]


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
