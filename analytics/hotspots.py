"""Safety hotspots: events per exposure on a square grid, Getis-Ord Gi* and FDR control.

The busiest street has the most events simply because it has the most trucks, so raw
counts are never a hotspot. Each cell's value is its event *rate* — events per pass of a
truck through it — and only cells with enough passes to estimate a rate take part.
Gi* compares the rate summed over a cell and its eight neighbours with what the study
area's mean rate would give; its z-scores are tested one-sided (hot) and the
Benjamini–Hochberg procedure keeps the expected share of false hotspots below ``fdr``.
Definitions and thresholds: docs/analytics.md, "Hotspots".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import ndtr

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
    discovery rate."""

    min_passes: int = 30
    min_events: int = 3
    fdr: float = 0.05


@dataclass(frozen=True)
class Hotspots:
    """Per tested cell: cell id, passes, events, rate (events per pass), Gi* z-score, one-sided
    p-value, BH-adjusted q-value, significant (a hotspot cell) and cluster (connected
    hotspot cells share a number; -1 for non-hotspots)."""

    cell: np.ndarray
    passes: np.ndarray
    events: np.ndarray
    rate: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    cluster: np.ndarray

    def clusters(self, grid: Grid) -> list[dict]:
        """One record per hotspot: its peak cell (the member with the highest event rate —
        Gi* flags a neighbourhood, the peak says where in it), centre, cells, events, passes."""
        out = []
        for c in np.unique(self.cluster[self.cluster >= 0]):
            members = np.flatnonzero(self.cluster == c)
            peak = members[np.lexsort((-self.z[members], -self.rate[members]))[0]]
            lon, lat = grid.centre(self.cell[peak:peak + 1])
            out.append({
                "cluster": int(c), "peak_cell": int(self.cell[peak]), "lon": float(lon[0]), "lat": float(lat[0]),
                "cells": int(len(members)), "events": int(self.events[members].sum()),
                "passes": int(self.passes[members].sum()), "rate": float(self.rate[peak]),
                "z_max": float(self.z[members].max()),
                "q_min": float(self.q[members].min()),
            })
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


def events_per_cell(grid: Grid, track_index: np.ndarray, lon: np.ndarray, lat: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events located at (lon, lat) as (track, cell, count) rows."""
    return _count_pairs(np.asarray(track_index, dtype=np.int64), grid.cell_of_lonlat(lon, lat))


def hotspots(cells: np.ndarray, passes: np.ndarray, events: np.ndarray,
             params: HotspotParams = HotspotParams()) -> Hotspots:
    """Gi* hotspots from exposure and event counts per cell.

    cells/passes/events may hold several rows per cell (days, shifts); they are summed. A
    cell with events but no passes is impossible in real data and is ignored.
    """
    cell, (p_sum, e_sum) = _sum_by_cell(np.asarray(cells, dtype=np.int64),
                                        np.asarray(passes, dtype=np.float64), np.asarray(events, dtype=np.float64))
    tested = p_sum >= params.min_passes
    cell, p_sum, e_sum = cell[tested], p_sum[tested], e_sum[tested]
    if len(cell) == 0:
        return _empty()
    rate = e_sum / np.maximum(p_sum, 1.0)
    nb = queen_neighbours(cell)  # (9, n), -1 where that neighbour is not a tested cell
    present = nb >= 0
    z = gi_star(rate, nb)
    p = 1.0 - ndtr(z)
    q = benjamini_hochberg(p)
    local_events = np.where(present, e_sum[np.maximum(nb, 0)], 0.0).sum(axis=0)
    significant = (q <= params.fdr) & (z > 0) & (local_events >= params.min_events)
    cluster = _clusters(nb, significant)
    return Hotspots(cell, p_sum.astype(np.int64), e_sum.astype(np.int64), rate, z, p, q, significant, cluster)


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
    return Hotspots(i, i, i, f, f, f, f, np.zeros(0, dtype=bool), i)
