"""A complaint to the planned service segments it is about (pure: shapely, no I/O).

With a position: the planned segments within `radius_m` of it, nearest first (a GPS pin on
a house is some metres off the street centre line). With only an address: the segments whose
street name matches the address's street (house number and unit dropped, case and common
suffix spellings folded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import shapely

from fleetpilot.analytics.geo import LocalFrame

SUFFIXES = {"street": "st", "avenue": "ave", "road": "rd", "drive": "dr", "court": "ct", "lane": "ln",
            "boulevard": "blvd", "place": "pl", "terrace": "ter"}  # fmt: skip


@dataclass(frozen=True)
class Segments:
    """Planned service segments: ids, street names and geometries (lon/lat LineStrings)."""

    ids: list[str]
    names: list[str | None]
    lines: list[list[list[float]]]


def street_key(text: str | None) -> str | None:
    """'1234 N. Main Street, Apt 2' -> 'n main st' (number, unit and punctuation dropped)."""
    if not text:
        return None
    street = text.split(",")[0].lower()
    street = re.sub(r"[^\w\s]", " ", street)
    words = [w for w in street.split() if not w.isdigit()]
    words = [SUFFIXES.get(w, w) for w in words]
    return " ".join(words) or None


def by_position(segments: Segments, lon: float, lat: float, radius_m: float = 30.0) -> list[str]:
    if not segments.ids:
        return []
    frame = LocalFrame(lon, lat)
    lines = []
    for coords in segments.lines:
        xy = np.asarray(coords, dtype=float)
        x, y = frame.to_xy(xy[:, 0], xy[:, 1])
        lines.append(shapely.linestrings(np.column_stack([x, y])))
    distance = shapely.distance(np.array(lines), shapely.points(0.0, 0.0))
    order = np.argsort(distance, kind="stable")
    return [segments.ids[i] for i in order if distance[i] <= radius_m]


def by_address(segments: Segments, address: str | None) -> list[str]:
    key = street_key(address)
    if key is None:
        return []
    return [sid for sid, name in zip(segments.ids, segments.names) if street_key(name) == key]
