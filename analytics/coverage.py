"""Planned-route coverage: which planned service segments were actually serviced.

Each segment is cut into bins of ``bin_m`` metres; a bin is serviced when a fix of the
shift at service pace (at most ``service_max_speed_mps``) is matched to it (matching.LineIndex:
nearest street within the match radius). A segment is serviced when at least
``serviced_share`` of its bins were, so crossing a street at an intersection, GPS noise
spilling over from a parallel street, or driving through at traffic speed does not count.

A data gap is not a miss: an unserviced segment whose service window (between the
serviced segments before and after it in plan order) overlaps a stretch without fixes
longer than ``no_data_s`` is "unknown — no data", neither serviced nor missed, and left
out of the coverage rates.
Definitions and thresholds: docs/analytics.md, "Coverage".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import ramp
from .matching import LineIndex
from .segmentation import Track


@dataclass(frozen=True)
class CoverageParams:
    """bin_m: length of a coverage bin (m); at service pace and 1 Hz consecutive fixes are
    at most 6 m apart, so every bin of a serviced stretch is hit · serviced_share: share of
    a segment's bins that must be serviced for the segment to count; the bins near each
    end compete with the cross streets for matches, so a fully serviced 100 m segment
    shows 0.65–1.0, a skipped one 0–0.1 · service_max_speed_mps: collection pace (m/s);
    trucks collect at ≤ 5 m/s and deadhead on residential streets at ≥ 7 m/s."""

    bin_m: float = 10.0
    serviced_share: float = 0.5
    service_max_speed_mps: float = 6.0
    # no_data_s: a stretch without fixes longer than this (s) is a data gap. Shorter
    # dropouts are bridged by interpolated points (``Matched``); across a longer one a
    # truck at collection pace turns corners the straight line does not follow (2 min at
    # 5 m/s is 600 m, several blocks), so what it serviced there is unknown.
    no_data_s: float = 120.0


@dataclass(frozen=True)
class RouteCoverage:
    """Per planned service segment (in the order given): its id, the share of its length
    driven (0–1), whether it counts as serviced and whether it is unknown (no data in its
    service window); the shift's coverage (share of the known planned segments serviced,
    and the same weighted by length), the ids of missed segments (known and not serviced)
    and of the unknown ones."""

    segment_ids: np.ndarray
    driven_share: np.ndarray
    serviced: np.ndarray
    coverage: float
    coverage_by_length: float
    missed: np.ndarray
    unknown: np.ndarray
    no_data: np.ndarray


@dataclass(frozen=True)
class Matched:
    """Fixes matched to lines, plus points interpolated across dropouts.

    line, along, speed: per fix, the matched line index (-1 = none), metres along it and
    the fix's speed (m/s). gap_line, gap_along, gap_speed, gap_row: the same for points
    placed every ``bin_m / 2`` on the straight line across each dropout (a gap within a
    trip), at the mean speed of the two fixes around it, and the fix row before it. A 40 s
    dropout at collection pace hides ~100 m of street; without these points a segment
    serviced in the dark would count as missed. t, gap_t: epoch ms of each fix and point.
    """

    line: np.ndarray
    along: np.ndarray
    speed: np.ndarray
    gap_line: np.ndarray
    gap_along: np.ndarray
    gap_speed: np.ndarray
    gap_row: np.ndarray
    t: np.ndarray | None = None
    gap_t: np.ndarray | None = None

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(line, along, speed) of fixes [start, stop) and of the dropout points between them."""
        lo, hi = np.searchsorted(self.gap_row, [start, stop - 1])
        return (
            np.concatenate([self.line[start:stop], self.gap_line[lo:hi]]),
            np.concatenate([self.along[start:stop], self.gap_along[lo:hi]]),
            np.concatenate([self.speed[start:stop], self.gap_speed[lo:hi]]),
        )

    def times(self, start: int, stop: int) -> np.ndarray:
        """Epoch ms of the rows ``rows(start, stop)`` returns, in the same order."""
        assert self.t is not None and self.gap_t is not None
        lo, hi = np.searchsorted(self.gap_row, [start, stop - 1])
        return np.concatenate([self.t[start:stop], self.gap_t[lo:hi]]).astype(np.float64)


def data_gaps(
    t_ms: np.ndarray, window: tuple[float, float] | None, params: CoverageParams = CoverageParams()
) -> np.ndarray:
    """(n, 2) epoch-ms intervals without fixes longer than ``no_data_s`` in one shift's
    sorted fix times: between fixes, and from the window's start to the first fix and from
    the last fix to its end (a unit switched on late or dying early)."""
    limit = params.no_data_s * 1000.0
    t = np.asarray(t_ms, dtype=np.float64)
    if window is not None and len(t):
        t = np.concatenate(([min(float(window[0]), t[0])], t, [max(float(window[1]), t[-1])]))
    step = np.diff(t)
    at = np.flatnonzero(step > limit)
    return np.column_stack([t[at], t[at + 1]]) if len(at) else np.zeros((0, 2))


