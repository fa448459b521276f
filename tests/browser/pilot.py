"""A pilot database for the browser tests, filled from a simulator run.

The city, route plans and roster go through the real importer; fixes and events are the
simulator's published columns as the ingest stores them (private-mode fixes dropped); the
per-shift rollups are written from the run's ground truth — the values a perfect rollup
job computes — so a number on a page can be traced back to what the trucks really did.
Then a supervisor opens one shift for a stated purpose through the real API, so the
driver's access log has something to show.

Sizes are kept small (6 trucks × two weeks at 0.1 Hz, ~300 k fixes) so the suite stays fast;
`fleetpilot.dashboards.measure` does the month of 50 trucks.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import asyncpg
import numpy as np
import shapely

from browser.harness import run_async
from fleetpilot.api.users import create_user
from fleetpilot.db.importer import import_city, import_roster, import_routes, init_codecs
from fleetpilot.db.maintenance import ensure_partitions, refresh_time_rollups

PASSWORD = "browser-test-password"
FIX_COLUMNS = ("vehicle_id", "ts", "lon", "lat", "speed_mps", "heading_deg", "hdop", "seq")
EVENT_COLUMNS = ("vehicle_id", "ts", "kind", "lon", "lat", "magnitude", "speed_mps", "seq")
# A fix within this many degrees (~25 m) of a street is on it; farther ones match no street.
MATCH_DEG = 2.5e-4


@dataclass
class Pilot:
    """What the tests need to know about the loaded pilot."""

    url: str
    start: date                      # first simulated day
    days: int
    users: dict[str, str]            # role (and "other_driver") -> username
    person: str                      # the signed-in driver's person id
    other_person: str                # a crew member the driver must never see
    own_shifts: list[str]            # the driver's shift ids, newest first
    other_shifts: list[str]          # shifts the driver did not crew
    live_vehicle: str                # on duty now
    opened_shift: str = ""           # the driver's shift a supervisor opened with a purpose
    purpose: str = ""
    base: str = ""                   # the API's address
    openapi_paths: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def sql(self, query: str, *args) -> list:
        """Rows from the pilot database (what the pages must show)."""

        async def fetch():
            conn = await asyncpg.connect(self.url)
            try:
                return await conn.fetch(query, *args)
            finally:
                await conn.close()

        return run_async(fetch())


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def _distance_m(lon: np.ndarray, lat: np.ndarray) -> float:
    """Haversine length of a polyline in metres (mean Earth radius 6371 km)."""
    if len(lon) < 2:
        return 0.0
    phi, lam = np.radians(lat), np.radians(lon)
    a = np.sin(np.diff(phi) / 2) ** 2 + np.cos(phi[:-1]) * np.cos(phi[1:]) * np.sin(np.diff(lam) / 2) ** 2
    return float((2 * 6_371_000 * np.arcsin(np.sqrt(a))).sum())


class Streets:
    """Nearest street segment of a point (for event context and exposure)."""

    def __init__(self, city: dict) -> None:
        streets = [f for f in city["features"] if f["properties"]["kind"] == "street"]
        self.ids = [f["properties"]["segment_id"] for f in streets]
        self.names = [f["properties"].get("name") for f in streets]
        self.tree = shapely.STRtree([shapely.geometry.shape(f["geometry"]) for f in streets])

    def nearest(self, lon: float, lat: float) -> int:
        return int(self.tree.nearest(shapely.Point(lon, lat)))

    def match(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index of the street each point is on (within MATCH_DEG), -1 where there is none."""
        found = np.full(len(lon), -1)
        points, streets = self.tree.query_nearest(shapely.points(lon, lat), max_distance=MATCH_DEG, all_matches=False)
        found[points] = streets
        return found


def _passes(street: np.ndarray) -> dict[int, int]:
    """Passes per street: runs of consecutive fixes matched to the same street (-1 = none)."""
    starts = np.flatnonzero(np.r_[True, street[1:] != street[:-1]])
    matched = street[starts]
    ids, counts = np.unique(matched[matched >= 0], return_counts=True)
    return dict(zip(ids.tolist(), counts.tolist()))


