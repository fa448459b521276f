"""Fleet data without a broker: in memory (numpy columns) or written to Parquet / NDJSON.

    from fleetsim.offline import generate_fleet
    run = generate_fleet(n_vehicles=200, days=1, seed=1, start="2026-11-20T06:00:00Z")
    run.fixes["t"], run.events["kind"], run.truth["shifts"][0]["stops"], run.write("out/")

The data are exactly what the MQTT publisher sends for the same configuration (same
generator, same schedule): fixes are the distinct fixes the units published (a fix lost to a
full store-and-forward buffer is absent), before any server-side filtering.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import orjson

from fleetsim.config import SimConfig, no_noise
from fleetsim.messages import Encoder
from fleetsim.roster import parse_time
from fleetsim.scenario import Scenario, build_scenario
from fleetsim.schedule import EVENTS, HOSTILE, HOSTILE_KINDS, TELEMETRY, Schedule, build_schedule, counts
from fleetsim.shift import ShiftResult, simulate_shift
from fleetsim.truth import TruthBuilder, shift_truth
from fleetsim.wire import EVENT_KINDS

FIX_COLUMNS = ("vehicle", "t", "lon", "lat", "speed", "heading", "hdop", "priv")
EVENT_COLUMNS = ("vehicle", "t", "kind", "lon", "lat", "mag", "speed", "priv")


@dataclass
class VehicleDay:
    """One simulated vehicle-day with its message schedule and truth."""

    result: ShiftResult
    schedule: Schedule
    truth: dict

    def published_columns(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Fix and event columns restricted to what was published (not lost to a full buffer)."""
        s = self.schedule
        r = self.result
        fix_keep = np.zeros(len(r.fixes["t"]), dtype=bool)
        ok = s.send >= 0
        for a, b in zip(s.lo[(s.kind == TELEMETRY) & ok], s.hi[(s.kind == TELEMETRY) & ok]):
            fix_keep[a:b] = True
        ev_keep = np.zeros(len(r.events["t"]), dtype=bool)
        ev_keep[s.lo[(s.kind == EVENTS) & ok]] = True
        v = np.int32(r.shift.vehicle)
        fixes = {"vehicle": np.full(int(fix_keep.sum()), v, dtype=np.int32)}
        fixes.update({k: r.fixes[k][fix_keep] for k in FIX_COLUMNS[1:]})
        events = {"vehicle": np.full(int(ev_keep.sum()), v, dtype=np.int32)}
        events.update({k: r.events[k][ev_keep] for k in EVENT_COLUMNS[1:]})
        return fixes, events


def iter_vehicle_days(sc: Scenario, vehicles: range | None = None) -> Iterator[VehicleDay]:
    """Simulate vehicle by vehicle, day by day (the device's sequence counter runs across days)."""
    by_vehicle: dict[int, list] = {}
    for shift in sc.roster.shifts:
        by_vehicle.setdefault(shift.vehicle, []).append(shift)
    for v in vehicles if vehicles is not None else range(len(sc.roster.vehicle_ids)):
        next_seq = 1
        for shift in sorted(by_vehicle.get(v, []), key=lambda s: s.start_ms):
            result = simulate_shift(sc, shift)
            sched = build_schedule(result, sc.config, next_seq)
            next_seq = sched.next_seq
            yield VehicleDay(result, sched, shift_truth(result, sched, counts(result, sched)))


def other_vehicle(sc: Scenario, vehicle: int) -> str:
    """A vehicle id that is not `vehicle`'s (hostile messages claim it)."""
    ids = sc.roster.vehicle_ids
    return ids[(vehicle + 1) % len(ids)] if len(ids) > 1 else f"{ids[0]}-x"


