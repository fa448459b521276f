"""Stop detection (stay points): the truck stays within R metres for at least T seconds.

Vectorised in three passes over the whole input: a stationary mask from speed, runs of it
joined across short blips and dropouts, and a split of any run that drifts more than R.
Definitions and thresholds: docs/analytics.md, "Stops".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .columns import ramp, runs, segment_reduce
from .segmentation import Track, trip_ids


@dataclass(frozen=True)
class StopParams:
    """stationary_mps: a fix at or below this speed (m/s) is stationary (bin stops are
    ≤ 0.5 m/s). min_dwell_s: T, the shortest stop (s); bin stops last 15–90 s, so 10 s
    keeps them with margin and ignores rolling pauses. radius_m: R, the furthest a stop may
    drift (m) — GPS noise σ≈3 m stays inside, the next bin a few tens of metres on does not.
    bridge_s: moving blips up to this long (s) inside a stop are noise in the reported speed
    if the truck moved less than ``bridge_m`` metres during them."""

    stationary_mps: float = 0.5
    min_dwell_s: float = 10.0
    radius_m: float = 20.0
    bridge_s: float = 3.0
    bridge_m: float = 3.0
    # A unit that never reports speed (decision 0040): a moving blip of at most bridge_fixes fitted fixes and
    # bridge_silent_s seconds whose ends lie within radius_m is filled too (a phone's 1–5 s steps make one
    # fix's blip 2–10 s long) · hidden_dwell: a piece shorter than min_dwell_s next to a dropout, with the
    # truck at rest beyond radius_m on the far side, counts the drive over at transit_mps into its dwell.
    bridge_fixes: int = 1
    bridge_silent_s: float = 10.0
    hidden_dwell: bool = True
    accuracy_radius: float = 3.0  # a stop may spread over this × the mean reported accuracy (m) when that exceeds R
    # Stretches with fitted speeds (no Doppler) are split where their positions shift
    # (``split_changes``): split_z: the shift between the mean positions before and after must
    # exceed this many standard errors · split_m: and this many metres (bins stand 30–60 m
    # apart; a stop's own noise at v1 accuracy moves its halves' means by a metre or two) ·
    # error_correlation_s: GPS error is correlated over 5–10 s, so a stretch of D seconds holds
    # about 1 + D / (2 × this) independent fixes · split_min_fixes: fixes on each side of a split.
    split_z: float = 4.0
    split_z_positions: float = 3.5  # split_z in tracks whose unit never reports speed (phones)
    split_m: float = 12.0
    error_correlation_s: float = 5.0
    split_min_fixes: int = 3
    # transit_mps: a truck drives between two bins at about this mean speed; in tracks whose unit
    # never reports speed the stop after a split starts half the drive's time after it (``_carve_transits``).
    transit_mps: float = 5.0
    # In tracks whose unit never reports speed, a piece shorter than turn_s that the truck leaves the way it came is a
    # turning manoeuvre (a three-point turn backs and fills at ~1 m/s within a few metres), not a
    # stop (``turnarounds``): turn_lag_s: the way in and out are read this long before and after
    # the piece · turn_cos: the cosine of the angle between them is below this (−0.8: 143°) ·
    # turn_leg_m: both legs are at least this long (beyond the fitted positions' noise).
    turn_s: float = 40.0
    turn_lag_s: float = 12.0
    turn_cos: float = -0.8
    turn_leg_m: float = 10.0
    # through_mps: a piece shorter than turn_s is driven through, not a stop, when the truck covered
    # more than this on average from turn_lag_s before it to turn_lag_s after it.
    through_mps: float = 4.5
    # In the same tracks, consecutive pieces at most merge_s apart whose mean positions are
    # within merge_m of each other are one stop (``merge_fragments``).
    merge_s: float = 10.0
    merge_m: float = 20.0
    merge_short_s: float = 25.0
    # In the same tracks, a stop may begin with the truck backing up to the bin (``backing_up``, decision 0041):
    # backing_z: the positions along the way in before a settle time backing_min_s–backing_max_s after the first
    # fix lie behind those after it by more than this many standard errors (0: off) · backing_in_s: the way in is
    # the mean position over this long before the stop · the stop then starts backing_margin_s before the settle,
    # at most backing_cap_s after its first fix (within the 15 s arrival tolerance of both readings).
    backing_z: float = 2.0
    backing_in_s: float = 15.0
    backing_min_s: float = 8.0
    backing_max_s: float = 36.0
    backing_margin_s: float = 8.0
    backing_cap_s: float = 10.0


@dataclass(frozen=True)
class Stops:
    """Detected stops, one row each, in input order.

    track: index into ``Track.starts`` · first, last: rows of the first and last stationary
    fix · t_start, t_end: int64 epoch ms (t_start after the first fix where the truck backed up
    to the bin first: ``backing_up``) · dwell_s: t_end - t_start in s · x, y: mean
    position in the track's frame (m) · lon, lat: the same in degrees · radius_m: largest
    distance of a fix of the stop from its centre (bounded by its box's corner) ·
    hidden: the arrival or departure fell in a dropout and was estimated.
    """

    track: np.ndarray
    first: np.ndarray
    last: np.ndarray
    t_start: np.ndarray
    t_end: np.ndarray
    dwell_s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    radius_m: np.ndarray
    hidden: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def select(self, mask: np.ndarray) -> Stops:
        return Stops(*(getattr(self, name)[mask] for name in self.__dataclass_fields__))


def stationary_mask(track: Track, params: StopParams = StopParams()) -> np.ndarray:
    """Per fix: stationary, with short moving blips inside a stationary stretch filled in.

    A blip is filled when it is at most ``bridge_s`` long, bounded by stationary fixes of
    the same trip on both sides, and the truck moved less than ``bridge_m`` across it.
    """
    still = track.speed <= params.stationary_mps
    start, stop = runs(~still)
    n = len(still)
    inner = (start > 0) & (stop < n)
    start, stop = start[inner], stop[inner]
    if len(start) == 0:
        return still
    t = track.fixes.t
    duration = (t[stop] - t[start - 1]) * 1e-3
    cum_break = np.concatenate(([0], np.cumsum(track.trip_break)))
    cum_m = np.concatenate(([0.0], np.cumsum(track.travelled_m, dtype=np.float64)))
    same_trip = cum_break[stop] == cum_break[start - 1]
    moved = cum_m[stop] - cum_m[start - 1]
    fill = (duration <= params.bridge_s + 1e-9) & same_trip & (moved < params.bridge_m)
    if params.bridge_fixes:
        # A phone's fitted speed clears its motion test by noise now and then; the split of the stretch
        # (split_changes) still cuts it wherever the positions show a move.
        silent = ~_reports_speed(track)[np.searchsorted(track.starts, start, side="right") - 1]
        ends_m = np.hypot(track.x[stop] - track.x[start - 1], track.y[stop] - track.y[start - 1])
        fill |= (
            silent
            & same_trip
            & (stop - start <= params.bridge_fixes)
            & (duration <= params.bridge_silent_s + 1e-9)
            & (ends_m < params.radius_m)
        )
    still = still.copy()
    lengths = stop[fill] - start[fill]
    if len(lengths):
        idx = np.repeat(start[fill], lengths) + ramp(lengths)
        still[idx] = True
    return still


def detect_stops(track: Track, params: StopParams = StopParams()) -> Stops:
    """Find stops in every track of ``track`` at once.

    Stationary fixes are chained by steps that stay in the same trip; across a dropout the
    chain holds only if the truck is within ``radius_m`` of where it was (it did not leave
    and come back). A chain that wanders farther than ``radius_m`` is cut into pieces that
    stay within it. Pieces shorter than ``min_dwell_s`` are not stops. When the truck arrived
    or left during a dropout, the hidden moment is estimated from the distance to the stop
    and the speed on the other side of the gap.
    """
    still = stationary_mask(track, params)
    chain = still[:-1] & still[1:] & ~track.trip_break
    far = np.flatnonzero(chain & track.gap & (track.step_m > params.radius_m))
    if len(far):  # across a dropout beyond R: within the fixes' accuracy (× accuracy_radius) still holds
        acc = track.accuracy_m
        chain[far] = track.step_m[far] <= params.accuracy_radius * np.fmax(acc[far], acc[far + 1])  # NaN: no
    # A run of True in `chain` over steps i..j-1 is a stationary stretch of fixes i..j.
    first, last = runs(chain)
    if len(first) == 0:
        return _empty()
    first, last = split_changes(track, first, last, params)
    first, last = _cut_drifting(track, first, last, params.radius_m, params.accuracy_radius)
    t = track.fixes.t
    dwell = (t[last] - t[first]) * 1e-3
    dwell, hidden_arrival = _hidden_dwell(track, first, last, dwell, params)
    keep = dwell >= params.min_dwell_s
    keep[keep] = ~turnarounds(track, first[keep], last[keep], params)
    assumed_first = first[keep & hidden_arrival]
    first, last = merge_fragments(track, first[keep], last[keep], params)
    if len(first) == 0:
        return _empty()
    hidden_arrival = np.isin(first, assumed_first)
    delay = backing_up(track, first, last, params, hidden_arrival)
    size = (last - first + 1).astype(np.float64)
    cx = (segment_reduce(np.add, track.x, first, last, np.float64) / size).astype(np.float32)
    cy = (segment_reduce(np.add, track.y, first, last, np.float64) / size).astype(np.float32)
    # Radius bound: the farthest corner of the stop's bounding box from its centre.
    rx = np.maximum(
        segment_reduce(np.maximum, track.x, first, last) - cx, cx - segment_reduce(np.minimum, track.x, first, last)
    )
    ry = np.maximum(
        segment_reduce(np.maximum, track.y, first, last) - cy, cy - segment_reduce(np.minimum, track.y, first, last)
    )
    t_start, t_end, hidden = _dropout_edges(track, first, last, cx, cy, params, hidden_arrival)
    t_start += delay
    lon, lat = track.frame.to_lonlat(cx, cy)
    track_index = np.searchsorted(track.starts, first, side="right") - 1
    return Stops(
        track_index, first, last, t_start, t_end, (t_end - t_start) * 1e-3, cx, cy, lon, lat, np.hypot(rx, ry), hidden
    )


def split_changes(
    track: Track, first: np.ndarray, last: np.ndarray, params: StopParams
) -> tuple[np.ndarray, np.ndarray]:
    """Split stationary stretches that hold fitted fixes where the truck moved on: binary
    segmentation on the mean position, vectorised over all stretches per round.

    A phone's fitted speed over ±7.5 s cannot show a 40 m move between bins at 20 m accuracy,
    so its stationary stretches run across several bins; the mean positions of the fixes
    before and after the move, each over a whole dwell, can. Each round, in every stretch,
    the split that maximises the shift between the (accuracy-weighted) means of the raw
    positions before and after it is kept when the shift exceeds ``split_z`` standard errors
    and ``split_m`` metres; rounds repeat until nothing splits. Stretches without fitted
    fixes (Doppler speed throughout: v1) are left alone."""
    has_fit = segment_reduce(np.logical_or, track.derived, first, last) if len(first) else np.zeros(0, dtype=bool)
    if not has_fit.any():
        return first, last
    keep_first, keep_last = first[~has_fit], last[~has_fit]
    a, b = first[has_fit], last[has_fit]
    # A unit that never reports speed has only positions to show a move: a lower bar (0031).
    z_of = np.where(_reports_speed(track), params.split_z, params.split_z_positions)
    fixes = track.fixes
    default = np.float32(track.params.default_accuracy_m)
    done_first, done_last = [keep_first], [keep_last]
    m = params.split_min_fixes
    for _ in range(16):  # each round at most doubles the pieces; 16 rounds is far beyond any stretch
        long = (b - a + 1) >= 2 * m
        done_first.append(a[~long])
        done_last.append(b[~long])
        a, b = a[long], b[long]
        if len(a) == 0:
            break
        size = b - a + 1
        rows = np.repeat(a, size) + ramp(size)
        seg = np.repeat(np.arange(len(a)), size)
        x, y = track.frame.to_xy(fixes.lon[rows], fixes.lat[rows])  # raw positions, not the fit
        acc = fixes.hdop[rows].astype(np.float64) * track.params.accuracy_m_per_hdop
        acc = np.where(np.isnan(acc), default, acc)
        w = (1.51 / np.maximum(acc, 1.0)) ** 2  # 1/σ², σ = accuracy / 1.51
        t = fixes.t[rows] * 1e-3
        starts = np.concatenate(([0], np.cumsum(size)[:-1]))
        x0, y0, t0 = x[starts][seg], y[starts][seg], t[starts][seg]  # sums relative to each stretch
        w1 = _seg_cumsum(w, starts, seg)
        x1 = _seg_cumsum(w * (x - x0), starts, seg)
        y1 = _seg_cumsum(w * (y - y0), starts, seg)
        total_w, total_x, total_y = (v[starts + size - 1][seg] for v in (w1, x1, y1))
        w2, x2, y2 = total_w - w1, total_x - x1, total_y - y1
        k = ramp(size)  # fixes before the split (inclusive) minus one
        n1, n2 = k + 1, size[seg] - k - 1
        valid = (n1 >= m) & (n2 >= m)
        w2s = np.where(valid, w2, 1.0)
        dx, dy = x1 / w1 - x2 / w2s, y1 / w1 - y2 / w2s
        # Variance of each mean: 1/W for independent errors, × fixes / independent fixes.
        t_end = t[starts + size - 1][seg]
        nind1 = np.minimum(n1, 1.0 + (t - t0) / (2.0 * params.error_correlation_s))
        nind2 = np.minimum(n2, 1.0 + (t_end - t) / (2.0 * params.error_correlation_s))
        var = n1 / (w1 * nind1) + n2 / (w2s * np.maximum(nind2, 1e-9))
        shift2 = dx * dx + dy * dy
        stat = np.where(valid & (shift2 >= params.split_m**2), shift2 / var, 0.0)
        best = np.maximum.reduceat(stat, starts)
        z = z_of[np.searchsorted(track.starts, a, side="right") - 1]
        split = best > z**2
        at = np.flatnonzero((stat == best[seg]) & split[seg] & (stat > 0))
        at = at[np.unique(seg[at], return_index=True)[1]]  # the first maximum of each stretch
        cut = rows[at]
        done_first.append(a[~split])
        done_last.append(b[~split])
        a = np.concatenate([a[split], cut + 1])
        b = np.concatenate([cut, b[split]])
    done_first.append(a)
    done_last.append(b)
    pieces_first, pieces_last = np.concatenate(done_first).astype(np.int64), np.concatenate(done_last).astype(np.int64)
    order = np.argsort(pieces_first)
    pieces_first, pieces_last = pieces_first[order], pieces_last[order]
    if params.transit_mps > 0:
        stretch = np.searchsorted(first, pieces_first, side="right") - 1
        pieces_first, pieces_last = _carve_transits(track, pieces_first, pieces_last, stretch, params)
    return pieces_first, pieces_last


def _carve_transits(
    track: Track, first: np.ndarray, last: np.ndarray, stretch: np.ndarray, params: StopParams
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``split_changes`` cut a stretch of a unit that never reports speed, the truck drove
    from one piece's mean position to the next one's, and the split falls about midway through
    that drive: the next stop starts half the drive's time (shift / ``transit_mps``) after the
    split, not at it (decision 0040). Each piece keeps at least ``split_min_fixes`` fixes."""
    inner = np.flatnonzero(stretch[1:] == stretch[:-1])  # boundary i: between pieces i and i + 1
    if len(inner):
        inner = inner[~_reports_speed(track)[np.searchsorted(track.starts, first[inner], side="right") - 1]]
    if len(inner) == 0:
        return first, last
    size = (last - first + 1).astype(np.float64)
    cx = segment_reduce(np.add, track.x, first, last, np.float64) / size
    cy = segment_reduce(np.add, track.y, first, last, np.float64) / size
    i = inner
    half_ms = 500.0 * np.hypot(cx[i + 1] - cx[i], cy[i + 1] - cy[i]) / params.transit_mps
    t = track.fixes.t
    key = trip_ids(track) * (1 << 44) + (t - t[0])  # trips are consecutive and in time order within each
    split_at = 0.5 * (key[last[i]] + key[first[i + 1]])
    start = np.searchsorted(key, split_at + half_ms, side="left")
    first = first.copy()
    lo = first[i + 1]
    first[i + 1] = np.clip(start, lo, np.maximum(last[i + 1] - params.split_min_fixes + 1, lo))
    return first, last


def turnarounds(track: Track, first: np.ndarray, last: np.ndarray, params: StopParams) -> np.ndarray:
    """Per piece: a turning manoeuvre, not a stop — its unit never reports speed, it lasts less than
    ``turn_s``, and the truck leaves the way it came: the position ``turn_lag_s`` before the
    piece, its mean position and the position ``turn_lag_s`` after it make an angle sharper
    than arccos(``turn_cos``), both legs ``turn_leg_m`` or longer, all in the same trip.

    A three-point turn backs and fills at ~1 m/s within a few metres for 15–30 s: a Doppler
    unit reports the motion, but a phone's positions (σ ≈ 7 m, correlated over 5 s) cannot
    show a back-and-forth of 6–12 m, so by the stay-point rule it is a stop. Its context can
    be seen: the truck arrives from one side and leaves towards the same side (decision 0031).
    A piece around which the truck covered more than ``through_mps`` on average (from
    ``turn_lag_s`` before to ``turn_lag_s`` after it) was driven through (decision 0040)."""
    n = len(first)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    t = track.fixes.t
    silent = ~_reports_speed(track)[np.searchsorted(track.starts, first, side="right") - 1]
    short = silent & ((t[last] - t[first]) * 1e-3 < params.turn_s)
    i = np.flatnonzero(short)
    if len(i) == 0:
        return out
    f, la = first[i], last[i]
    trip = trip_ids(track)
    lag = np.int64(round(params.turn_lag_s * 1000))
    key = trip * (1 << 44) + (t - t[0])  # trips are consecutive and in time order within each
    before = np.searchsorted(key, key[f] - lag, side="right") - 1
    after = np.searchsorted(key, key[la] + lag, side="left")
    ok = (before >= 0) & (after < len(t))
    before, after = np.clip(before, 0, len(t) - 1), np.clip(after, 0, len(t) - 1)
    ok &= (trip[before] == trip[f]) & (trip[after] == trip[la])
    size = (la - f + 1).astype(np.float64)
    cx = segment_reduce(np.add, track.x, f, la, np.float64) / size
    cy = segment_reduce(np.add, track.y, f, la, np.float64) / size
    ix, iy = cx - track.x[before], cy - track.y[before]
    ox, oy = track.x[after] - cx, track.y[after] - cy
    leg_in, leg_out = np.hypot(ix, iy), np.hypot(ox, oy)
    cos = (ix * ox + iy * oy) / np.maximum(leg_in * leg_out, 1e-9)
    turn = (leg_in >= params.turn_leg_m) & (leg_out >= params.turn_leg_m) & (cos < params.turn_cos)
    # Driven through (decision 0040): from turn_lag_s before the piece to turn_lag_s after it the
    # truck covered more than through_mps on average — a bin stop's slow approach and departure
    # around ≥ 10 s at rest stay below 2.6 m/s (the 99.5th percentile of matched phone stops),
    # a bad-sky spell that hid a drive at 5–8 m/s does not.
    through_mps = np.hypot(track.x[after] - track.x[before], track.y[after] - track.y[before]) / np.maximum(
        (t[after] - t[before]) * 1e-3, 1e-3
    )
    out[i] = ok & (turn | (through_mps > params.through_mps))
    return out


def merge_fragments(
    track: Track, first: np.ndarray, last: np.ndarray, params: StopParams
) -> tuple[np.ndarray, np.ndarray]:
    """Join consecutive pieces of a unit that never reports speed when at most ``merge_s``
    separate them (same trip) and their mean positions lie within ``merge_m``: one stop that a
    noisy fitted speed or a noisy split cut in two."""
    if len(first) < 2:
        return first, last
    t = track.fixes.t
    size = (last - first + 1).astype(np.float64)
    cx = segment_reduce(np.add, track.x, first, last, np.float64) / size
    cy = segment_reduce(np.add, track.y, first, last, np.float64) / size
    silent = ~_reports_speed(track)[np.searchsorted(track.starts, first, side="right") - 1]
    trip = trip_ids(track)
    join = (
        silent[1:]
        & (trip[first[1:]] == trip[last[:-1]])
        & ((t[first[1:]] - t[last[:-1]]) <= params.merge_s * 1000)
        & (np.hypot(cx[1:] - cx[:-1], cy[1:] - cy[:-1]) < params.merge_m)
        & (np.minimum(t[last[1:]] - t[first[1:]], t[last[:-1]] - t[first[:-1]]) < params.merge_short_s * 1000)
    )
    if not join.any():
        return first, last
    head = np.concatenate(([True], ~join))  # a piece that starts a merged stop
    return first[head], last[np.concatenate((~join, [True]))]


def backing_up(track: Track, first: np.ndarray, last: np.ndarray, params: StopParams, skip: np.ndarray) -> np.ndarray:
    """Milliseconds to add to each stop's start where a unit that never reports speed shows the
    truck backing up before it settled at the bin (decision 0041); 0 elsewhere and where ``skip``.

    A truck that backs up to the bins halts, reverses along the way it came at ~1 m/s for 12–35 s
    and returns, then dwells; the stop begins at the dwell, but a phone's fit calls the whole
    manoeuvre still. Along the way in (from the mean position over ``backing_in_s`` before the
    stop to the stop's mean position), the split ``backing_min_s``–``backing_max_s`` after the
    first fix that maximises how far the (accuracy-weighted) positions before it lie behind those
    after it, in standard errors as ``split_changes`` counts them, is the settle when that exceeds
    ``backing_z``. At phone accuracy the settle is found for a fraction of the reversals and
    by noise at 9 % of the other stops, so the start moves by at most ``backing_cap_s``, to
    ``backing_margin_s`` before the settle: within the arrival tolerance (15 s) of the settle for a
    reversal of up to cap + 15 s, and of the first fix, where a stop read this way mostly began."""
    out = np.zeros(len(first), dtype=np.int64)
    if params.backing_z <= 0 or len(first) == 0:
        return out
    t = track.fixes.t
    m = params.split_min_fixes
    silent = ~_reports_speed(track)[np.searchsorted(track.starts, first, side="right") - 1]
    ok = silent & ~skip & ((last - first + 1) >= 2 * m)
    trip = trip_ids(track)
    key = trip * (1 << 44) + (t - t[0])  # trips are consecutive and in time order within each
    a = np.searchsorted(key, key[first] - np.int64(round(params.backing_in_s * 1000)), side="left")
    i = np.flatnonzero(ok & (a < first) & (trip[a] == trip[first]))
    if len(i) == 0:
        return out
    f, la, a = first[i], last[i], a[i]
    acc = track.fixes.hdop.astype(np.float64) * track.params.accuracy_m_per_hdop
    w = (1.51 / np.maximum(np.where(np.isnan(acc), track.params.default_accuracy_m, acc), 1.0)) ** 2
    x, y = track.x.astype(np.float64), track.y.astype(np.float64)
    sw, sx, sy, swx, swy = (np.concatenate(([0.0], np.cumsum(v))) for v in (w, x, y, w * x, w * y))
    n = la - f + 1
    cx, cy = (sx[la + 1] - sx[f]) / n, (sy[la + 1] - sy[f]) / n
    ax, ay = cx - (sx[f] - sx[a]) / (f - a), cy - (sy[f] - sy[a]) / (f - a)  # the way in
    leg = np.maximum(np.hypot(ax, ay), 1e-9)
    # Candidate settles: rows r with ≥ 2 fixes before (f..r-1), ≥ split_min_fixes from r on, ≤ backing_max_s in.
    end = np.searchsorted(key, key[f] + np.int64(round(params.backing_max_s * 1000)), side="right")
    count = np.maximum(np.minimum(end, la - m + 2) - (f + 2), 0)
    keep = count > 0
    i, f, la, count, ax, ay, leg = i[keep], f[keep], la[keep], count[keep], ax[keep], ay[keep], leg[keep]
    if len(i) == 0:
        return out
    seg = np.repeat(np.arange(len(f)), count)
    r = np.repeat(f + 2, count) + ramp(count)
    fs, ls = f[seg], la[seg]
    w_b, w_a = sw[r] - sw[fs], sw[ls + 1] - sw[r]
    # How far the weighted mean position from r on lies ahead of the one before r, along the way in.
    dx = (swx[ls + 1] - swx[r]) / w_a - (swx[r] - swx[fs]) / w_b
    dy = (swy[ls + 1] - swy[r]) / w_a - (swy[r] - swy[fs]) / w_b
    behind = (dx * ax[seg] + dy * ay[seg]) / leg[seg]
    # Variance of each mean: 1/W for independent errors, × fixes / independent fixes (split_changes).
    since = (t[r] - t[fs]) * 1e-3
    two_c = 2.0 * params.error_correlation_s
    n_b, n_a = (r - fs).astype(np.float64), (ls - r + 1).astype(np.float64)
    ind_b = np.minimum(n_b, 1.0 + (t[r - 1] - t[fs]) * 1e-3 / two_c)
    ind_a = np.minimum(n_a, 1.0 + (t[ls] - t[r]) * 1e-3 / two_c)
    var = n_b / (w_b * ind_b) + n_a / (w_a * ind_a)
    z = np.where(since >= params.backing_min_s, behind / np.sqrt(var), 0.0)
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    best = np.maximum.reduceat(z, starts)
    at = np.flatnonzero((z == best[seg]) & (best[seg] > params.backing_z))
    at = at[np.unique(seg[at], return_index=True)[1]]  # the first maximum of each stop
    delay = np.clip(since[at] - params.backing_margin_s, 0.0, params.backing_cap_s)
    out[i[seg[at]]] = np.round(delay * 1000).astype(np.int64)
    return out


def _reports_speed(track: Track) -> np.ndarray:
    """Per track: its unit reported a speed on some fix (v1, trackers), so its manoeuvres at
    ~1 m/s show in the speed; phones (OwnTracks without ``vel``) never do."""
    if len(track.starts) == 0:
        return np.zeros(0, dtype=bool)
    return np.logical_or.reduceat(np.isfinite(track.fixes.speed), track.starts)


def _seg_cumsum(v: np.ndarray, starts: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``v`` restarting at each of ``starts`` (seg: the stretch of each row)."""
    c = np.cumsum(v)
    before = np.concatenate(([0.0], c))[starts]
    return c - before[seg]


def _cut_drifting(
    track: Track,
    first: np.ndarray,
    last: np.ndarray,
    radius_m: float,
    accuracy_radius: float = 3.0,
    anchor_fixes: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut stationary stretches that wander beyond ``radius_m`` into pieces that stay
    within it: a piece ends before the first fix farther than ``radius_m`` from its anchor
    (the mean of its first ``anchor_fixes`` fixes, so one noisy fix does not move it).

    Only stretches whose bounding box reaches beyond ``radius_m`` from its centre are
    examined — a creeping truck, rarely — so the loop runs over those few stretches and over
    their pieces, with the fixes of each piece handled as arrays.
    """
    half_w = 0.5 * (segment_reduce(np.maximum, track.x, first, last) - segment_reduce(np.minimum, track.x, first, last))
    half_h = 0.5 * (segment_reduce(np.maximum, track.y, first, last) - segment_reduce(np.minimum, track.y, first, last))
    # A phone with 40 m accuracy scatters a parked truck over ±40 m: the radius grows with the
    # stretch's mean reported accuracy, so noise is not read as the truck moving on.
    wide = np.flatnonzero(np.hypot(half_w, half_h) > radius_m)
    radius = np.full(len(first), np.float64(radius_m))
    if len(wide):
        f, la = first[wide], last[wide]
        accuracy = segment_reduce(np.add, track.accuracy_m, f, la, np.float64) / (la - f + 1)
        radius[wide] = np.fmax(radius_m, accuracy_radius * accuracy)  # unknown accuracy (NaN): R
        wide = wide[np.hypot(half_w[wide], half_h[wide]) > radius[wide]]
    if len(wide) == 0:
        return first, last
    pieces_first, pieces_last = [], []
    for k in wide:
        a, end = int(first[k]), int(last[k])
        while a <= end:
            ax = track.x[a : min(a + anchor_fixes, end + 1)].mean()
            ay = track.y[a : min(a + anchor_fixes, end + 1)].mean()
            beyond = np.hypot(track.x[a : end + 1] - ax, track.y[a : end + 1] - ay) > radius[k]
            b = a + int(np.argmax(beyond)) - 1 if beyond.any() else end
            b = max(b, a)
            pieces_first.append(a)
            pieces_last.append(b)
            a = b + 1
    keep = np.ones(len(first), dtype=bool)
    keep[wide] = False
    first = np.concatenate([first[keep], pieces_first]).astype(np.int64)
    last = np.concatenate([last[keep], pieces_last]).astype(np.int64)
    order = np.argsort(first)
    return first[order], last[order]


def _hidden_dwell(
    track: Track, first: np.ndarray, last: np.ndarray, dwell_s: np.ndarray, params: StopParams
) -> tuple[np.ndarray, np.ndarray]:
    """Dwell (s) of each piece counting an arrival or departure hidden in an adjacent dropout,
    for the pieces of units that never report speed that are shorter than ``min_dwell_s``, and
    whether that made the piece long enough. The fix on the far side of the dropout is at rest
    (a phone's fit shows no motion across a gap) and beyond ``radius_m``: the truck left that
    place and drove here at ``transit_mps`` (decision 0040). A receiver dropout otherwise hides
    most of a short bin stop (seed 5: 29 missed stops across dropouts, median 37 s)."""
    made = np.zeros(len(first), dtype=bool)
    if not params.hidden_dwell or len(first) == 0:
        return dwell_s, made
    silent = ~_reports_speed(track)[np.searchsorted(track.starts, first, side="right") - 1]
    short = np.flatnonzero((dwell_s < params.min_dwell_s) & silent)
    if len(short) == 0:
        return dwell_s, made
    f, la = first[short], last[short]
    size = (la - f + 1).astype(np.float64)
    cx = segment_reduce(np.add, track.x, f, la, np.float64) / size
    cy = segment_reduce(np.add, track.y, f, la, np.float64) / size
    t0, t1, _ = _dropout_edges(track, f, la, cx, cy, params, np.ones(len(f), dtype=bool))
    dwell_s = dwell_s.copy()
    dwell_s[short] = (t1 - t0) * 1e-3
    made[short] = dwell_s[short] >= params.min_dwell_s
    return dwell_s, made


def _dropout_edges(
    track: Track,
    first: np.ndarray,
    last: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    params: StopParams,
    rest_elsewhere: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end times of stops (epoch ms), moved into an adjacent dropout when the
    truck was still moving on the far side of it: arrival = last fix before the gap +
    its distance to the stop at its speed (no later than the first stationary fix), and
    symmetrically for departure. Also returns whether either edge was estimated."""
    t = track.fixes.t
    t_start, t_end = t[first].copy(), t[last].copy()
    n_steps = len(track.dt)
    # rest_elsewhere: per stop, a far-side fix at rest beyond R also counts, as a drive at transit_mps (_hidden_dwell).
    assumed = np.zeros(len(first), dtype=bool) if rest_elsewhere is None else rest_elsewhere
    for edge in ("start", "end"):
        if edge == "start":
            step = first - 1
            ok = step >= 0
            other = np.maximum(step, 0)
        else:
            step = last
            ok = step < n_steps
            other = np.minimum(last + 1, n_steps)
        s = np.clip(step, 0, max(n_steps - 1, 0))
        ok &= track.gap[s] & ~track.trip_break[s]
        dist = np.hypot(track.x[other] - cx, track.y[other] - cy)
        speed = track.speed[other].astype(np.float64)
        elsewhere = assumed & (speed <= params.stationary_mps) & (dist > params.radius_m) & (params.transit_mps > 0)
        speed = np.where(elsewhere, params.transit_mps, speed)
        i = np.flatnonzero(ok & (speed > params.stationary_mps))
        dist = dist[i]
        travel_ms = (1000.0 * dist / speed[i]).astype(np.int64)
        if edge == "start":
            t_start[i] = np.minimum(t[other[i]] + travel_ms, t_start[i])
        else:
            t_end[i] = np.maximum(t[other[i]] - travel_ms, t_end[i])
    hidden = (t_start != t[first]) | (t_end != t[last])
    return t_start, t_end, hidden


def at_rest(track: Track, stops: Stops) -> Track:
    """``track`` with nothing travelled on the steps without a reported speed at either end
    between the first and last fix of each stop, in tracks whose unit reports speed (on any
    fix).

    Stationarity decided once, by the stop detector, before distance is summed: a tracker
    sends no speed while slow, so inside its stops every fix is fitted from positions, and a
    fitted speed that clears its noise test now and then integrates jitter — 8 m per bin stop
    (σ≈5 m correlated over 10 s), +4.5 % over a shift. Such a unit's stops begin and end at
    reported (Doppler) speeds. A unit that never reports speed (a phone) has stops whose
    edges come from the fit alone, which cannot resolve a 20 m move between bins at phone
    accuracy: 8 % of a phone's true distance lies inside its detected stops, so zeroing them
    would cut that much; its distance keeps the fit's own motion test (docs/analytics.md)."""
    if len(stops) == 0:
        return track
    reports = _reports_speed(track)
    stops = stops.select(reports[stops.track])
    if len(stops) == 0:
        return track
    inside = np.zeros(len(track.dt) + 1, dtype=np.int64)
    np.add.at(inside, stops.first, 1)
    np.add.at(inside, stops.last, -1)
    resting = np.cumsum(inside)[:-1] > 0  # steps first..last-1 of each stop
    # A step between two reported speeds keeps its Doppler distance (a truck creeping at a bin).
    resting &= track.derived[:-1] | track.derived[1:]
    return replace(track, travelled_m=np.where(resting, np.float32(0.0), track.travelled_m))


def stops_per_track(track: Track, stops: Stops) -> np.ndarray:
    """Number of stops in each track."""
    return np.bincount(stops.track, minlength=len(track.starts))


def _empty() -> Stops:
    i = np.zeros(0, dtype=np.int64)
    f = np.zeros(0)
    return Stops(i, i, i, i, i, f, f, f, f, f, f, np.zeros(0, dtype=bool))
