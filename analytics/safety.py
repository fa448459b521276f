"""Safety events: harsh braking, acceleration and cornering, speeding, reversing, and long
stretches without a break — each with the context a driver needs to understand it.

Derived events come from speed and heading derivatives over single 1 s steps: averaging
over several steps would lower the peak of a 2 s harsh brake below the threshold, while the
reported Doppler speed (σ≈0.1 m/s) is clean enough that a one-step difference has
σ≈0.15 m/s², twenty times below the thresholds. A step longer than the dropout limit has no
derivative, so no event is ever made up across missing data. Device-reported events of the
same kind within ``merge_s`` of a derived one are the same event (source "both").
Definitions and thresholds: docs/analytics.md, "Safety".
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from fleetpilot.event_kinds import HARSH, HARSH_ACCEL, HARSH_BRAKE, HARSH_CORNER, LONG_STRETCH, REVERSING, SPEEDING

from .columns import DeviceEvents, ramp, runs, runs_split
from .geo import wrap_degrees
from .segmentation import Track

HARSH_KINDS = HARSH


@dataclass(frozen=True)
class SafetyParams:
    """harsh_brake_mps2 / harsh_accel_mps2: longitudinal deceleration / acceleration (m/s²)
    at or above which a step is harsh · harsh_corner_mps2: lateral acceleration v·dψ/dt
    (m/s²) · corner_min_speed_mps: below this speed (m/s) heading is too noisy and turning
    too slow to be harsh · glitch_mps: a one-step speed jump undone by the next step to
    within this (m/s) is a reading glitch · merge_s: device and derived events of one kind this close (s)
    are one event · context_s: speed before/after a device event is read this far (s)
    from it · speeding_tolerance_mps: speed above the limit (m/s) before it counts
    (5 km/h, speedometer and GPS tolerance) · speeding_min_s: shortest speeding episode (s)
    · rest_min_s: the shortest rest that resets a stretch (s) · max_stretch_s: a stretch of
    work this long (s) without such a rest is reported, as care for the crew."""

    harsh_brake_mps2: float = 3.0
    harsh_accel_mps2: float = 2.5
    harsh_corner_mps2: float = 3.0
    corner_min_speed_mps: float = 3.0
    glitch_mps: float = 1.0
    merge_s: float = 4.0
    context_s: float = 3.0
    speeding_tolerance_mps: float = 5.0 / 3.6
    speeding_min_s: float = 10.0
    rest_min_s: float = 15 * 60.0
    max_stretch_s: float = 4.5 * 3600.0


@dataclass(frozen=True)
class SafetyEvents:
    """One row per event, sorted by (track, t).

    track: index into ``Track.starts`` · t: int64 epoch ms of the start · kind: event kind ·
    source: 'derived', 'device' or 'both' · lon, lat: degrees where it peaked · magnitude:
    m/s² for harsh events (peak), m/s above the limit for speeding (peak), seconds for
    ``long_stretch`` and ``reversing`` (the unit's value) · speed_before, speed_after: m/s
    just before and after · duration_s: s · limit_mps: the speed limit for speeding, else NaN ·
    row: the fix row nearest the peak (for grid cells and street segments).
    """

    track: np.ndarray
    t: np.ndarray
    kind: np.ndarray
    source: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    magnitude: np.ndarray
    speed_before: np.ndarray
    speed_after: np.ndarray
    duration_s: np.ndarray
    limit_mps: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def select(self, mask: np.ndarray) -> SafetyEvents:
        return SafetyEvents(*(getattr(self, f.name)[mask] for f in fields(self)))

    def of_kind(self, kind: str) -> SafetyEvents:
        return self.select(self.kind == kind)

    def records(self) -> list[dict]:
        """Plain rows for the rollup job (shift_events): one dict per event."""
        out = []
        for i in range(len(self)):
            context = {"duration_s": round(float(self.duration_s[i]), 1)}
            if np.isfinite(self.limit_mps[i]):
                context["limit_mps"] = round(float(self.limit_mps[i]), 2)
            out.append(
                {
                    "track": int(self.track[i]),
                    "t_ms": int(self.t[i]),
                    "kind": str(self.kind[i]),
                    "source": str(self.source[i]),
                    "lon": float(self.lon[i]),
                    "lat": float(self.lat[i]),
                    "magnitude": _finite(self.magnitude[i]),
                    "speed_before": _finite(self.speed_before[i]),
                    "speed_after": _finite(self.speed_after[i]),
                    "context": context,
                }
            )
        return out


def harsh_longitudinal(track: Track, params: SafetyParams = SafetyParams()) -> SafetyEvents:
    """Harsh braking and acceleration from one-step differences of the reported speed.

    An event is a run of consecutive steps at or beyond the threshold. A single-fix glitch
    in the reported speed (a one-step jump that the neighbouring step undoes, back to
    within ``glitch_mps`` of where it was) is not an event: a truck cannot brake hard for
    one second and regain its speed the next.
    """
    valid = trusted_steps(track)
    with np.errstate(divide="ignore", invalid="ignore"):  # dt of unlinked steps may be ≤ 0
        accel = np.where(valid, np.diff(track.speed) / track.dt, np.float32(0.0))
    parts = []
    for kind, sign, threshold in (
        (HARSH_BRAKE, -1.0, params.harsh_brake_mps2),
        (HARSH_ACCEL, 1.0, params.harsh_accel_mps2),
    ):
        first, stop = runs(valid & (sign * accel >= threshold))
        glitch = _undone_jumps(track.speed, valid, first, stop, params.glitch_mps)
        parts.append(_step_events(track, kind, first[~glitch], stop[~glitch], sign * accel))
    return concat(parts)


def trusted_steps(track: Track) -> np.ndarray:
    """Steps whose speed difference is a measurement: linked, no gap or time jump, and both
    speeds reported by the unit. A speed derived from positions is smoothed over ±5 s and
    carries metres of noise per second: its differences are not decelerations, so no harsh
    event, nor speeding, is ever made from it (docs/analytics.md, "Missing speed")."""
    return track.linked & ~track.gap & ~track.derived[:-1] & ~track.derived[1:]


def _undone_jumps(
    v: np.ndarray, valid: np.ndarray, first: np.ndarray, stop: np.ndarray, tolerance: float
) -> np.ndarray:
    """Per run of steps [first, stop): it is a single step whose speed change the next (or
    the previous) valid step undoes, bringing the speed back within ``tolerance`` m/s."""
    n_steps = len(valid)
    nxt = np.minimum(stop, n_steps - 1)  # the step after the run
    prv = np.maximum(first - 1, 0)  # the step before it
    undone_after = (stop < n_steps) & valid[nxt] & (np.abs(v[nxt + 1] - v[first]) < tolerance)
    undone_before = (first > 0) & valid[prv] & (np.abs(v[prv] - v[stop]) < tolerance)
    return (stop - first == 1) & (undone_after | undone_before)


def harsh_cornering(track: Track, params: SafetyParams = SafetyParams()) -> SafetyEvents:
    """Harsh cornering: lateral acceleration v · dψ/dt over single steps, one event per run of
    same-direction steps at or above the threshold. Needs reported heading (course)."""
    v = track.speed
    fast = (v[:-1] >= params.corner_min_speed_mps) & (v[1:] >= params.corner_min_speed_mps)
    valid = trusted_steps(track) & fast
    turn = np.radians(wrap_degrees(np.diff(track.fixes.heading)))
    with np.errstate(divide="ignore", invalid="ignore"):  # dt of unlinked steps may be ≤ 0
        lateral = np.where(valid, np.float32(0.5) * (v[:-1] + v[1:]) * turn / track.dt, np.float32(0.0))
    lateral = np.nan_to_num(lateral)  # unknown heading: no cornering event
    parts = []
    for sign in (1.0, -1.0):
        signed = sign * lateral
        first, stop = runs(valid & (signed >= params.harsh_corner_mps2))
        parts.append(_step_events(track, HARSH_CORNER, first, stop, signed))
    return concat(parts)


def speeding(track: Track, limit_mps: np.ndarray, params: SafetyParams = SafetyParams()) -> SafetyEvents:
    """Episodes above the segment or zone limit (``limit_mps`` per fix, NaN = unknown) by more
    than the tolerance, lasting at least ``speeding_min_s``, never bridged across a gap."""
    over = track.speed > limit_mps + params.speeding_tolerance_mps
    step_over = over[:-1] & over[1:] & trusted_steps(track)
    first, stop = runs(step_over)
    t = track.fixes.t
    long_enough = (t[stop] - t[first]) * 1e-3 >= params.speeding_min_s
    first, stop = first[long_enough], stop[long_enough]
    excess = track.speed - limit_mps
    if len(first) == 0:
        return empty()
    size = stop - first + 1
    offsets = np.cumsum(size) - size
    member = np.repeat(first, size) + ramp(size)
    peak_value = np.maximum.reduceat(excess[member], offsets)
    is_peak = excess[member] == np.repeat(peak_value, size)
    # First row reaching the peak in each episode.
    peak_row = member[offsets + _first_true(is_peak, offsets, size)]
    return _make(track, SPEEDING, first, stop, peak_row, peak_value, limit_mps[peak_row])


def work_stretches(
    track: Track, resting: np.ndarray, params: SafetyParams = SafetyParams()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stretches of work between rests: (first row, last row, duration s), in row order.

    resting: per fix, the crew is on a rest (see activity.rest_mask). A rest shorter than
    ``rest_min_s`` does not end a stretch, except at the start or end of the track: time
    at the depot before the first departure or after the return is not a stretch of work,
    however short. Duration: first to last working fix.
    """
    t = track.fixes.t
    cut = np.zeros(len(t), dtype=bool)
    cut[track.starts] = True
    first, stop = runs_split(resting, cut)
    at_edge = cut[first] | np.isin(stop, track.stops)
    long_rest = ((t[stop - 1] - t[first]) * 1e-3 >= params.rest_min_s) | at_edge
    # Fixes inside a long rest, marked by +1/-1 at its ends and a running sum.
    edge = np.zeros(len(t) + 1, dtype=np.int64)
    np.add.at(edge, first[long_rest], 1)
    np.add.at(edge, stop[long_rest], -1)
    working = np.cumsum(edge[:-1]) == 0
    first, stop = runs_split(working, cut)
    return first, stop - 1, (t[stop - 1] - t[first]) * 1e-3


def long_stretches(track: Track, resting: np.ndarray, params: SafetyParams = SafetyParams()) -> SafetyEvents:
    """Stretches of work (see :func:`work_stretches`) of at least ``max_stretch_s`` without
    a rest of ``rest_min_s``. magnitude and duration_s: the stretch's length (s)."""
    first, last, duration = work_stretches(track, resting, params)
    keep = duration >= params.max_stretch_s
    first, last, duration = first[keep], last[keep], duration[keep]
    if len(first) == 0:
        return empty()
    n = len(first)
    t = track.fixes.t
    lon, lat = track.fixes.lon[last], track.fixes.lat[last]
    return SafetyEvents(
        _track_of(track, first),
        t[first],
        np.full(n, LONG_STRETCH),
        np.full(n, "derived"),
        lon,
        lat,
        duration,
        track.speed[first],
        track.speed[last],
        duration,
        np.full(n, np.nan),
        last,
    )


def longest_stretch_s(track: Track, resting: np.ndarray, params: SafetyParams = SafetyParams()) -> np.ndarray:
    """Per track, the longest stretch of work without a rest of ``rest_min_s`` (s; 0 when
    the track has no working fix). Recorded for every shift, not only past the threshold,
    so the crew can show how long they went without a break."""
    first, _, duration = work_stretches(track, resting, params)
    longest = np.zeros(len(track.starts))
    np.maximum.at(longest, _track_of(track, first), duration)
    return longest


def device_events(
    track: Track,
    device: DeviceEvents,
    kinds: tuple[str, ...] = HARSH_KINDS + (REVERSING,),
    params: SafetyParams = SafetyParams(),
) -> SafetyEvents:
    """The unit's own events of ``kinds`` with context read from the fixes around them.

    Events of vehicles without fixes in ``track`` are dropped (there is no context for them).
    Position is the unit's when given, else the nearest fix's.
    """
    ev = device.select(np.isin(device.kind, kinds))
    vehicles = track.fixes.vehicle[track.starts]
    tr = np.searchsorted(vehicles, ev.vehicle)
    known = (tr < len(vehicles)) & (vehicles[np.minimum(tr, len(vehicles) - 1)] == ev.vehicle)
    ev, tr = ev.select(known), tr[known]
    if len(ev) == 0:
        return empty()
    ctx = int(params.context_s * 1000)
    row = _row_at(track, tr, ev.t)
    before = _row_at(track, tr, ev.t - ctx)
    after = _row_at(track, tr, ev.t + ctx)
    lon = np.where(np.isfinite(ev.lon), ev.lon, track.fixes.lon[row])
    lat = np.where(np.isfinite(ev.lat), ev.lat, track.fixes.lat[row])
    duration = np.where(ev.kind == REVERSING, ev.mag, np.nan)
    return SafetyEvents(
        tr,
        ev.t,
        ev.kind,
        np.full(len(ev), "device"),
        lon,
        lat,
        ev.mag.astype(np.float64),
        track.speed[before],
        track.speed[after],
        duration,
        np.full(len(ev), np.nan),
        row,
    )


def merge(derived: SafetyEvents, device: SafetyEvents, params: SafetyParams = SafetyParams()) -> SafetyEvents:
    """One row per real event: a device event within ``merge_s`` of a derived event of the
    same kind and track is that event (source 'both', derived context, device magnitude when
    the derived one is weaker); each device event merges with at most one derived event."""
    if len(derived) == 0 or len(device) == 0:
        return concat([derived, device])
    kinds = np.unique(np.concatenate([derived.kind, device.kind]))
    dk = np.searchsorted(kinds, derived.kind)
    vk = np.searchsorted(kinds, device.kind)
    # One sortable key per (track, kind, t): tracks and kinds are small, times fit in 42 bits.
    t0 = min(derived.t.min(), device.t.min())
    span = np.int64(1) << 42
    dkey = (derived.track.astype(np.int64) * len(kinds) + dk) * span + (derived.t - t0)
    vkey = (device.track.astype(np.int64) * len(kinds) + vk) * span + (device.t - t0)
    order = np.argsort(vkey)
    vsorted = vkey[order]
    pos = np.searchsorted(vsorted, dkey)
    window = int(params.merge_s * 1000)
    best = np.full(len(dkey), -1)
    best_gap = np.full(len(dkey), window + 1, dtype=np.int64)
    for cand in (pos - 1, pos):
        ok = (cand >= 0) & (cand < len(vsorted))
        c = np.clip(cand, 0, len(vsorted) - 1)
        gap = np.abs(vsorted[c] - dkey)
        better = ok & (gap <= window) & (gap < best_gap)  # same group: a different group differs by ≥ 2^42
        best = np.where(better, order[c], best)
        best_gap = np.where(better, gap, best_gap)
    # Each device event pairs with its closest derived event only.
    paired = np.flatnonzero(best >= 0)
    by_gap = paired[np.argsort(best_gap[paired], kind="stable")]
    _, first_use = np.unique(best[by_gap], return_index=True)
    winners = by_gap[first_use]
    matched_device = np.zeros(len(device), dtype=bool)
    matched_device[best[winners]] = True
    source = derived.source.copy()
    source[winners] = "both"
    magnitude = derived.magnitude.copy()
    dev_mag = device.magnitude[best[winners]]
    magnitude[winners] = np.fmax(magnitude[winners], dev_mag)
    merged = SafetyEvents(
        derived.track,
        derived.t,
        derived.kind,
        source,
        derived.lon,
        derived.lat,
        magnitude,
        derived.speed_before,
        derived.speed_after,
        derived.duration_s,
        derived.limit_mps,
        derived.row,
    )
    return concat([merged, device.select(~matched_device)])


def concat(parts: list[SafetyEvents]) -> SafetyEvents:
    """Concatenate and sort by (track, t)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty()
    joined = SafetyEvents(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(SafetyEvents)))
    return joined.select(np.lexsort((joined.t, joined.track)))


def empty() -> SafetyEvents:
    i = np.zeros(0, dtype=np.int64)
    f = np.zeros(0)
    s = np.zeros(0, dtype="<U12")
    return SafetyEvents(i, i, s, s, f, f, f, f, f, f, f, i)


def _step_events(track: Track, kind: str, first: np.ndarray, stop: np.ndarray, signed: np.ndarray) -> SafetyEvents:
    """Events from runs of steps [first, stop): peak |value|, location at the peak step."""
    if len(first) == 0:
        return empty()
    size = stop - first
    offsets = np.cumsum(size) - size
    member = np.repeat(first, size) + ramp(size)
    peak_value = np.maximum.reduceat(signed[member], offsets)
    is_peak = signed[member] == np.repeat(peak_value, size)
    peak_step = member[offsets + _first_true(is_peak, offsets, size)]
    events = _make(track, kind, first, stop, peak_step, peak_value)
    # Place the event midway through the peak step (where the truck was while it happened).
    x = 0.5 * (track.x[peak_step] + track.x[peak_step + 1])
    y = 0.5 * (track.y[peak_step] + track.y[peak_step + 1])
    lon, lat = track.frame.to_lonlat(x, y)
    return SafetyEvents(
        events.track,
        events.t,
        np.full(len(first), kind),
        events.source,
        lon,
        lat,
        events.magnitude,
        events.speed_before,
        events.speed_after,
        events.duration_s,
        events.limit_mps,
        events.row,
    )


def _make(
    track: Track,
    kind: str,
    first: np.ndarray,
    last: np.ndarray,
    peak_row: np.ndarray,
    magnitude: np.ndarray,
    limit_mps: np.ndarray | None = None,
) -> SafetyEvents:
    """A derived event spanning fixes first..last (inclusive), located at ``peak_row``."""
    t = track.fixes.t
    n = len(first)
    limit = np.full(n, np.nan) if limit_mps is None else np.asarray(limit_mps, dtype=np.float64)
    return SafetyEvents(
        _track_of(track, first),
        t[first],
        np.full(n, kind),
        np.full(n, "derived"),
        track.fixes.lon[peak_row],
        track.fixes.lat[peak_row],
        magnitude.astype(np.float64),
        track.speed[first],
        track.speed[last],
        (t[last] - t[first]) * 1e-3,
        limit,
        peak_row,
    )


def _track_of(track: Track, rows: np.ndarray) -> np.ndarray:
    return np.searchsorted(track.starts, rows, side="right") - 1


def _row_at(track: Track, tr: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Per query, the row of track ``tr`` whose time is nearest ``when`` (epoch ms)."""
    t = track.fixes.t
    out = np.empty(len(when), dtype=np.int64)
    for k in np.unique(tr):  # one binary search per track that has events, not per fix
        sel = np.flatnonzero(tr == k)
        a, b = int(track.starts[k]), int(track.stops[k])
        pos = np.clip(np.searchsorted(t[a:b], when[sel]), 1, max(b - a - 1, 1))
        before = np.abs(t[a + pos - 1] - when[sel]) <= np.abs(t[a + np.minimum(pos, b - a - 1)] - when[sel])
        out[sel] = a + np.where(before, pos - 1, np.minimum(pos, b - a - 1))
    return out


def _first_true(flags: np.ndarray, offsets: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Per group (offsets, size), the position within the group of its first True."""
    pos = np.where(flags, np.arange(len(flags)) - np.repeat(offsets, size), np.iinfo(np.int64).max)
    return np.minimum.reduceat(pos, offsets)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
