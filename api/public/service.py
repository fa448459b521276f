"""Facts for the public pages, read from the live database."""

from __future__ import annotations

import asyncpg

from fleetpilot.api.policy import RULES, Capability, privacy_settings
from fleetpilot.api.public.schemas import (
    AccessRule,
    DatabaseHealth,
    DataItem,
    DropCount,
    OpenDataRelease,
    TransparencyOut,
)
from fleetpilot.api.release.router import latest

# Before the first migration neither table exists; health still answers (mode and version None).
MIGRATED = "SELECT to_regclass('fleetpilot_meta') IS NOT NULL AND to_regclass('schema_migrations') IS NOT NULL"
STORAGE_MODE = "SELECT value FROM fleetpilot_meta WHERE key = 'storage_mode'"
SCHEMA_VERSION = "SELECT max(version) FROM schema_migrations"
ZONES = "SELECT count(*) FROM privacy_zones"
DROPS = """
SELECT reason, sum(fixes)::bigint AS fixes, sum(events)::bigint AS events FROM privacy_drops
WHERE day >= current_date - 30 GROUP BY reason ORDER BY reason
"""
# One opening writes a row per crew member, all with the same transaction time.
INDIVIDUAL_ACCESSES = """
SELECT count(DISTINCT (at, actor_user_id, shift_id)) FROM audit_log
WHERE action = 'open_shift' AND at >= now() - interval '30 days'
"""

MEANINGS = {
    Capability.PUBLIC: "this page, service health and the API description",
    Capability.SIGNED_IN: "their own account",
    Capability.OWN_DATA: "their own shifts: route driven, safety events with context, trends against their own past, "
    "who looked at their data, and a download of all of it",
    Capability.SHIFT_LOOKUP: "which shift a vehicle was on at a given time (no names, no people)",
    Capability.SHIFT_FOR_PURPOSE: "one shift of one crew, only after stating a purpose; every such access is "
    "recorded and shown to the crew members concerned",
    Capability.ROUTE_PLANS_READ: "route plans and their versions",
    Capability.ROUTE_PLANS_WRITE: "editing route plans (each edit is a new version)",
    Capability.EFFICIENCY: "route-level efficiency per week or month; a week of a route with fewer than k shifts or "
    "people is removed and counted in no total",
    Capability.LIVE: "positions of vehicles currently on duty (never off duty)",
    Capability.HOTSPOTS: "safety hotspots per street segment and grid cell, per pass driven; a week of a street or "
    "cell with fewer than k shifts or people is removed and counted in no figure",
    Capability.EXPORTS: "downloads of the same aggregates (GeoJSON, CSV, Parquet), with the same weeks removed",
    Capability.WHATIF: "what-if scenarios and questions over history, answered with the same k rule",
    Capability.GOALS: "the pilot's goals, their weekly scorecard and the pilot report: fleet-wide figures of "
    "route-weeks that pass the k rule, never a person",
    Capability.GOALS_WRITE: "define or change a pilot goal (each change a new version, audited)",
    Capability.HAZARDS: "the city's list of hazards crews reported: place, category and status, never who "
    "reported; with fewer than k reporters at a place, no count and only the time of day",
    Capability.HAZARDS_WRITE: "moving a reported hazard along: acknowledged, fix planned, fixed (what and when)",
    Capability.HAZARDS_FIXED: "the hazards the city fixed, what was done and when, and whether hard braking per "
    "pass fell there, from street-weeks that pass the k rule only; never who reported",
    Capability.ADMIN: "user accounts, devices, privacy settings, retention runs and the audit log; real names",
    Capability.DEVICE_INGEST: "positions sent by a registered tracker or Traccar server with its own token; "
    "no person's account can use this door",
}