def match_track(index: LineIndex, track: Track, params: CoverageParams = CoverageParams()) -> Matched:
    """Match every fix, and points interpolated across dropouts, to the index's lines."""
    line, along = index.match(track.x, track.y)
    gap = np.flatnonzero(track.gap & ~track.trip_break)
    count = np.floor(track.step_m[gap] / (params.bin_m / 2)).astype(np.int64)
    row = np.repeat(gap, count)
    frac = (ramp(count) + 1) / np.repeat(count + 1, count)
    gx = track.x[row] + frac * (track.x[row + 1] - track.x[row])
    gy = track.y[row] + frac * (track.y[row + 1] - track.y[row])
    gap_line, gap_along = index.match(gx, gy)
    gap_speed = 0.5 * (track.speed[row] + track.speed[row + 1])
    t = track.fixes.t.astype(np.float64)
    gap_t = t[row] + frac * (t[row + 1] - t[row])
    return Matched(line, along, track.speed, gap_line, gap_along, gap_speed, row, t, gap_t)


def on_route(
    index: LineIndex,
    planned: np.ndarray,
    line: np.ndarray,
    speed: np.ndarray,
    params: CoverageParams = CoverageParams(),
) -> np.ndarray:
    """Per fix of one shift: at service pace on one of the ``planned`` line indices."""
    is_planned = np.zeros(len(index.ids) + 1, dtype=bool)  # the extra last slot answers line == -1
    is_planned[planned] = True
    return is_planned[line] & (speed <= params.service_max_speed_mps)


def route_coverage(
    index: LineIndex,
    planned: np.ndarray,
    line: np.ndarray,
    along: np.ndarray,
    speed: np.ndarray,
    params: CoverageParams = CoverageParams(),
    t_ms: np.ndarray | None = None,
    gaps: np.ndarray | None = None,
) -> RouteCoverage:
    """Coverage of one shift whose fixes matched ``line`` / ``along`` at ``speed`` (see
    ``Matched.rows``), against the planned service segments ``planned`` (indices into the
    index, in service order). With ``t_ms`` (the rows' times, ``Matched.times``) and
    ``gaps`` (``data_gaps``), unserviced segments whose service window overlaps a gap are
    unknown rather than missed."""
    planned = np.asarray(planned, dtype=np.int64)
    length = index.length_m[planned]
    n_bins = np.maximum(np.ceil(length / params.bin_m), 1).astype(np.int64)
    offset = np.concatenate(([0], np.cumsum(n_bins)))
    slot = np.full(len(index.ids) + 1, -1, dtype=np.int64)  # line index → position in `planned`
    slot[planned] = np.arange(len(planned))
    k = slot[line]
    hit = (k >= 0) & (speed <= params.service_max_speed_mps)
    k = k[hit]
    b = np.minimum((along[hit] / params.bin_m).astype(np.int64), n_bins[k] - 1)
    driven = np.zeros(offset[-1], dtype=bool)
    driven[offset[k] + b] = True
    share = np.add.reduceat(driven, offset[:-1]) / n_bins if len(planned) else np.zeros(0)
    serviced = share >= params.serviced_share
    unknown = np.zeros(len(planned), dtype=bool)
    if t_ms is not None and gaps is not None and len(gaps) and len(planned):
        unknown = _in_gap(serviced, k, np.asarray(t_ms, dtype=np.float64)[hit], gaps)
    known = ~unknown
    ids = index.ids[planned]
    return RouteCoverage(
        segment_ids=ids,
        driven_share=share,
        serviced=serviced,
        coverage=float(serviced[known].mean()) if known.any() else float("nan"),
        coverage_by_length=(
            float(length[serviced & known].sum() / length[known].sum())
            if known.any() and length[known].sum() > 0
            else float("nan")
        ),
        missed=ids[~serviced & known],
        unknown=unknown,
        no_data=ids[unknown],
    )


def _in_gap(serviced: np.ndarray, slot: np.ndarray, t: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Per planned segment: unserviced, and its service window overlaps a data gap.

    slot, t: the planned position and time of every hit at service pace. A serviced
    segment's time is the median of its hits. Only segments serviced in plan order bound
    a window: one whose time is later than that of a segment after it was passed again
    later (a slow drive back past it), so it says nothing about when the truck got there.
    An unserviced segment's window runs from the time of the last in-order serviced
    segment before it to that of the first one after it (the shift's start or end where
    there is none)."""
    n = len(serviced)
    order = np.lexsort((t, slot))
    slot_sorted, t_sorted = slot[order], t[order]
    count = np.bincount(slot_sorted, minlength=n)
    first = np.concatenate(([0], np.cumsum(count)[:-1]))
    when = np.full(n, np.inf)
    has = count > 0
    when[has] = t_sorted[first[has] + count[has] // 2]
    done = serviced & has
    reached_by = np.minimum.accumulate(np.where(done, when, np.inf)[::-1])[::-1]  # earliest later service
    done &= when <= reached_by
    pos = np.arange(n)
    prev = np.maximum.accumulate(np.where(done, pos, -1))
    after = np.minimum.accumulate(np.where(done, pos, n)[::-1])[::-1]
    t_prev = np.where(prev >= 0, when[np.maximum(prev, 0)], -np.inf)
    t_next = np.where(after < n, when[np.minimum(after, n - 1)], np.inf)
    lo, hi = np.minimum(t_prev, t_next), np.maximum(t_prev, t_next)
    g0, g1 = np.sort(gaps[:, 0]), np.sort(gaps[:, 1])
    overlapping = np.searchsorted(g0, hi, side="left") - np.searchsorted(g1, lo, side="right")
    return ~serviced & (overlapping > 0)
