"""Planned-route coverage: which planned service segments were actually serviced.

Each segment is cut into bins of ``bin_m`` metres; a bin is serviced when a fix of the
shift at service pace (at most ``service_max_speed_mps``) is matched to it (matching.LineIndex:
nearest street within the match radius). A segment is serviced when at least
``serviced_share`` of its bins were, so crossing a street at an intersection, GPS noise
spilling over from a parallel street, or driving through at traffic speed does not count.
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


@dataclass(frozen=True)
class RouteCoverage:
    """Per planned service segment (in the order given): its id, the share of its length
    driven (0–1) and whether it counts as serviced; the shift's coverage (share of planned
    segments serviced, and the same weighted by length) and the ids of missed segments."""

    segment_ids: np.ndarray
    driven_share: np.ndarray
    serviced: np.ndarray
    coverage: float
    coverage_by_length: float
    missed: np.ndarray


@dataclass(frozen=True)
class Matched:
    """Fixes matched to lines, plus points interpolated across dropouts.

    line, along, speed: per fix, the matched line index (-1 = none), metres along it and
    the fix's speed (m/s). gap_line, gap_along, gap_speed, gap_row: the same for points
    placed every ``bin_m / 2`` on the straight line across each dropout (a gap within a
    trip), at the mean speed of the two fixes around it, and the fix row before it. A 40 s
    dropout at collection pace hides ~100 m of street; without these points a segment
    serviced in the dark would count as missed.
    """

    line: np.ndarray
    along: np.ndarray
    speed: np.ndarray
    gap_line: np.ndarray
    gap_along: np.ndarray
    gap_speed: np.ndarray
    gap_row: np.ndarray

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(line, along, speed) of fixes [start, stop) and of the dropout points between them."""
        lo, hi = np.searchsorted(self.gap_row, [start, stop - 1])
        return (
            np.concatenate([self.line[start:stop], self.gap_line[lo:hi]]),
            np.concatenate([self.along[start:stop], self.gap_along[lo:hi]]),
            np.concatenate([self.speed[start:stop], self.gap_speed[lo:hi]]),
        )


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
    return Matched(line, along, track.speed, gap_line, gap_along, gap_speed, row)


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
) -> RouteCoverage:
    """Coverage of one shift whose fixes matched ``line`` / ``along`` at ``speed`` (see
    ``Matched.rows``), against the planned service segments ``planned`` (indices into the
    index)."""
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
    total = len(planned)
    return RouteCoverage(
        segment_ids=index.ids[planned],
        driven_share=share,
        serviced=serviced,
        coverage=float(serviced.mean()) if total else float("nan"),
        coverage_by_length=float(length[serviced].sum() / length.sum()) if total and length.sum() > 0 else float("nan"),
        missed=index.ids[planned][~serviced],
    )
