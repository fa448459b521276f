"""Safety hotspots: events per exposure on a square grid, Getis-Ord Gi* and FDR control.

The busiest street has the most events simply because it has the most trucks, so raw
counts are never a hotspot. Each cell's value is its event *rate* — events per pass of a
truck through it — smoothed by empirical Bayes so that a cell with few passes cannot look
dangerous by chance, and only cells with enough passes take part. Gi* compares the value
summed over a cell and its eight neighbours with what the study area's mean would give
(one-sided: hot spots only); the significance of that neighbourhood's excess comes from the
exact tail of its event count, and the Benjamini–Hochberg procedure keeps the expected
share of false hotspots below ``fdr``.
Definitions and thresholds: docs/analytics.md, "Hotspots".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .geo import LocalFrame
from .segmentation import Track

_OFFSET = 1 << 30  # cell indices are stored offset by 2^30 so ids are non-negative
_NEIGHBOURS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]  # queen contiguity, self included


@dataclass(frozen=True)
class Grid:
    """Square cells of ``cell_m`` metres in a city's local frame; a cell id is a stable int64
    (column and row packed), so ids from different days and shifts can be summed."""

    frame: LocalFrame
    cell_m: float = 50.0

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ix = np.floor(x / self.cell_m).astype(np.int64) + _OFFSET
        iy = np.floor(y / self.cell_m).astype(np.int64) + _OFFSET
        return (ix << 32) | iy

    def cell_of_lonlat(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return self.cell_of(*self.frame.to_xy(lon, lat))

    def centre(self, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres in degrees (lon, lat)."""
        ix, iy = _unpack(cell)
        return self.frame.to_lonlat((ix + 0.5) * self.cell_m, (iy + 0.5) * self.cell_m)


@dataclass(frozen=True)
class HotspotParams:
    """min_passes: a cell with fewer passes over the period is not tested (its rate is not
    estimable and one event would make it look dangerous) · min_events: a hotspot needs at
    least this many events in the cell and its neighbours · fdr: Benjamini–Hochberg false
    discovery rate · outlier_p: cells whose own count has a Poisson tail below this are
    left out when estimating the ordinary variation between places."""

    min_passes: int = 30
    min_events: int = 5
    fdr: float = 0.05
    outlier_p: float = 1e-9


@dataclass(frozen=True)
class Hotspots:
    """Per tested cell: cell id, passes, events, rate (events per pass), smoothed rate (the
    empirical-Bayes rate Gi* is computed on), Gi* z-score, one-sided p-value, BH-adjusted
    q-value, significant (a hotspot cell) and cluster (connected hotspot cells share a
    number; -1 for non-hotspots)."""

    cell: np.ndarray
    passes: np.ndarray
    events: np.ndarray
    rate: np.ndarray
    smoothed: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    cluster: np.ndarray

    def clusters(self, grid: Grid) -> list[dict]:
        """One record per hotspot: its peak cell (the member with the highest smoothed rate —
        Gi* flags a neighbourhood, the peak says where in it), centre, cells, events, passes."""
        out = []
        for c in np.unique(self.cluster[self.cluster >= 0]):
            members = np.flatnonzero(self.cluster == c)
            peak = members[np.lexsort((-self.z[members], -self.smoothed[members]))[0]]
            lon, lat = grid.centre(self.cell[peak : peak + 1])
            out.append(
                {
                    "cluster": int(c),
                    "peak_cell": int(self.cell[peak]),
                    "lon": float(lon[0]),
                    "lat": float(lat[0]),
                    "cells": int(len(members)),
                    "events": int(self.events[members].sum()),
                    "passes": int(self.passes[members].sum()),
                    "rate": float(self.rate[peak]),
                    "z_max": float(self.z[members].max()),
                    "q_min": float(self.q[members].min()),
                }
            )
        return out