def _shift_rows(run, truth_shift: dict, fixes: dict[str, np.ndarray], service_segments: int, streets: Streets):
    """(shift_metrics row, shift_events rows, segment_exposure rows) of one shift."""
    sid = truth_shift["shift_id"]
    lon, lat, speed, t = fixes["lon"], fixes["lat"], fixes["speed"], fixes["t"]
    distance = _distance_m(lon, lat)
    stops = truth_shift["stops"]
    dwell = [(s["t_depart"] - s["t_arrive"]) / 1000 for s in stops]
    breaks_s = sum((b["t_end"] - b["t_start"]) / 1000 for b in truth_shift["breaks"])
    visits = truth_shift["facility_visits"]
    visit_s = [(v["t_depart"] - v["t_arrive"]) / 1000 for v in visits]
    collecting = (stops[-1]["t_depart"] - stops[0]["t_arrive"]) / 1000 if stops else 0.0
    away = (truth_shift["depot_return"] - truth_shift["depot_departure"]) / 1000
    # Stationary time away from the depot that is not a bin stop, a break or a facility visit.
    out = (t >= truth_shift["depot_departure"]) & (t < truth_shift["depot_return"])
    stationary_s = float((speed[out] <= 0.5).sum()) / run.config.rate_hz
    idle_s = max(0.0, stationary_s - sum(dwell) - breaks_s - sum(visit_s))
    skipped = truth_shift["skipped_segments"]
    details = {
        "longest_without_break_s": truth_shift["longest_without_break_s"],
        "breaks": [{"facility_id": b["facility_id"], "starts_at": _ms(b["t_start"]).isoformat(),
                    "ends_at": _ms(b["t_end"]).isoformat()} for b in truth_shift["breaks"]],
        "facility_visits": [{"facility_id": v["facility_id"], "facility_type": v["facility_type"],
                             "arrived_at": _ms(v["t_arrive"]).isoformat(), "departed_at": _ms(v["t_depart"]).isoformat(),
                             "queue_s": v["queue_s"]} for v in visits],
    }
    collecting_share = collecting / away if away > 0 else 0.0
    metric_row = (
        sid, truth_shift["vehicle_id"], truth_shift["route_id"], _ms(truth_shift["start"]).date(), len(lon), distance,
        distance * collecting_share, distance * (1 - collecting_share), collecting,
        max(0.0, away - collecting - sum(visit_s) - breaks_s), sum(visit_s), breaks_s, idle_s, len(stops),
        float(np.mean(dwell)) if dwell else None, float(np.mean(visit_s)) if visit_s else None,
        1 - len(skipped) / service_segments, skipped, details,
    )
    # Device-reported harsh events with their context; reversing is a normal part of
    # collection, not a safety moment, so it stays out of the shift's safety events.
    events = []
    harsh: dict[int, int] = defaultdict(int)
    for e in truth_shift["harsh_events"]:
        street = streets.nearest(e["lon"], e["lat"])
        after = max(0.0, e["speed"] - e["mag"] * e["duration_s"]) if e["kind"] == "harsh_brake" else None
        context = {"hotspot": e["at_dangerous_intersection"], "street": streets.names[street],
                   "segment_id": streets.ids[street]}
        events.append((sid, _ms(e["t"]), e["kind"], "device", e["lon"], e["lat"], e["mag"], e["speed"], after, context))
        if e["kind"] == "harsh_brake":
            harsh[street] += 1
    passes = _passes(streets.match(lon, lat))
    day = _ms(truth_shift["start"]).date()
    exposure = [(streets.ids[i], day, sid, max(passes.get(i, 0), 1), harsh.get(i, 0)) for i in set(passes) | set(harsh)]
    return metric_row, events, exposure


async def _copy_telemetry(conn: asyncpg.Connection, run, windows: dict[str, list[tuple[int, int]]]) -> None:
    """Fixes and events inside on-duty windows and not in private mode, as the ingest stores them."""
    f, e = run.fixes, run.events
    vehicle_ids = np.array(run.vehicle_ids)
    keep = ~f["priv"].astype(bool)
    fv = vehicle_ids[f["vehicle"]]
    on_duty = np.zeros(len(f["t"]), dtype=bool)
    for vid, spans in windows.items():
        rows = fv == vid
        for a, b in spans:
            on_duty |= rows & (f["t"] >= a) & (f["t"] < b)
    keep &= on_duty
    ts = f["t"][keep].astype("datetime64[ms]").astype(datetime)
    records = zip(fv[keep].tolist(), [t.replace(tzinfo=timezone.utc) for t in ts], f["lon"][keep].tolist(),
                  f["lat"][keep].tolist(), f["speed"][keep].tolist(), f["heading"][keep].tolist(),
                  f["hdop"][keep].tolist(), [None] * int(keep.sum()))
    await conn.copy_records_to_table("fixes", records=list(records), columns=FIX_COLUMNS)
    ekeep = ~e["priv"].astype(bool)
    kinds = np.array(run.event_kinds)[e["kind"][ekeep]]
    ets = e["t"][ekeep].astype("datetime64[ms]").astype(datetime)
    erecords = [(vid, t.replace(tzinfo=timezone.utc), kind, lon, lat, mag, spd, None) for vid, t, kind, lon, lat, mag, spd in
                zip(vehicle_ids[e["vehicle"][ekeep]].tolist(), ets, kinds.tolist(), e["lon"][ekeep].tolist(),
                    e["lat"][ekeep].tolist(), e["mag"][ekeep].tolist(), e["speed"][ekeep].tolist())]
    # Duplicate (vehicle, ts, kind) device events collapse as under the ingest's ON CONFLICT DO NOTHING.
    unique = list({(r[0], r[1], r[2]): r for r in erecords}.values())
    await conn.copy_records_to_table("events", records=unique, columns=EVENT_COLUMNS)


