"""The columnar inputs every analytics function takes: fixes and device events.

Rows are sorted by (group, t). The group column is called ``vehicle`` because that is what
the simulator and a fleet-day load give, but any integer code works whose runs delimit
independent tracks — the rollup job passes one code per vehicle-shift, so nothing ever
joins two shifts. Columns are plain numpy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import DTypeLike


@dataclass(frozen=True)
class Fixes:
    """GPS fixes of one or more tracks.

    vehicle: int codes, runs delimit tracks · t: int64 epoch milliseconds · lon, lat: float64
    degrees (WGS84) · speed: float32 m/s as reported by the unit (NaN = not reported) ·
    heading: float32 degrees clockwise from north, course over ground (NaN = unknown) ·
    hdop: float32 horizontal dilution of precision (NaN = unknown).
    """

    vehicle: np.ndarray
    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    speed: np.ndarray
    heading: np.ndarray
    hdop: np.ndarray

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray], *, check: bool = True) -> Fixes:
        """Build from a mapping of columns; missing speed/heading/hdop become NaN.

        With ``check`` the order (vehicle, then t strictly increasing within a vehicle) is
        verified in O(n); analytics over unsorted rows would be silently wrong.
        """
        n = len(columns["t"])
        nan32 = np.full(n, np.nan, dtype=np.float32)
        fixes = cls(
            vehicle=np.asarray(columns["vehicle"]),
            t=np.asarray(columns["t"], dtype=np.int64),
            lon=np.asarray(columns["lon"], dtype=np.float64),
            lat=np.asarray(columns["lat"], dtype=np.float64),
            speed=np.asarray(columns.get("speed", nan32), dtype=np.float32),
            heading=np.asarray(columns.get("heading", nan32), dtype=np.float32),
            hdop=np.asarray(columns.get("hdop", nan32), dtype=np.float32),
        )
        if check:
            fixes.check_sorted()
        return fixes

    @classmethod
    def from_received(cls, columns: Mapping[str, np.ndarray]) -> Fixes:
        """Build from fixes in any order, as devices deliver them (store-and-forward replays,
        a clock that jumped back): sorted by (vehicle, t), and of fixes with the same time
        the first received is kept — as the store's unique (vehicle, ts) does. The stretch
        that a clock jump interleaves is handled by segmentation (time jumps)."""
        vehicle = np.asarray(columns["vehicle"])
        t = np.asarray(columns["t"], dtype=np.int64)
        order = np.lexsort((t, vehicle))  # stable: equal keys keep their received order
        v, ts = vehicle[order], t[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (v[1:] != v[:-1]) | (ts[1:] != ts[:-1])
        keep = order[first]
        return cls.from_columns({name: np.asarray(col)[keep] for name, col in columns.items()})

    def __len__(self) -> int:
        return len(self.t)

    def check_sorted(self) -> None:
        """Raise ValueError unless rows are grouped by vehicle and t increases within each."""
        lengths = {f.name: len(getattr(self, f.name)) for f in fields(self)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"columns differ in length: {lengths}")
        same = self.vehicle[1:] == self.vehicle[:-1]
        if np.any(same & (np.diff(self.t) <= 0)):
            raise ValueError("fixes must be sorted by (vehicle, t) without duplicate times")
        starts = group_starts(self.vehicle)
        if len(np.unique(self.vehicle[starts])) != len(starts):
            raise ValueError("a vehicle's fixes are split into several runs; sort by (vehicle, t)")


@dataclass(frozen=True)
class DeviceEvents:
    """Events the unit detected itself, sorted by (vehicle, t).

    kind: names as in the events table ('harsh_brake', 'harsh_accel', 'harsh_corner',
    'reversing', 'bin_lift', 'ignition_on', 'ignition_off') · mag: the unit's magnitude
    (m/s² for harsh events; NaN when not given) · speed: m/s at the event (NaN when not given).
    """

    vehicle: np.ndarray
    t: np.ndarray
    kind: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    mag: np.ndarray
    speed: np.ndarray

    @classmethod
    def from_columns(
        cls, columns: Mapping[str, np.ndarray], kind_names: Mapping[int, str] | None = None
    ) -> DeviceEvents:
        """Build from columns; integer kind codes are mapped to names with ``kind_names``."""
        n = len(columns["t"])
        kind = np.asarray(columns["kind"])
        if kind_names is not None and kind.dtype.kind in "iu":
            lookup = np.array([kind_names.get(code, "") for code in range(int(kind.max(initial=-1)) + 1)], dtype=object)
            kind = lookup[kind]
        nan = np.full(n, np.nan)
        return cls(
            vehicle=np.asarray(columns["vehicle"]),
            t=np.asarray(columns["t"], dtype=np.int64),
            kind=kind.astype(str),
            lon=np.asarray(columns.get("lon", nan), dtype=np.float64),
            lat=np.asarray(columns.get("lat", nan), dtype=np.float64),
            mag=np.asarray(columns.get("mag", nan), dtype=np.float64),
            speed=np.asarray(columns.get("speed", nan), dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.t)

    def select(self, mask: np.ndarray) -> DeviceEvents:
        return DeviceEvents(*(getattr(self, f.name)[mask] for f in fields(self)))


def group_starts(vehicle: np.ndarray) -> np.ndarray:
    """Index of the first row of each run of equal ``vehicle`` codes (empty for no rows)."""
    if len(vehicle) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(([0], np.flatnonzero(vehicle[1:] != vehicle[:-1]) + 1))


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of the runs of True in a boolean array."""
    padded = np.concatenate(([False], mask, [False])).view(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges[0::2], edges[1::2]


def ramp(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, k-1 for each k in ``lengths``, concatenated (row offsets inside runs)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) - offsets


def runs_split(mask: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`runs`, but a run also ends before every row where ``cut`` is True (e.g.
    the first row of each track), so no run spans two tracks."""
    first, stop = runs(mask)
    inner = np.flatnonzero(cut & mask)
    inner = inner[~np.isin(inner, first)]  # cuts that fall strictly inside a run
    return np.sort(np.concatenate([first, inner])), np.sort(np.concatenate([stop, inner]))


def segment_reduce(
    ufunc: np.ufunc, values: np.ndarray, first: np.ndarray, last: np.ndarray, dtype: DTypeLike | None = None
) -> np.ndarray:
    """``ufunc`` reduced over each row range first[k]..last[k] (inclusive, sorted, disjoint),
    without gathering the rows: one ``reduceat`` over interleaved boundaries."""
    if len(first) == 0:
        return np.zeros(0, dtype=dtype or values.dtype)
    bounds = np.empty(2 * len(first), dtype=np.int64)
    bounds[0::2] = first
    bounds[1::2] = last + 1
    if bounds[-1] == len(values):  # the last range runs to the end: reduceat needs no end mark
        bounds = bounds[:-1]
    return ufunc.reduceat(values, bounds, dtype=dtype)[0::2]
