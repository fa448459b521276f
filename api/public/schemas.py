"""Bodies of the public endpoints."""

from __future__ import annotations

from pydantic import BaseModel


class DatabaseHealth(BaseModel):
    reachable: bool
    storage_mode: str | None  # "native" or "timescale"; None before the first migration
    schema_version: int | None


class HealthOut(BaseModel):
    status: str  # "ok"
    version: str
    database: DatabaseHealth


class DataItem(BaseModel):
    what: str
    when: str
    kept: str


class AccessRule(BaseModel):
    capability: str
    roles: list[str]
    meaning: str


class DropCount(BaseModel):
    reason: str  # off_duty | private_mode | privacy_zone
    fixes: int
    events: int


class OpenDataRelease(BaseModel):
    """The latest open-data release (fleetpilot release): its period and where its files are."""

    period_start: str
    period_end: str
    k_min_shifts: int
    k_min_people: int
    created_at: str
    datapackage: str  # the URL of its datapackage.json, which lists every file


class TransparencyOut(BaseModel):
    """What is collected, who sees what, for how long — from the live settings."""

    retention_days: int
    deadletter_days: int  # rejected messages (numbers removed) are deleted after this
    skew_hold_hours: int  # a clock-skewed unit's messages, held whole for a replay, are deleted after this
    k_min_shifts: int
    k_min_people: int
    zone_policy: str  # snap: positions in a privacy zone are generalised; drop: not stored
    privacy_zones: int
    settings_updated_at: str
    collected: list[DataItem]
    access: list[AccessRule]
    not_stored_last_30_days: list[DropCount]
    individual_accesses_last_30_days: int
    latest_open_data: OpenDataRelease | None = None