def collected(retention_days: int, zone_policy: str, deadletter_days: int, skew_hold_hours: int) -> list[DataItem]:
    zone = "generalised to the zone centre" if zone_policy == "snap" else "not stored"
    return [
        DataItem(
            what="vehicle position, speed and heading about once per second",
            when=f"only during an on-duty shift and outside device private mode; inside a privacy zone {zone}",
            kept=f"{retention_days} days, then deleted",
        ),
        DataItem(
            what="device events: harsh braking, acceleration and cornering, reversing, bin lifts, ignition",
            when="only during an on-duty shift",
            kept=f"{retention_days} days, then deleted",
        ),
        DataItem(
            what="per-shift summaries (distance, coverage of the planned route, idle, dwell, facility time)",
            when="computed from the above, keyed by shift and vehicle, never by name",
            kept="kept after raw data is deleted (figures only, no positions)",
        ),
        DataItem(
            what="per-shift positions derived from the above: stop points, the route driven simplified for the "
            "crew's map, where safety events happened, the streets and cells each shift passed",
            when="computed from the above, keyed by shift and vehicle, never by name",
            kept=f"{retention_days} days, then deleted with the raw data; per-street and per-cell weekly totals stay",
        ),
        DataItem(
            what="messages the system could not accept (dead letters): why, topic, vehicle, size, a hash, when "
            "received, and the message with every number (positions, times) removed",
            when="when a message is malformed, too large, from an unknown or foreign vehicle, or out of time",
            kept=f"{deadletter_days} days, then deleted",
        ),
        DataItem(
            what="whole messages, positions included, of a registered unit whose clock runs ahead (rejected for "
            "clock skew), so that an administrator can replay them once the clock is fixed; the replay stores only "
            "what was on duty, applies privacy zones, deletes the held copies and is recorded in the audit log",
            when="only when the unit's own clock is more than 5 minutes ahead; at most 20,000 messages per vehicle",
            kept=f"{skew_hold_hours} hours, then deleted (or at the replay)",
        ),
        DataItem(
            what="off-duty and private-mode positions",
            when="never stored, only counted per vehicle and day",
            kept="counts only",
        ),
        DataItem(what="who opened whose data, when and why", when="every individual access", kept="append-only, kept"),
        DataItem(
            what="hazards a crew member reports (category, place, optional note); the note and who reported stay "
            "with the reporter",
            when="when a crew member taps report",
            kept="kept while the hazard is on the city's list",
        ),
        DataItem(
            what="the cause a crew gives for a street their shift missed (blocked by works, parked cars, no access, "
            "bins not out, other); supervisors see per street how many shifts missed it for which cause, never who "
            "gave it; each change is in the audit log",
            when="when a crew member saves a cause on their shift view",
            kept="kept with the shift",
        ),
    ]


async def health(conn: asyncpg.Connection) -> DatabaseHealth:
    if not await conn.fetchval(MIGRATED):
        return DatabaseHealth(reachable=True, storage_mode=None, schema_version=None)
    return DatabaseHealth(
        reachable=True,
        storage_mode=await conn.fetchval(STORAGE_MODE),
        schema_version=await conn.fetchval(SCHEMA_VERSION),
    )


async def transparency(conn: asyncpg.Connection) -> TransparencyOut:
    settings = await privacy_settings(conn)
    drops = await conn.fetch(DROPS)
    return TransparencyOut(
        retention_days=settings["retention_days"],
        deadletter_days=settings["deadletter_days"],
        skew_hold_hours=settings["skew_hold_hours"],
        k_min_shifts=settings["k_min_shifts"],
        k_min_people=settings["k_min_people"],
        zone_policy=settings["zone_policy"],
        privacy_zones=await conn.fetchval(ZONES),
        settings_updated_at=settings["updated_at"].isoformat(),
        collected=collected(
            settings["retention_days"],
            settings["zone_policy"],
            settings["deadletter_days"],
            settings["skew_hold_hours"],
        ),
        access=[AccessRule(capability=c.value, roles=sorted(RULES[c]), meaning=MEANINGS[c]) for c in Capability],
        not_stored_last_30_days=[DropCount(**dict(r)) for r in drops],
        individual_accesses_last_30_days=await conn.fetchval(INDIVIDUAL_ACCESSES),
        latest_open_data=_release(await latest(conn)),
    )


def _release(row: dict | None) -> OpenDataRelease | None:
    if row is None:
        return None
    return OpenDataRelease(
        period_start=row["period_start"].isoformat(),
        period_end=row["period_end"].isoformat(),
        k_min_shifts=row["k_min_shifts"],
        k_min_people=row["k_min_people"],
        created_at=row["created_at"].isoformat(timespec="seconds"),
        datapackage="/open-data/latest/datapackage.json",
    )