INSERT_METRICS = """
INSERT INTO shift_metrics (shift_id, vehicle_id, route_id, day, fixes, distance_m, on_route_m, deadhead_m, collection_s,
    deadhead_s, facility_s, break_s, idle_s, stops, dwell_mean_s, turnaround_s, coverage, missed_segments, metrics)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
"""
INSERT_EVENT = """
INSERT INTO shift_events (shift_id, ts, kind, source, lon, lat, magnitude, speed_before, speed_after, context)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING
"""
INSERT_EXPOSURE = """
INSERT INTO segment_exposure (segment_id, day, shift_id, passes, harsh_brake) VALUES ($1, $2, $3, $4, $5)
"""


async def load(conn: asyncpg.Connection, run, start: date, days: int) -> None:
    """Import the run's plans and roster, store its telemetry and write its shift rollups."""
    await init_codecs(conn)  # jsonb parameters as Python objects
    await import_city(conn, run.city_geojson)
    await import_routes(conn, run.routes_geojson, created_by="fleetsim")
    await import_roster(conn, run.roster)
    await ensure_partitions(conn, start - timedelta(days=1), start + timedelta(days=days + 1))
    windows: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for s in run.truth["shifts"]:
        windows[s["vehicle_id"]].append((s["start"], s["end"]))
    await _copy_telemetry(conn, run, windows)

    streets = Streets(run.city_geojson)
    service = {p["route_id"]: p["service_segments"] for p in run.truth["planned_routes"]}
    vehicle_index = {vid: i for i, vid in enumerate(run.vehicle_ids)}
    metric_rows, event_rows, exposure_rows = [], [], []
    for s in run.truth["shifts"]:
        v = vehicle_index[s["vehicle_id"]]
        rows = (run.fixes["vehicle"] == v) & (run.fixes["t"] >= s["start"]) & (run.fixes["t"] < s["end"])
        fixes = {k: run.fixes[k][rows] for k in ("t", "lon", "lat", "speed")}
        metric, events, exposure = _shift_rows(run, s, fixes, service[s["route_id"]], streets)
        metric_rows.append(metric)
        event_rows += events
        exposure_rows += exposure
    await conn.executemany(INSERT_METRICS, metric_rows)
    await conn.executemany(INSERT_EVENT, event_rows)
    await conn.executemany(INSERT_EXPOSURE, exposure_rows)
    first = datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc)
    await refresh_time_rollups(conn, first, first + timedelta(days=days + 1))


async def add_live_shift(conn: asyncpg.Connection, vehicle_id: str, route_id: str, crew: list[str],
                         now: datetime) -> str:
    """A shift on duty right now with a position half a minute old (for the live map)."""
    shift_id = f"{vehicle_id}-live"
    await conn.execute("INSERT INTO shifts (shift_id, vehicle_id, route_id, route_version, starts_at, ends_at) "
                       "VALUES ($1, $2, $3, 1, $4, $5)", shift_id, vehicle_id, route_id,
                       now - timedelta(hours=2), now + timedelta(hours=6))
    await conn.executemany("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, $2)",
                           [(shift_id, p) for p in crew])
    lon, lat = await conn.fetchrow("SELECT lon, lat FROM route_stops WHERE route_id = $1 ORDER BY seq LIMIT 1", route_id)
    await ensure_partitions(conn, now.date(), now.date())
    await conn.execute("INSERT INTO fixes (vehicle_id, ts, lon, lat, speed_mps, heading_deg, hdop) "
                       "VALUES ($1, $2, $3, $4, 4.2, 90, 0.9)", vehicle_id, now - timedelta(seconds=30), lon, lat)
    return shift_id


async def add_users(conn: asyncpg.Connection, person: str, other_person: str) -> dict[str, str]:
    users = {"driver": "driver-ana", "other_driver": "driver-ben", "supervisor": "supervisor-sam",
             "data_officer": "officer-dee", "admin": "admin-ada"}
    for role, name in users.items():
        person_id = {"driver": person, "other_driver": other_person}.get(role)
        await create_user(conn, name, PASSWORD, "driver" if person_id else role, person_id)
    return users
