"""The CPU of a rollup batch: the analytics of its shifts and the rows each table gets.

Run in a thread beside the rollup connection's reads and writes (fleetpilot.rollup.job), and
imported by that thread too: numpy's, shapely's and scipy's analytics take about a second to
import, which the first batch's read on the server hides (docs/benchmarks/rollup.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import orjson

from fleetpilot.analytics.pipeline import Analysis, City, analyse, cell_events, event_segments, segment_events
from fleetpilot.analytics.simplify import SimplifyParams, simplified_tracks
from fleetpilot.db.copyin import CopyRows, dates, fixed, text
from fleetpilot.event_kinds import CELL_EXPOSURE, SEGMENT_EXPOSURE
from fleetpilot.localtime import local_day
from fleetpilot.rollup.whatif.prepare import PreparedLegs, prepare_batch

if TYPE_CHECKING:
    from fleetpilot.rollup.job import Batch, LegContext, Stages

CELL_KINDS = CELL_EXPOSURE
SIMPLIFY = SimplifyParams()  # the crew's map of a shift (shift_tracks)
CELL_KEY = ("cell_id", "day", "shift_id")
CELL_COLUMNS = (*CELL_KEY, "passes", *CELL_EXPOSURE)
SEGMENT_KEY = ("segment_id", "day", "shift_id")
SEGMENT_COLUMNS = (*SEGMENT_KEY, "passes", *SEGMENT_EXPOSURE, "mean_speed_mps")
METRIC_COLUMNS = (
    "fixes",
    "distance_m",
    "on_route_m",
    "deadhead_m",
    "collection_s",
    "deadhead_s",
    "facility_s",
    "break_s",
    "idle_s",
    "stops",
    "dwell_mean_s",
    "turnaround_s",
    "coverage",
    "missed_segments",
    "no_data_segments",
)


@dataclass
class Rows:
    """What a batch writes (rows of each table, and the prepared what-if legs)."""

    metrics: list = field(default_factory=list)
    events: list = field(default_factory=list)
    cells: CopyRows = field(default_factory=CopyRows.empty)
    segments: CopyRows = field(default_factory=CopyRows.empty)
    tracks: list = field(default_factory=list)
    prepared: PreparedLegs | None = None


def compute_batch(
    batch: Batch,
    city: City,
    names: dict[str, str],
    planned: dict,
    tz: str,
    stages: Stages,
    legs: LegContext | None,
) -> Rows:
    """The CPU of a batch (run in a thread, beside the connection's reads and writes)."""
    shifts, fixes, device = batch.shifts, batch.fixes, batch.device
    rows = Rows()
    if legs is not None:
        assert batch.plans is not None
        with stages.timed("whatif_legs"):
            rows.prepared = prepare_batch(legs.city, batch.plans, shifts, fixes, device)
    if not len(fixes):
        return rows
    present = np.unique(fixes.vehicle)  # shifts with at least one fix, in track order
    shift_of_track = [shifts[int(i)] for i in present]
    windows = np.array([[ms(s["starts_at"]), ms(s["ends_at"])] for s in shift_of_track], dtype=np.int64)
    plans = [planned.get((s["route_id"], s["route_version"])) for s in shift_of_track]
    with stages.timed("analyse"):
        analysis = analyse(fixes, city, plans, windows=windows, device=device)
        lines = simplified_tracks(analysis.track, analysis.stops, SIMPLIFY)
    with stages.timed("rows"):
        days = [local_day(s["starts_at"], tz) for s in shift_of_track]
        rows.metrics = metric_rows(analysis, city, shift_of_track, days)
        rows.events = event_rows(analysis, city, names, shift_of_track)
        rows.cells = cell_rows(analysis, city, shift_of_track, days)
        rows.segments = segment_rows(analysis, city, shift_of_track, days)
        rows.tracks = track_rows(analysis, lines, shift_of_track)
    return rows


def metric_rows(analysis: Analysis, city: City, shifts, days) -> list[tuple]:
    rows = []
    for shift, day, record in zip(shifts, days, analysis.shift_metrics(city)):
        values = [
            None if isinstance(v, float) and not math.isfinite(v) else v for v in (record[c] for c in METRIC_COLUMNS)
        ]
        # metrics holds the crew record (breaks, facility visits and queues, longest stretch
        # without a break); stop_points the stops for the crew's map (docs/analytics.md).
        rows.append(
            (
                shift["shift_id"],
                shift["vehicle_id"],
                shift["route_id"],
                day,
                *values,
                json_text(record["metrics"]),
                json_text(record["stop_points"]),
            )
        )
    return rows


def track_rows(analysis: Analysis, lines: list[np.ndarray], shifts) -> list[tuple]:
    """shift_tracks rows: the simplified line as JSON text, stored and sent as it is."""
    fixes = (analysis.track.stops - analysis.track.starts).tolist()
    return [
        (shift["shift_id"], SIMPLIFY.tolerance_m, n, len(line), orjson.dumps(line.tolist()).decode())
        for shift, n, line in zip(shifts, fixes, lines)
    ]


def event_rows(analysis: Analysis, city: City, names: dict[str, str], shifts) -> list[tuple]:
    rows = []
    for e, segment in zip(analysis.events.records(), event_segments(analysis, city)):
        context = e["context"]
        if segment is not None:  # where the driver was: the street matched at the peak
            context = {**context, "segment_id": segment}
            if names.get(segment):
                context["street"] = names[segment]
        rows.append(
            (
                shifts[e["track"]]["shift_id"],
                datetime.fromtimestamp(e["t_ms"] / 1000, timezone.utc),
                e["kind"],
                e["source"],
                e["lon"],
                e["lat"],
                e["magnitude"],
                e["speed_before"],
                e["speed_after"],
                json_text(context),
            )
        )
    return rows


def merge_counts(
    track: np.ndarray, key: np.ndarray, extra: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows keyed (track, key): the base rows first, in their order, then keys only ``extra``
    has, in the order first seen (kind by kind). Returns (track, key, position in the base rows
    or -1, counts per extra kind)."""
    pairs = [np.column_stack([track, key]).astype(np.int64)]
    pairs += [np.column_stack([t, k]).astype(np.int64).reshape(-1, 2) for t, k, _ in extra]
    every = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    unique, first, inverse = np.unique(every, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(first, kind="stable")  # first occurrence: the dict's insertion order
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    base = np.full(len(unique), -1, dtype=np.int64)
    base[rank[inverse[: len(track)]]] = np.arange(len(track))
    counts = np.zeros((len(unique), len(extra)), dtype=np.int64)
    at = len(track)
    for k, (_, _, n) in enumerate(extra):
        np.add.at(counts[:, k], rank[inverse[at : at + len(n)]], np.asarray(n, dtype=np.int64))
        at += len(n)
    rows = unique[order]
    return rows[:, 0], rows[:, 1], base, counts


def cell_rows(analysis: Analysis, city: City, shifts, days) -> CopyRows:
    """cell_exposure rows: passes per (shift, cell) and its events of each CELL_KINDS kind.
    (An event's cell always has a pass of its own track: the event sits on a fix.)"""
    track, cell, passes = analysis.cell_passes
    extra = [cell_events(analysis, city, [kind]) for kind in CELL_KINDS]
    tr, cells, base, counts = merge_counts(track, cell, extra)
    passes_of = np.where(base >= 0, np.asarray(passes, dtype=np.int64)[np.maximum(base, 0)], 0)
    fields = [
        fixed("int8", cells),
        dates(np.array(days, dtype="datetime64[D]")[tr]),
        text(tr, [s["shift_id"] for s in shifts]),
        fixed("int4", passes_of),
        *(fixed("int4", counts[:, k]) for k in range(len(CELL_KINDS))),
    ]
    return CopyRows.of(**dict(zip(CELL_COLUMNS, fields)))


def segment_rows(analysis: Analysis, city: City, shifts, days) -> CopyRows:
    """Passes, harsh brakes, speeding and mean speed per street segment and shift."""
    track, line, passes, mean_speed = analysis.segment_passes[:4]
    extra = [segment_events(analysis, [kind]) for kind in SEGMENT_EXPOSURE]
    tr, seg, base, counts = merge_counts(track, line, extra)
    has = base >= 0
    passes_of = np.where(has, np.asarray(passes, dtype=np.int64)[np.maximum(base, 0)], 0)
    speed = np.where(has, np.asarray(mean_speed, dtype=np.float64)[np.maximum(base, 0)], np.nan)
    streets, street_of_row = np.unique(seg, return_inverse=True)  # the batch's streets, not the city's
    fields = [
        text(street_of_row.reshape(-1), [str(s) for s in city.streets.ids[streets]]),
        dates(np.array(days, dtype="datetime64[D]")[tr]),
        text(tr, [s["shift_id"] for s in shifts]),
        fixed("int4", passes_of),
        *(fixed("int4", counts[:, k]) for k in range(len(SEGMENT_EXPOSURE))),
        fixed("float4", speed, null=~np.isfinite(speed)),
    ]
    return CopyRows.of(**dict(zip(SEGMENT_COLUMNS, fields)))


def json_text(value) -> str:
    """A jsonb value as JSON text: NaN and infinities become null (orjson's rule), numpy
    scalars and arrays their values, non-string keys strings (as json.dumps would)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)