@dataclass
class FleetRun:
    """A generated fleet: fix and event columns sorted by (vehicle, t), the four exported files."""

    scenario: Scenario
    fixes: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    truth: dict
    event_kinds: tuple[str, ...] = field(default=EVENT_KINDS)

    @property
    def config(self) -> SimConfig:
        return self.scenario.config

    @property
    def vehicle_ids(self) -> list[str]:
        return list(self.scenario.roster.vehicle_ids)

    @cached_property
    def city_geojson(self) -> dict:
        return self.scenario.city_geojson()

    @cached_property
    def routes_geojson(self) -> dict:
        return self.scenario.routes_geojson()

    @cached_property
    def roster(self) -> dict:
        return self.scenario.roster.to_json()

    def write(self, directory: str | Path, fmt: str = "parquet") -> Path:
        """Write fixes/events (Parquet columns, or NDJSON messages) and the four JSON files."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_documents(directory, self.city_geojson, self.routes_geojson, self.roster, self.truth)
        if fmt == "parquet":
            _write_parquet(directory, [(self.fixes, self.events)], self.vehicle_ids)
        elif fmt == "ndjson":
            _write_ndjson(directory, iter_vehicle_days(self.scenario), self.scenario)
        else:
            raise ValueError(f"fmt must be 'parquet' or 'ndjson', not {fmt!r}")
        return directory


def make_config(
    n_vehicles: int = 10,
    days: int = 1,
    seed: int = 1,
    hours: float = 10.0,
    rate_hz: float = 1.0,
    start: str | int | None = None,
    noise: bool = True,
    **overrides,
) -> SimConfig:
    """SimConfig from the keyword arguments of generate_fleet (`overrides` are SimConfig fields)."""
    start_ms = parse_time(start) if isinstance(start, str) else start
    cfg = SimConfig(seed=seed, n_vehicles=n_vehicles, days=days, hours=hours, rate_hz=rate_hz, start_ms=start_ms)
    cfg = replace(cfg, **overrides)
    return cfg if noise else no_noise(cfg)


def generate_fleet(
    n_vehicles: int = 10,
    days: int = 1,
    seed: int = 1,
    hours: float = 10.0,
    rate_hz: float = 1.0,
    start: str | int | None = None,
    noise: bool = True,
    config: SimConfig | None = None,
    **overrides,
) -> FleetRun:
    """Simulate a fleet in memory. `start` is ISO 8601 (…Z) or epoch ms; None = 06:00 local time
    yesterday in the config's `timezone` (default America/Chicago).

    `noise=False` gives a perfect receiver and link. Any other SimConfig field can be passed
    by name (e.g. `faults=Faults(leak=True)`), or a whole `config`."""
    cfg = config or make_config(n_vehicles, days, seed, hours, rate_hz, start, noise, **overrides)
    sc = build_scenario(cfg)
    truth = TruthBuilder(sc)
    fix_parts, ev_parts = [], []
    for vd in iter_vehicle_days(sc):
        f, e = vd.published_columns()
        fix_parts.append(f)
        ev_parts.append(e)
        truth.add(vd.truth)
    return FleetRun(sc, _concat(fix_parts, FIX_COLUMNS), _concat(ev_parts, EVENT_COLUMNS), truth.document())


def write_fleet(config: SimConfig, directory: str | Path, fmt: str = "parquet") -> dict:
    """Simulate and write a fleet vehicle by vehicle without holding it all in memory.

    Returns the truth document (also written as truth.json)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sc = build_scenario(config)
    truth = TruthBuilder(sc)

    def days_with_truth():
        for vd in iter_vehicle_days(sc):
            truth.add(vd.truth)
            yield vd

    if fmt == "parquet":

        def per_vehicle():
            current, parts = None, []
            for vd in days_with_truth():
                if current is not None and vd.result.shift.vehicle != current:
                    yield _merge_parts(parts)
                    parts = []
                current = vd.result.shift.vehicle
                parts.append(vd.published_columns())
            if parts:
                yield _merge_parts(parts)

        _write_parquet(directory, per_vehicle(), list(sc.roster.vehicle_ids))
    elif fmt == "ndjson":
        _write_ndjson(directory, days_with_truth(), sc)
    else:
        raise ValueError(f"fmt must be 'parquet' or 'ndjson', not {fmt!r}")
    document = truth.document()
    write_documents(directory, sc.city_geojson(), sc.routes_geojson(), sc.roster.to_json(), document)
    return document


def write_documents(directory: Path, city: dict, routes: dict, roster: dict, truth: dict | None) -> None:
    """city.geojson, routes.geojson, roster.json and (unless None) truth.json."""
    for name, doc in (
        ("city.geojson", city),
        ("routes.geojson", routes),
        ("roster.json", roster),
        ("truth.json", truth),
    ):
        if doc is not None:
            (directory / name).write_bytes(orjson.dumps(doc))


def _merge_parts(parts):
    return _concat([p[0] for p in parts], FIX_COLUMNS), _concat([p[1] for p in parts], EVENT_COLUMNS)


def _concat(parts: list[dict[str, np.ndarray]], columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not parts:
        return {c: np.zeros(0) for c in columns}
    return {c: np.concatenate([p[c] for p in parts]) for c in columns}


def _write_parquet(directory: Path, batches, vehicle_ids: list[str]) -> None:
    """fixes.parquet / events.parquet: vehicle_id and kind dictionary-encoded, t as timestamp[ms, UTC]."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pa.array(vehicle_ids, type=pa.string())
    kinds = pa.array(list(EVENT_KINDS), type=pa.string())

    def table(cols: dict[str, np.ndarray], kind_column: bool) -> pa.Table:
        data = {
            "vehicle_id": pa.DictionaryArray.from_arrays(pa.array(cols["vehicle"], pa.int32()), names),
            "t": pa.array(cols["t"].astype(np.int64), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        }
        for c, values in cols.items():
            if c in ("vehicle", "t"):
                continue
            if c == "kind" and kind_column:
                data["kind"] = pa.DictionaryArray.from_arrays(pa.array(values.astype(np.int32), pa.int32()), kinds)
            else:
                data[c] = pa.array(values)
        return pa.table(data)

    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for fixes, events in batches:
            for name, cols, kind_column in (("fixes", fixes, False), ("events", events, True)):
                tab = table(cols, kind_column)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(directory / f"{name}.parquet", tab.schema, compression="zstd")
                writers[name].write_table(tab, row_group_size=1_000_000)
    finally:
        for w in writers.values():
            w.close()


def _write_ndjson(directory: Path, vehicle_days: Iterator[VehicleDay], sc: Scenario) -> None:
    """messages.ndjson: one line per publish, {"send": ms, "topic": ..., "retain": bool, "payload": ...},
    vehicle by vehicle in publication order; duplicates appear twice, hostile payloads as strings."""
    with open(directory / "messages.ndjson", "wb") as out:
        for vd in vehicle_days:
            enc = Encoder(
                vd.result, vd.schedule, sc.config.city, other_vehicle(sc, vd.result.shift.vehicle), sc.config.seed
            )
            sched = vd.schedule
            for pub in enc.publications():
                raw = sched.kind[pub.row] == HOSTILE and HOSTILE_KINDS[sched.hostile_kind[pub.row]] == "bad_json"
                payload = pub.payload.decode("latin-1") if raw else orjson.Fragment(pub.payload)
                out.write(
                    orjson.dumps(
                        {
                            "send": pub.send_ms,
                            "topic": pub.topic,
                            "retain": pub.retain,
                            "by_broker": pub.by_broker,
                            "payload": payload,
                        }
                    )
                )
                out.write(b"\n")
