"""Which vehicle each Traccar / OwnTracks device identity is bound to (devices.dialect,
devices.external_id), cached like the registry: reloaded every `refresh_s`, and on a miss at
most once per `miss_refresh_s`, so a flood of made-up ids costs at most one query a second.
An identity nobody bound stays unknown (dead-lettered); nothing is ever created here."""

from __future__ import annotations

import time

import asyncpg

BINDINGS = """
SELECT d.dialect, d.external_id, d.vehicle_id
FROM devices d JOIN vehicles v USING (vehicle_id)
WHERE v.city = $1 AND d.external_id IS NOT NULL AND d.dialect <> 'v1'
"""


class Bindings:
    def __init__(self, city: str, *, refresh_s: float = 30.0, miss_refresh_s: float = 1.0):
        self.city = city
        self.refresh_s = refresh_s
        self.miss_refresh_s = miss_refresh_s
        self._vehicles: dict[tuple[str, str], str] = {}
        self._loaded_at = float("-inf")

    async def load(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(BINDINGS, self.city)
        self._vehicles = {(r["dialect"], r["external_id"]): r["vehicle_id"] for r in rows}
        self._loaded_at = time.monotonic()

    async def vehicle(self, db, dialect: str, external_id: str) -> str | None:
        """The vehicle `external_id` of `dialect` is bound to, or None. `db` runs operations
        on a connection (`db.run(op)`: a DbLink, or the HTTP side's pool)."""
        age = time.monotonic() - self._loaded_at
        if age >= self.refresh_s:
            await db.run(self.load)
            age = 0.0
        vid = self._vehicles.get((dialect, external_id))
        if vid is None and age >= self.miss_refresh_s:
            await db.run(self.load)
            vid = self._vehicles.get((dialect, external_id))
        return vid
