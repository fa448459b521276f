"""Local metric projection around the city centre.

The simulated city spans a few tens of kilometres, so an equirectangular projection around
the centre is accurate to well under a metre there; all geometry is done in metres (x east,
y north) and converted to WGS84 lon/lat only for output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection centred on (lon0, lat0) in degrees."""

    lon0: float
    lat0: float

    @property
    def _m_per_deg_lat(self) -> float:
        return EARTH_RADIUS_M * np.pi / 180.0

    @property
    def _m_per_deg_lon(self) -> float:
        return self._m_per_deg_lat * np.cos(np.radians(self.lat0))

    def to_lonlat(self, x, y):
        """Metres east/north of the centre → (lon, lat) degrees (arrays or scalars)."""
        return (self.lon0 + np.asarray(x) / self._m_per_deg_lon, self.lat0 + np.asarray(y) / self._m_per_deg_lat)

    def to_xy(self, lon, lat):
        """(lon, lat) degrees → metres east/north of the centre."""
        return (
            (np.asarray(lon) - self.lon0) * self._m_per_deg_lon,
            (np.asarray(lat) - self.lat0) * self._m_per_deg_lat,
        )


def compass_heading(dx, dy):
    """Heading in degrees clockwise from north, in [0, 360), of a direction (east, north)."""
    return np.degrees(np.arctan2(dx, dy)) % 360.0
