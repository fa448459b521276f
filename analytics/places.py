"""Hotspots as places: significant grid cells or street segments that touch become one place,
named by the streets through it, with its rate, the fleet's rate, their ratio and intervals,
and its significance in words.

People act on places ("Madison Terrace at Austin Court"), not on 50 m cells with 64-bit ids,
and a Gi* neighbourhood flags cells next to the events as well as the events' own cells, so a
cell with no event can be "significant". Here a place is made only of significant units that
had events; touching ones (queen contiguity for cells, a shared end for segments) merge.

Pure: unit ids, counts and shapely geometries in a city's local metric frame
(``geo.LocalFrame``) in, records out. The figures of a place are sums of its units' figures,
so whoever passes only released units in (decision 0004) releases nothing new.
Definitions: docs/analytics.md, "Hotspots as places".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.special import gammaincinv
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .hotspots import queen_neighbours


@dataclass(frozen=True)
class PlaceParams:
    """street_m: a street runs through a place when it comes within this many metres of it
    (GPS noise is ~5 m, and a street along a cell's edge belongs to the cells on both sides) ·
    min_street_m: a street names a place only if at least this much of it lies within that
    band (a corner clipped is not a street through it) · near_m: a place on one street is
    also named by the nearest other street this close ("X near Y") · touch_m: street ends
    closer than this meet (segments of one network share their end points) · level: of the
    intervals."""

    street_m: float = 8.0
    min_street_m: float = 5.0
    near_m: float = 60.0
    touch_m: float = 1.0
    level: float = 0.95


@dataclass(frozen=True)
class Place:
    """One hotspot place: its units (positions in the input), events and passes summed over
    them, events per pass with its exact interval, the fleet's rate, the ratio to it with its
    interval (the fleet's rate, over far more passes, is taken as known), the events the
    fleet's rate predicts for these passes, and the smallest q of its units."""

    members: np.ndarray
    events: int
    passes: int
    rate: float
    rate_low: float
    rate_high: float
    fleet_rate: float
    ratio: float
    ratio_low: float
    ratio_high: float
    expected: float
    q: float


def group_cells(cell: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Labels 0..k-1 of the queen-connected groups of cells where ``member``; -1 elsewhere.
    ``cell``: ids as ``hotspots.Grid`` packs them, in any order, each once."""
    cell = np.asarray(cell, dtype=np.int64)
    member = np.asarray(member, dtype=bool)
    order = np.argsort(cell)
    chosen = member[order]
    nb = queen_neighbours(cell[order])  # (9, n) positions in the sorted ids, -1 = absent
    src = np.broadcast_to(np.arange(len(cell)), nb.shape)
    linked = (nb >= 0) & chosen[np.maximum(nb, 0)] & chosen[src]
    labels = np.empty(len(cell), dtype=np.int64)
    labels[order] = _components(len(cell), src[linked], nb[linked], chosen)
    return labels


def group_segments(ends: np.ndarray, member: np.ndarray, touch_m: float = PlaceParams.touch_m) -> np.ndarray:
    """Labels 0..k-1 of the groups of segments where ``member`` that meet end to end; -1
    elsewhere. ``ends``: (n, 2, 2) first and last point (x, y metres) of each segment."""
    ends = np.asarray(ends, dtype=np.float64).reshape(-1, 2, 2)
    member = np.asarray(member, dtype=bool)
    chosen = np.flatnonzero(member)
    points = ends[chosen].reshape(-1, 2)  # two ends per chosen segment
    pairs = cKDTree(points).query_pairs(touch_m, output_type="ndarray") if len(points) else np.zeros((0, 2), int)
    owner = np.repeat(chosen, 2)
    return _components(len(member), owner[pairs[:, 0]], owner[pairs[:, 1]], member)


def poisson_interval(events: np.ndarray, level: float = PlaceParams.level) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of a Poisson mean from observed counts: at ``level`` the true
    mean lies in it at least that often. 0 events give a lower end of 0."""
    events = np.asarray(events, dtype=np.float64)
    tail = (1.0 - level) / 2
    # chi2.ppf(q, 2k) / 2 is gammaincinv(k, q) (scipy.stats' chi2._ppf; equal for 0..3,000
    # events), without importing scipy.stats (~0.3 s of a rollup's CPU).
    with np.errstate(invalid="ignore"):  # k = 0: no lower end
        low = np.where(events > 0, gammaincinv(events, tail), 0.0)
    high = gammaincinv(events + 1, 1 - tail)
    return low, high


def summarise(
    labels: np.ndarray,
    events: np.ndarray,
    passes: np.ndarray,
    q: np.ndarray,
    fleet_rate: float,
    params: PlaceParams = PlaceParams(),
) -> list[Place]:
    """One Place per label ≥ 0 whose rate is above the fleet's (a group at or below it is no
    hotspot, whatever its units' tests said), most significant first, then the highest ratio."""
    labels = np.asarray(labels)
    events = np.asarray(events, dtype=np.float64)
    passes = np.asarray(passes, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    out = []
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        n_events, n_passes = events[members].sum(), passes[members].sum()
        if n_passes <= 0 or fleet_rate <= 0 or n_events / n_passes <= fleet_rate:
            continue
        low, high = (float(v[0]) for v in poisson_interval(np.array([n_events]), params.level))
        rate = n_events / n_passes
        out.append(
            Place(
                members=members,
                events=int(n_events),
                passes=int(n_passes),
                rate=float(rate),
                rate_low=low / n_passes,
                rate_high=high / n_passes,
                fleet_rate=float(fleet_rate),
                ratio=float(rate / fleet_rate),
                ratio_low=low / n_passes / fleet_rate,
                ratio_high=high / n_passes / fleet_rate,
                expected=float(n_passes * fleet_rate),
                q=float(q[members].min()),
            )
        )
    out.sort(key=lambda p: (p.q, -p.ratio, int(p.members[0])))
    return out


def significance_words(events: int, expected: float, q: float, fdr: float, what: str = "events") -> str:
    """The evidence of a place in words: what happened against what the fleet's rate
    predicts, how strong the evidence is, and what the false-discovery control promises."""
    strength = "very strong" if q <= 0.001 else "strong" if q <= 0.01 else "clear"
    q_text = "below 0.0001" if q < 1e-4 else f"{q:.2g}"
    predicted = f"{expected:,.1f}" if expected >= 1 else f"{expected:.2g}"  # 0.02, not 0.0
    return (
        f"{events:,} {what} where the fleet's rate predicts {predicted}: {strength} evidence that this is "
        f"not chance (q {q_text}; of all places flagged at q ≤ {fdr:g}, at most {fdr:.0%} are expected to be false alarms)."
    )


class Streets:
    """The city's streets (names and LineStrings in local metres) for naming places."""

    def __init__(self, names: list[str | None], lines: list[LineString]) -> None:
        self.names = list(names)
        self.lines: list[LineString] = list(lines)
        self.tree = shapely.STRtree(self.lines)

    def name(self, area: BaseGeometry, params: PlaceParams = PlaceParams()) -> tuple[str, list[str]]:
        """A place's name from the streets through ``area`` (metres) and those streets,
        longest first: "X" on one street, "X at Y" where X crosses Y in it, "X between Y and
        Z" where it crosses two, "X near Y" where Y passes by without meeting X."""
        band = area.buffer(params.street_m)
        inside: dict[str, list] = {}
        for i in self.tree.query(band, predicate="intersects"):
            if self.names[i]:
                inside.setdefault(self.names[i], []).append(self.lines[i].intersection(band))
        clipped = {n: unary_union(parts) for n, parts in inside.items()}
        present = sorted(
            (n for n, g in clipped.items() if g.length >= params.min_street_m), key=lambda n: (-clipped[n].length, n)
        )
        if not present:
            nearest = self._nearest(area, set(), params.near_m)
            return (f"near {nearest}" if nearest else "a place off the named streets"), ([nearest] if nearest else [])
        primary = present[0]
        crossing = [n for n in present[1:] if clipped[n].distance(clipped[primary]) <= params.touch_m]
        if len(crossing) >= 2:
            # The outermost two along the primary street (its longer extent in the place).
            x0, y0, x1, y1 = clipped[primary].bounds
            axis = 0 if x1 - x0 >= y1 - y0 else 1
            along = {
                n: shapely.get_coordinates(clipped[n].intersection(clipped[primary].buffer(params.touch_m)))[
                    :, axis
                ].mean()
                for n in crossing
            }
            ends = sorted(crossing, key=lambda n: (along[n], n))
            return f"{primary} between {ends[0]} and {ends[-1]}", present
        if crossing:
            return f"{primary} at {crossing[0]}", present
        nearby = present[1] if len(present) > 1 else self._nearest(area, {primary}, params.near_m)
        return (f"{primary} near {nearby}" if nearby else primary), present

    def _nearest(self, area: BaseGeometry, skip: set[str], within_m: float) -> str | None:
        candidates = [i for i in self.tree.query(area.buffer(within_m)) if self.names[i] and self.names[i] not in skip]
        if not candidates:
            return None
        best = min(candidates, key=lambda i: (self.lines[i].distance(area), self.names[i]))
        return self.names[best]


def _components(n: int, src: np.ndarray, dst: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Connected components over the given links, numbered 0..k-1 in input order; -1 where not member."""
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    label = np.where(member, label, -1)
    if member.any():
        # Renumber by first appearance so numbers do not depend on scipy's internals.
        _, first, dense = np.unique(label[member], return_index=True, return_inverse=True)
        rank = np.argsort(np.argsort(first))
        label[member] = rank[dense]
    return label
