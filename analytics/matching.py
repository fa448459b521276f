"""Matching fixes to street segments with a raster spatial index.

Creating one shapely Point per fix costs ~0.5 µs, i.e. 3.8 s for a 7 M-fix fleet-day —
more than the whole analytics budget — so fixes never become geometries. Instead the
lines (streets, planned route segments) are rasterised once into a grid of ``cell_m``
cells, and every cell within ``radius_m`` of a line holds the nearest line and the
position along it (a Euclidean distance transform finds the nearest seeded cell).
Matching is then two floor divisions and a gather per fix.

Built once per city street network or route version and reused for every shift.
Definitions and thresholds: docs/analytics.md, "Matching".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike

from .geo import LocalFrame

RADIUS_M = 15.0  # a fix matches a line within this distance (docs/analytics.md, "Matching")
CELL_M = 4.0  # the grid's cell: matched distance and position err by at most its diagonal


@dataclass(frozen=True)
class Packed:
    """A LineIndex's grid as bytes (LineIndex.packed), without its ids and frame."""

    radius_m: float
    cell_m: float
    x0: float
    y0: float
    nx: int
    ny: int
    near: bytes
    label: bytes
    along: bytes
    length_m: bytes


@dataclass(frozen=True)
class LineIndex:
    """Nearest line within ``radius_m`` of any point, on a grid of ``cell_m`` cells.

    ids: line ids (e.g. segment ids) · length_m: line lengths in the frame (m) ·
    x0, y0: frame metres of the grid's lower-left corner · label: per cell the nearest
    line's index, -1 when none is within ``radius_m`` · along: per cell metres from the
    line's first vertex to the nearest point on it · order: argsort of ids (for lookups).
    Both are exact up to the grid: the
    matched distance and the position along err by at most one cell diagonal (``cell_m`` · √2).
    """

    ids: np.ndarray
    length_m: np.ndarray
    frame: LocalFrame
    radius_m: float
    cell_m: float
    x0: float
    y0: float
    nx: int
    ny: int
    label: np.ndarray
    along: np.ndarray
    order: np.ndarray  # argsort of ids, for looking ids up

    @classmethod
    def build(
        cls,
        ids: ArrayLike,
        lines_lonlat: ArrayLike,
        frame: LocalFrame,
        radius_m: float = RADIUS_M,
        cell_m: float = CELL_M,
    ) -> LineIndex:
        """Index shapely LineStrings given in lon/lat degrees (an array or list of them)."""
        lines = np.asarray(lines_lonlat, dtype=object)
        projected = shapely.transform(lines, lambda c: np.column_stack(frame.to_xy(c[:, 0], c[:, 1])))
        length = shapely.length(projected)
        # Sample every half cell so each cell a line crosses gets a seed.
        coords, owner = shapely.get_coordinates(shapely.segmentize(projected, cell_m / 2), return_index=True)
        step = np.hypot(*np.diff(coords, axis=0).T)
        same = owner[1:] == owner[:-1]
        cum = np.concatenate(([0.0], np.cumsum(np.where(same, step, 0.0))))
        first = np.concatenate(([0], np.flatnonzero(~same) + 1))
        along = cum - np.repeat(cum[first], np.diff(np.append(first, len(owner))))
        margin = radius_m + 2 * cell_m
        x0, y0 = coords[:, 0].min() - margin, coords[:, 1].min() - margin
        nx = int(np.ceil((coords[:, 0].max() + margin - x0) / cell_m))
        ny = int(np.ceil((coords[:, 1].max() + margin - y0) / cell_m))
        seed_cell = np.floor((coords[:, 1] - y0) / cell_m).astype(np.int64) * nx + np.floor(
            (coords[:, 0] - x0) / cell_m
        ).astype(np.int64)
        seed_label = np.full(nx * ny, -1, dtype=np.int32)
        seed_along = np.zeros(nx * ny, dtype=np.float32)
        seed_label[seed_cell] = owner
        seed_along[seed_cell] = along
        from scipy import ndimage  # here: ~0.25 s to import, and a stored index never needs it

        distance, nearest = ndimage.distance_transform_edt(
            (seed_label < 0).reshape(ny, nx), sampling=cell_m, return_indices=True
        )
        source = (nearest[0].astype(np.int64) * nx + nearest[1]).ravel()
        near = distance.ravel() <= radius_m
        label = np.where(near, seed_label[source], -1).astype(np.int32)
        along_cell = np.where(near, seed_along[source], 0.0).astype(np.float32)
        ids = np.asarray(ids)
        return cls(
            ids, length, frame, radius_m, cell_m, float(x0), float(y0), nx, ny, label, along_cell, np.argsort(ids)
        )

    def packed(self) -> Packed:
        """The grid as stored (rollup/street_index.py): the cells within ``radius_m`` of a line as a
        bit mask, and their lines and positions only (about a third of a city's cells)."""
        near = self.label >= 0
        return Packed(
            self.radius_m,
            self.cell_m,
            self.x0,
            self.y0,
            self.nx,
            self.ny,
            np.packbits(near).tobytes(),
            self.label[near].tobytes(),
            self.along[near].tobytes(),
            np.asarray(self.length_m, dtype=np.float64).tobytes(),
        )

    @classmethod
    def unpacked(cls, ids: ArrayLike, frame: LocalFrame, p: Packed) -> LineIndex:
        """The index ``packed`` gave, for the same ids and frame: equal to the one built."""
        ids = np.asarray(ids)
        cells = p.nx * p.ny
        near = np.unpackbits(np.frombuffer(p.near, dtype=np.uint8), count=cells).view(bool)
        label = np.full(cells, -1, dtype=np.int32)
        label[near] = np.frombuffer(p.label, dtype=np.int32)
        along = np.zeros(cells, dtype=np.float32)
        along[near] = np.frombuffer(p.along, dtype=np.float32)
        length = np.frombuffer(p.length_m, dtype=np.float64).copy()
        if len(length) != len(ids):
            raise ValueError(f"a packed index of {len(length)} lines for {len(ids)} ids")
        return cls(ids, length, frame, p.radius_m, p.cell_m, p.x0, p.y0, p.nx, p.ny, label, along, np.argsort(ids))

    def match(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per point (frame metres): nearest line index or -1, and metres along it."""
        inv = np.float32(1.0 / self.cell_m)
        ix = np.floor((x - np.float32(self.x0)) * inv).astype(np.int32)
        iy = np.floor((y - np.float32(self.y0)) * inv).astype(np.int32)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        cell = np.where(inside, iy.astype(np.int64) * self.nx + ix, 0)
        line = np.where(inside, self.label[cell], np.int32(-1))
        return line, np.where(inside, self.along[cell], np.float32(0.0))

    def positions(self, names: ArrayLike) -> np.ndarray:
        """Indices of the given line ids (ValueError if one is not indexed)."""
        names = np.asarray(names)
        at = np.minimum(np.searchsorted(self.ids, names, sorter=self.order), len(self.order) - 1)
        found = self.order[at]
        if len(names) and np.any(self.ids[found] != names):
            missing = names[self.ids[found] != names]
            raise ValueError(f"lines not in the index: {missing[:5].tolist()}")
        return found
