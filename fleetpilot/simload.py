"""Loading a simulator run (``fleetsim.offline.FleetRun``) straight into the database.

For tests, benchmarks and the demo's history: the city, routes and roster go through the
importer, and fixes/events are COPYed as the ingest would store them — only inside the
vehicle's on-duty windows and never in private mode. (Privacy zones are not applied
here; the ingest's own tests cover them.) The live pipeline goes through MQTT instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import numpy as np

from fleetpilot.db.importer import import_city, import_roster, import_routes
from fleetpilot.db.maintenance import ensure_partitions

FIX_COLUMNS = ["vehicle_id", "ts", "lon", "lat", "speed_mps", "heading_deg", "hdop"]
EVENT_COLUMNS = ["vehicle_id", "ts", "kind", "lon", "lat", "magnitude", "speed_mps"]


async def load_run(conn: asyncpg.Connection, run, *, documents: bool = True) -> dict[str, int]:
    """Import the run's city, routes and roster, then its on-duty fixes and events.

    ``documents=False`` skips the three documents: a fleet loaded a few vehicles at a time
    shares one scenario, whose city, routes and whole roster the first part imported."""
    if documents:
        await import_city(conn, run.city_geojson)
        await import_routes(conn, run.routes_geojson, created_by="fleetsim")
        await import_roster(conn, run.roster)
    vehicle_ids = np.array(run.vehicle_ids)
    on_duty = _on_duty_mask(run.roster["shifts"], run.vehicle_ids)
    f, e = run.fixes, run.events
    keep = on_duty(f["vehicle"], f["t"]) & ~f["priv"].astype(bool)
    ekeep = on_duty(e["vehicle"], e["t"]) & ~e["priv"].astype(bool)
    if keep.any():
        first = _utc(int(f["t"][keep].min())).date()
        last = _utc(int(f["t"][keep].max())).date()
        await ensure_partitions(conn, first - timedelta(days=1), last + timedelta(days=1))
    fixes = zip(
        vehicle_ids[f["vehicle"][keep]].tolist(),
        _times(f["t"][keep]),
        f["lon"][keep].tolist(),
        f["lat"][keep].tolist(),
        _floats(f["speed"][keep]),
        _floats(f["heading"][keep]),
        _floats(f["hdop"][keep]),
    )
    await conn.copy_records_to_table("fixes", records=fixes, columns=FIX_COLUMNS)
    kinds = np.array(run.event_kinds)[e["kind"][ekeep]]
    events = zip(
        vehicle_ids[e["vehicle"][ekeep]].tolist(),
        _times(e["t"][ekeep]),
        kinds.tolist(),
        e["lon"][ekeep].tolist(),
        e["lat"][ekeep].tolist(),
        _floats(e["mag"][ekeep]),
        _floats(e["speed"][ekeep]),
    )
    # Units may report two events of one kind in the same millisecond; the key keeps one.
    unique = list({(r[0], r[1], r[2]): r for r in events}.values())
    await conn.copy_records_to_table("events", records=unique, columns=EVENT_COLUMNS)
    return {"fixes": int(keep.sum()), "events": len(unique), "shifts": len(run.roster["shifts"])}


def _on_duty_mask(shifts: list[dict], vehicle_ids: list[str]):
    """A vectorised test 'is (vehicle code, t ms) inside one of that vehicle's shifts'."""
    code = {vid: i for i, vid in enumerate(vehicle_ids)}
    spans = sorted((code[s["vehicle_id"]], _ms(s["start"]), _ms(s["end"])) for s in shifts if s["vehicle_id"] in code)
    keys = np.array([(v << 42) + a for v, a, _ in spans], dtype=np.int64)  # t < 2^42 ms (year 2109)
    ends = np.array([(v << 42) + b for v, _, b in spans], dtype=np.int64)

    def mask(vehicle: np.ndarray, t: np.ndarray) -> np.ndarray:
        key = (vehicle.astype(np.int64) << 42) + t
        i = np.searchsorted(keys, key, side="right") - 1
        return (i >= 0) & (key < ends[np.maximum(i, 0)])

    return mask


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _times(ms: np.ndarray) -> list[datetime]:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return [epoch + timedelta(milliseconds=v) for v in ms.tolist()]


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN -> NULL
