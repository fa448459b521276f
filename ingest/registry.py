"""What the ingest must know about the fleet before it stores anything, cached in memory.

Registered vehicles of the city, each vehicle's on-duty windows (shifts), the privacy
zones, the zone policy and the retention window, read from PostgreSQL. The whole cache is
reloaded every `refresh_s`; a message that finds its vehicle unknown or its times outside
the cached windows reloads that one vehicle first (at most once per `miss_refresh_s`), so a
roster imported just before the trucks start is honoured at once and a leaking unit costs
at most one small query per second. Lookups are also capped overall (`max_lookups_per_s`),
so a flood of messages on made-up vehicle topics cannot turn into a flood of queries; past
the cap an unknown vehicle is rejected without asking the database.

Staleness is bounded by `refresh_s` (default 30 s) for changes that *shrink* what may be
stored (a shift shortened or deleted, a zone added); growing changes are seen on the
first miss.
"""

from __future__ import annotations

import time
from collections import defaultdict

import asyncpg

from fleetpilot.ingest.privacy import ShiftWindows, Zone, ZoneSet

DAY_MS = 86_400_000
VEHICLES = "SELECT vehicle_id FROM vehicles WHERE city = $1"
SHIFTS = """
SELECT s.vehicle_id, (extract(epoch FROM s.starts_at) * 1000)::bigint AS start_ms,
       (extract(epoch FROM s.ends_at) * 1000)::bigint AS end_ms
FROM shifts s JOIN vehicles v USING (vehicle_id)
WHERE v.city = $1 AND s.ends_at > now() - make_interval(days => $2 + 1)
"""
VEHICLE = "SELECT EXISTS (SELECT 1 FROM vehicles WHERE vehicle_id = $1 AND city = $2)"
VEHICLE_SHIFTS = """
SELECT (extract(epoch FROM starts_at) * 1000)::bigint AS start_ms, (extract(epoch FROM ends_at) * 1000)::bigint AS end_ms
FROM shifts WHERE vehicle_id = $1 AND ends_at > now() - make_interval(days => $2 + 1)
"""
ZONES = "SELECT lon, lat, radius_m FROM privacy_zones ORDER BY zone_id"
SETTINGS = "SELECT zone_policy, retention_days FROM privacy_settings"
DEFAULT_RETENTION_DAYS = 90


class Registry:
    def __init__(
        self, city: str, *, refresh_s: float = 30.0, miss_refresh_s: float = 1.0, max_lookups_per_s: float = 50.0
    ):
        self.city = city
        self.refresh_s = refresh_s
        self.miss_refresh_s = miss_refresh_s
        self.max_lookups_per_s = max_lookups_per_s
        self._lookup_tokens = max_lookups_per_s  # token bucket, refilled continuously
        self._tokens_at = time.monotonic()
        self.zones = ZoneSet()
        self.retention_days = DEFAULT_RETENTION_DAYS
        self._windows: dict[str, ShiftWindows] = {}  # registered vehicles only
        self._loaded_at = float("-inf")  # monotonic seconds
        self._vehicle_loaded_at: dict[str, float] = {}

    def windows(self, vid: str) -> ShiftWindows | None:
        """The vehicle's on-duty windows, or None when it is not registered (as far as known)."""
        return self._windows.get(vid)

    def oldest_ms(self, now_ms: int) -> int:
        """Start of the retention window: anything older is expired."""
        return now_ms - self.retention_days * DAY_MS

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self.refresh_s

    def may_look_up(self, vid: str) -> bool:
        """Whether a miss for `vid` may query the database now (per vehicle and overall limits)."""
        now = time.monotonic()
        last = max(self._vehicle_loaded_at.get(vid, float("-inf")), self._loaded_at)
        if now - last < self.miss_refresh_s:
            return False
        self._lookup_tokens = min(
            self.max_lookups_per_s, self._lookup_tokens + (now - self._tokens_at) * self.max_lookups_per_s
        )
        self._tokens_at = now
        if self._lookup_tokens < 1:
            return False
        self._lookup_tokens -= 1
        return True

    async def load(self, conn: asyncpg.Connection) -> None:
        """Reload everything (one transaction, so the pieces agree with each other)."""
        async with conn.transaction(readonly=True):
            settings = await conn.fetchrow(SETTINGS)
            retention = settings["retention_days"] if settings else DEFAULT_RETENTION_DAYS
            vehicles = [r["vehicle_id"] for r in await conn.fetch(VEHICLES, self.city)]
            windows: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for r in await conn.fetch(SHIFTS, self.city, retention):
                windows[r["vehicle_id"]].append((r["start_ms"], r["end_ms"]))
            zones = [Zone(r["lon"], r["lat"], r["radius_m"]) for r in await conn.fetch(ZONES)]
        self.retention_days = retention
        self.zones = ZoneSet(zones, settings["zone_policy"] if settings else "snap")
        self._windows = {vid: ShiftWindows(windows.get(vid, ())) for vid in vehicles}
        self._loaded_at = time.monotonic()
        self._vehicle_loaded_at.clear()

    async def load_vehicle(self, conn: asyncpg.Connection, vid: str) -> None:
        """Reload one vehicle: whether it is registered, and its shifts."""
        self._vehicle_loaded_at[vid] = time.monotonic()
        if not await conn.fetchval(VEHICLE, vid, self.city):
            self._windows.pop(vid, None)
            return
        rows = await conn.fetch(VEHICLE_SHIFTS, vid, self.retention_days)
        self._windows[vid] = ShiftWindows((r["start_ms"], r["end_ms"]) for r in rows)
