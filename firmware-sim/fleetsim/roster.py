"""Vehicles, devices, crew members and shifts (the on-duty windows).

Each truck drives its own route every day of the run. Crew members work five days in seven
(rotating days off) and are re-paired daily, so over a month every person has many shifts
with several trucks and routes. Pseudonyms (`p-3f9a1c`) and fake display names depend only
on the seed and the person's index, so they are stable across runs with the same seed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from fleetsim.names import FIRST_NAMES, LAST_NAMES
from fleetsim.plans import route_id

MS = 1000


@dataclass(frozen=True)
class Shift:
    """One vehicle-day: the on-duty window [start_ms, end_ms) in epoch milliseconds."""

    shift_id: str
    vehicle: int  # index into Roster.vehicle_ids
    vehicle_id: str
    route: int  # index of the route plan
    route_id: str
    day: int
    start_ms: int
    end_ms: int
    crew: tuple[str, ...]


@dataclass(frozen=True)
class Roster:
    city: str
    vehicle_ids: tuple[str, ...]
    device_ids: tuple[str, ...]
    people: tuple[tuple[str, str], ...]  # (person_id, display_name)
    shifts: tuple[Shift, ...]  # ordered by (day, vehicle)

    def to_json(self) -> dict:
        """roster.json as documented in docs/protocol.md."""
        return {
            "city": self.city,
            "vehicles": [{"vehicle_id": v, "device_id": d} for v, d in zip(self.vehicle_ids, self.device_ids)],
            "people": [{"person_id": p, "display_name": n} for p, n in self.people],
            "shifts": [
                {
                    "shift_id": s.shift_id,
                    "vehicle_id": s.vehicle_id,
                    "route_id": s.route_id,
                    "crew": list(s.crew),
                    "start": iso_ms(s.start_ms),
                    "end": iso_ms(s.end_ms),
                }
                for s in self.shifts
            ],
        }


def iso_ms(ms: int) -> str:
    """Epoch milliseconds → ISO 8601 UTC with a Z (seconds precision unless ms are set)."""
    dt = datetime.fromtimestamp(ms / MS, tz=timezone.utc)
    text = dt.isoformat(timespec="milliseconds" if ms % MS else "seconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str) -> int:
    """ISO 8601 (with Z or offset) → epoch milliseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; use e.g. 2026-11-20T06:00:00Z")
    return int(round(dt.timestamp() * MS))


def default_start(now: datetime | None = None, tz: str = "UTC") -> int:
    """06:00 local time of the previous local day in `tz` (collection starts in the local
    morning): accelerated runs then never stamp the future."""
    zone = ZoneInfo(tz)
    now = (now or datetime.now(timezone.utc)).astimezone(zone)
    yesterday = (now.replace(tzinfo=None) - timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    return int(yesterday.replace(tzinfo=zone).timestamp() * MS)


def same_wall_time(start_ms: int, days: int, tz: str) -> int:
    """The instant `days` local days after `start_ms` at the same wall-clock time in `tz`
    (23 or 25 hours later across a daylight-saving change, not 24)."""
    zone = ZoneInfo(tz)
    wall = datetime.fromtimestamp(start_ms / MS, tz=zone).replace(tzinfo=None) + timedelta(days=days)
    return int(round(wall.replace(tzinfo=zone).timestamp() * MS))


def _pseudonym(seed: int, index: int, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.blake2b(f"fleetsim:{seed}:person:{index}:{salt}".encode(), digest_size=3).hexdigest()
        if f"p-{digest}" not in taken:
            return f"p-{digest}"
        salt += 1


def _device_id(seed: int, city: str, vehicle_id: str) -> str:
    # The device id is the MQTT client id, so it includes the city: concurrent runs with
    # different city names never take over each other's broker sessions.
    return "dev-" + hashlib.blake2b(f"fleetsim:{seed}:{city}:{vehicle_id}".encode(), digest_size=5).hexdigest()


def build_roster(
    seed: int,
    city: str,
    n_vehicles: int,
    days: int,
    start_ms: int,
    hours: float,
    stagger_minutes: float,
    vehicle_prefix: str = "truck",
    tz: str = "UTC",
) -> Roster:
    """Shifts for `n_vehicles` trucks over `days` consecutive days starting at `start_ms`.

    Each shift lasts `hours`; its start is `start_ms` + day + a seeded stagger of 0 to
    `stagger_minutes` in 5-minute steps (dispatch releases trucks in waves). Days are local days
    of `tz`: each starts at `start_ms`'s wall-clock time, and shift ids carry the local date."""
    width = max(3, len(str(n_vehicles)))
    vehicle_ids = tuple(f"{vehicle_prefix}-{i + 1:0{width}d}" for i in range(n_vehicles))
    device_ids = tuple(_device_id(seed, city, v) for v in vehicle_ids)
    n_people = math.ceil(2.9 * n_vehicles) + 2
    taken: set[str] = set()
    people = []
    name_rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9E0]))
    combos = name_rng.permutation(len(FIRST_NAMES) * len(LAST_NAMES))
    for p in range(n_people):
        pid = _pseudonym(seed, p, taken)
        taken.add(pid)
        combo = int(combos[p % len(combos)])
        suffix = "" if p < len(combos) else f" {p // len(combos) + 1}"
        people.append((pid, f"{FIRST_NAMES[combo // len(LAST_NAMES)]} {LAST_NAMES[combo % len(LAST_NAMES)]}{suffix}"))
    steps = int(stagger_minutes // 5)
    shift_ms = int(round(hours * 3600 * MS))
    shifts = []
    for day in range(days):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5F1, day]))
        # Two days off in seven, rotating with the person's index.
        available = [p for p in range(n_people) if (day - 3 * p) % 7 not in (0, 1)]
        available = [available[i] for i in rng.permutation(len(available))]
        offsets = rng.integers(0, steps + 1, n_vehicles) * 5 * 60 * MS
        extra = rng.random(n_vehicles) < 0.1
        cursor = 2 * n_vehicles
        day0 = same_wall_time(start_ms, day, tz)
        for v in range(n_vehicles):
            crew = [people[available[2 * v]][0], people[available[2 * v + 1]][0]]
            if extra[v] and cursor < len(available):
                crew.append(people[available[cursor]][0])
                cursor += 1
            begin = day0 + int(offsets[v])
            stamp = datetime.fromtimestamp(begin / MS, tz=ZoneInfo(tz)).strftime("%Y%m%d")
            shifts.append(
                Shift(
                    f"{vehicle_ids[v]}-{stamp}",
                    v,
                    vehicle_ids[v],
                    v,
                    route_id(v),
                    day,
                    begin,
                    begin + shift_ms,
                    tuple(crew),
                )
            )
    return Roster(city, vehicle_ids, device_ids, tuple(people), tuple(shifts))