def passes_per_cell(grid: Grid, track: Track) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exposure: (track, cell, passes) rows, one per cell a track entered.

    A pass is an entry into a cell: consecutive fixes in one cell are one pass, leaving and
    coming back is two. Only run starts are sorted, not every fix, so a fleet-day is cheap.
    """
    cell = grid.cell_of(track.x, track.y)
    enter = np.ones(len(cell), dtype=bool)
    enter[1:] = (cell[1:] != cell[:-1]) | track.trip_break
    rows = np.flatnonzero(enter)
    tr = np.searchsorted(track.starts, rows, side="right") - 1
    return _count_pairs(tr, cell[rows])


def passes_per_segment(track: Track, line: np.ndarray) -> tuple[np.ndarray, ...]:
    """Street-segment exposure: (track, segment, passes, mean speed m/s) rows.

    line: per fix, the matched street (index into the street LineIndex, -1 = none). A pass
    is an entry onto a segment, as for cells; the mean speed is over the fixes matched to
    it. Speeds are summed per run of equal ``line`` first (one reduceat over all fixes),
    so only the runs — not the fixes — are sorted.
    """
    change = np.ones(len(line), dtype=bool)
    change[1:] = (line[1:] != line[:-1]) | track.trip_break
    first = np.flatnonzero(change)
    size = np.diff(np.append(first, len(line)))
    speed_sum = np.add.reduceat(track.speed, first, dtype=np.float64) if len(first) else np.zeros(0)
    on = line[first] >= 0
    first, size, speed_sum = first[on], size[on], speed_sum[on]
    tr = np.searchsorted(track.starts, first, side="right") - 1
    seg = line[first].astype(np.int64)
    order = np.lexsort((seg, tr))
    tr, seg, size, speed_sum = tr[order], seg[order], size[order], speed_sum[order]
    new = np.ones(len(tr), dtype=bool)
    new[1:] = (tr[1:] != tr[:-1]) | (seg[1:] != seg[:-1])
    head = np.flatnonzero(new)
    if len(head) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0)
    passes = np.diff(np.append(head, len(tr)))
    mean_speed = np.add.reduceat(speed_sum, head) / np.add.reduceat(size, head)
    return tr[head], seg[head], passes, mean_speed


def events_per_cell(
    grid: Grid, track_index: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events located at (lon, lat) as (track, cell, count) rows."""
    return _count_pairs(np.asarray(track_index, dtype=np.int64), grid.cell_of_lonlat(lon, lat))


def hotspots(
    cells: np.ndarray, passes: np.ndarray, events: np.ndarray, params: HotspotParams = HotspotParams()
) -> Hotspots:
    """Gi* hotspots from exposure and event counts per cell.

    cells/passes/events may hold several rows per cell (days, shifts); they are summed. A
    cell with events but no passes is impossible in real data and is ignored.

    z is Getis-Ord Gi* of the empirical-Bayes rates. Its normal approximation is badly off
    for small counts (4 events where 0.7 are expected gave z = 5.2, p ≈ 1e-7; the exact
    Poisson tail is 0.006), so p is the exact tail of the events counted by the same
    neighbourhood under the negative-binomial (Poisson–gamma) model of road-safety
    practice: mean m·Σp_j, variance m·Σp_j + A·Σp_j², with m and A the background rate
    and between-cell variance of true rates (see background_moments). A busy ordinary
    street then varies as ordinary streets do, and only an excess beyond that counts.
    """
    cell, (p_sum, e_sum) = _sum_by_cell(
        np.asarray(cells, dtype=np.int64), np.asarray(passes, dtype=np.float64), np.asarray(events, dtype=np.float64)
    )
    tested = p_sum >= params.min_passes
    cell, p_sum, e_sum = cell[tested], p_sum[tested], e_sum[tested]
    if len(cell) == 0:
        return _empty()
    rate = e_sum / p_sum
    m, a = background_moments(e_sum, p_sum, params.outlier_p)
    smoothed = empirical_bayes_rate(e_sum, p_sum)
    nb = queen_neighbours(cell)  # (9, n), -1 where that neighbour is not a tested cell
    present = nb >= 0
    z = gi_star(smoothed, nb)

    def local(values: np.ndarray) -> np.ndarray:
        return np.where(present, values[np.maximum(nb, 0)], 0.0).sum(axis=0)

    observed = local(e_sum)
    p = negative_binomial_tail(observed, m * local(p_sum), a * local(p_sum * p_sum))
    q = benjamini_hochberg(p)
    significant = (q <= params.fdr) & (z > 0) & (observed >= params.min_events)
    cluster = _clusters(nb, significant)
    return Hotspots(cell, p_sum.astype(np.int64), e_sum.astype(np.int64), rate, smoothed, z, p, q, significant, cluster)


def rate_moments(events: np.ndarray, passes: np.ndarray) -> tuple[float, float]:
    """Study-area rate m = Σe / Σp and the between-cell variance of true rates,
    A = max(s² − m / p̄, 0) (Marshall 1991): s² is the pass-weighted variance of the raw
    rates, m / p̄ what Poisson noise alone would give at the mean exposure p̄."""
    total = float(passes.sum())
    if total <= 0:
        return 0.0, 0.0
    m = float(events.sum()) / total
    s2 = float(np.sum(passes * (events / passes - m) ** 2) / total)
    return m, max(s2 - m / (total / len(passes)), 0.0)


def background_moments(events: np.ndarray, passes: np.ndarray, outlier_p: float) -> tuple[float, float]:
    """``rate_moments`` of the background: without the cells whose own count no ordinary
    place produces (exact Poisson tail at the study-area rate below ``outlier_p``). Those
    few dangerous places would otherwise inflate the variance that ordinary places are
    judged against, and so hide themselves; the far-out cut keeps ordinary variation
    between places (a street at two or three times the usual rate) in the background."""
    m, _ = rate_moments(events, passes)
    extreme = negative_binomial_tail(events, m * passes, np.zeros(len(events))) < outlier_p
    if (~extreme).sum() < 2:
        return rate_moments(events, passes)
    return rate_moments(events[~extreme], passes[~extreme])


def empirical_bayes_rate(events: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Marshall's (1991) global empirical-Bayes rates: each cell's rate shrunk towards the
    study-area rate m with weight w_i = A / (A + m / p_i) on its own rate (see
    rate_moments). One event in 30 passes is mostly noise and stays near m; a steady
    excess over thousands of passes keeps its rate. If the raw rates vary no more than
    chance allows, A = 0 and every cell gets m — no hotspot can appear.
    """
    m, a = rate_moments(events, passes)
    if a == 0.0:
        return np.full(len(events), m)
    w = a / (a + m / passes)
    return w * (events / passes) + (1.0 - w) * m


def negative_binomial_tail(observed: np.ndarray, mean: np.ndarray, extra_variance: np.ndarray) -> np.ndarray:
    """P(X ≥ observed) for counts with the given mean and variance mean + extra_variance
    (negative binomial; Poisson where the extra variance is 0)."""
    from scipy import stats  # here: the rollup imports this module but never calls this (~0.3 s)

    observed = np.asarray(observed, dtype=np.float64)
    mean = np.maximum(np.asarray(mean, dtype=np.float64), 1e-300)
    extra = np.asarray(extra_variance, dtype=np.float64)
    out = np.ones(len(observed))
    counted = observed > 0
    poisson = counted & (extra <= 1e-12 * mean)
    out[poisson] = stats.poisson.sf(observed[poisson] - 1, mean[poisson])
    nbin = counted & ~poisson
    size = mean[nbin] ** 2 / extra[nbin]
    out[nbin] = stats.nbinom.sf(observed[nbin] - 1, size, size / (size + mean[nbin]))
    return out


def gi_star(x: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Getis-Ord Gi* z-scores with binary weights over neighbour positions ``nb``.

    nb: (k, n) positions of each cell's neighbours (self included), -1 for absent ones.
    Gi* = (Σ_j w_ij x_j − x̄ W_i) / (S √((n S1_i − W_i²) / (n − 1))), with W_i = Σ_j w_ij,
    S1_i = Σ_j w_ij² (= W_i for binary weights), x̄ and S the mean and standard deviation
    of x over all n cells (Getis & Ord 1992; Ord & Getis 1995).
    """
    n = len(x)
    if n < 2:
        return np.zeros(n)
    present = nb >= 0
    w = present.sum(axis=0).astype(np.float64)
    local = np.where(present, x[np.maximum(nb, 0)], 0.0).sum(axis=0)
    mean = x.mean()
    s = np.sqrt(max((x * x).mean() - mean * mean, 0.0))
    denom = s * np.sqrt(np.maximum(n * w - w * w, 0.0) / (n - 1))
    return np.divide(local - mean * w, denom, out=np.zeros(n), where=denom > 0)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values): reject where q ≤ the chosen false discovery rate."""
    n = len(p)
    if n == 0:
        return np.zeros(0)
    order = np.argsort(p)
    scaled = p[order] * n / np.arange(1, n + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def queen_neighbours(cell: np.ndarray) -> np.ndarray:
    """(9, n) positions in the sorted ``cell`` ids of each cell's queen neighbours (itself
    included), -1 where that neighbour is not among the cells."""
    ix, iy = cell >> 32, cell & 0xFFFFFFFF
    out = np.empty((len(_NEIGHBOURS), len(cell)), dtype=np.int64)
    for k, (dx, dy) in enumerate(_NEIGHBOURS):
        want = ((ix + dx) << 32) | (iy + dy)
        pos = np.minimum(np.searchsorted(cell, want), len(cell) - 1)
        out[k] = np.where(cell[pos] == want, pos, -1)
    return out


def _clusters(nb: np.ndarray, significant: np.ndarray) -> np.ndarray:
    """Connected components of significant cells under queen contiguity; -1 elsewhere."""
    n = nb.shape[1]
    src = np.broadcast_to(np.arange(n), nb.shape)
    keep = (nb >= 0) & significant[np.maximum(nb, 0)] & significant[src]
    graph = coo_matrix((np.ones(int(keep.sum())), (src[keep], nb[keep])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    label = np.where(significant, label, -1)
    # Renumber 0..k-1 in cell order so cluster numbers do not depend on scipy's internals.
    _, dense = np.unique(label[significant], return_inverse=True)
    label[significant] = dense
    return label


def _count_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs and how often each occurs."""
    if len(a) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    first = np.flatnonzero(new)
    return a[first], b[first], np.diff(np.append(first, len(a)))


def _sum_by_cell(cell: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    unique, inverse = np.unique(cell, return_inverse=True)
    return unique, [np.bincount(inverse, v, minlength=len(unique)) for v in values]


def _unpack(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cell = np.asarray(cell, dtype=np.int64)
    return (cell >> 32) - _OFFSET, (cell & 0xFFFFFFFF) - _OFFSET


def _empty() -> Hotspots:
    i = np.zeros(0, dtype=np.int64)
    f = np.zeros(0)
    return Hotspots(i, i, i, f, f, f, f, f, np.zeros(0, dtype=bool), i)
