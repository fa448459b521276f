"""The synthetic city with a real city's irregularity (`--city-style irregular`).

The same districts and arterials as the grid city (fleetsim.city), but inside them: junctions
moved by up to ~20 m, about one residential street in eight missing (blocks of different sizes
and shapes), about a third of the residential streets curved (a bulge of up to a sixth of their
length), and cul-de-sacs (dead-end streets into a block, where trucks turn round). It is written
as a street layer and built exactly as an imported network is (fleetsim.streetnet: largest
strongly connected part, districts by bisection, facilities placed on the network), so tests on
it depend on no grid geometry. Deterministic in (seed, number of districts).
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim.city import City
from fleetsim.geo import Projection
from fleetsim.names import ARTERIAL_SUFFIX, RESIDENTIAL_SUFFIX_X, RESIDENTIAL_SUFFIX_Y, STREET_STEMS
from fleetsim.streetnet import build_street_city

P_MISSING = 0.12
P_CURVED = 0.35
P_CUL_DE_SAC = 0.15  # per junction inside a district
CENTRE = (-96.797, 32.776)


def irregular_streets(seed: int, n_districts: int, block: int = 9, centre=CENTRE) -> list[dict]:
    """Street features (the layer streetnet reads) of the irregular city for `seed`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1AE6]))
    ddx = max(1, math.ceil(math.sqrt(n_districts)))
    ddy = max(1, math.ceil(n_districts / ddx))
    nx, ny = ddx * block + 1, ddy * block + 1
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(90.0, 150.0, nx - 1))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(80.0, 140.0, ny - 1))])
    xs -= xs[-1] / 2
    ys -= ys[-1] / 2
    gx, gy = np.meshgrid(xs, ys)  # [j, i]
    on_arterial = (np.arange(ny)[:, None] % block == 0) | (np.arange(nx)[None, :] % block == 0)
    jitter = np.where(on_arterial, 1.5, 9.0)
    px = gx + rng.normal(0.0, 1.0, gx.shape) * jitter
    py = gy + rng.normal(0.0, 1.0, gy.shape) * jitter
    projection = Projection(*centre)
    stems = rng.permutation(len(STREET_STEMS))
    features: list[dict] = []

    def add(points: np.ndarray, road_class: str, limit: float, one_way: bool, name: str) -> None:
        lon, lat = projection.to_lonlat(points[:, 0], points[:, 1])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": np.round(np.column_stack([lon, lat]), 7).tolist()},
                "properties": {
                    "kind": "street",
                    "segment_id": f"seg-{len(features):06d}",
                    "name": name,
                    "road_class": road_class,
                    "speed_limit_kmh": limit,
                    "one_way": one_way,
                },
            }
        )

    def street(a: tuple[int, int], b: tuple[int, int], arterial: bool, one_way: bool, name: str) -> None:
        (ja, ia), (jb, ib) = a, b
        p0, p1 = np.array([px[ja, ia], py[ja, ia]]), np.array([px[jb, ib], py[jb, ib]])
        if arterial:
            add(np.array([p0, p1]), "secondary", 50.0, False, name)
            return
        if rng.random() < P_MISSING:
            return
        if rng.random() < P_CURVED:
            t = np.linspace(0.0, 1.0, 9)[:, None]
            normal = np.array([-(p1 - p0)[1], (p1 - p0)[0]])
            bulge = rng.uniform(-1.0, 1.0) / 6.0
            points = p0 + t * (p1 - p0) + np.sin(np.pi * t) * bulge * normal
        else:
            points = np.array([p0, p1])
        add(points, "residential", 30.0, one_way, name)

    one_way_row = rng.random(ny) < 0.3
    for j in range(ny):
        for i in range(nx - 1):
            arterial = j % block == 0
            suffix = ARTERIAL_SUFFIX[j % 4] if arterial else RESIDENTIAL_SUFFIX_X[j % 4]
            oneway = bool(one_way_row[j]) and not arterial
            a, b = ((j, i), (j, i + 1)) if j % 2 == 0 or not oneway else ((j, i + 1), (j, i))
            street(a, b, arterial, oneway, f"{STREET_STEMS[stems[j % len(stems)]]} {suffix}")
    for i in range(nx):
        for j in range(ny - 1):
            arterial = i % block == 0
            suffix = ARTERIAL_SUFFIX[(i + 1) % 4] if arterial else RESIDENTIAL_SUFFIX_Y[i % 4]
            street((j, i), (j + 1, i), arterial, False, f"{STREET_STEMS[stems[(ny + i) % len(stems)]]} {suffix}")
    # Cul-de-sacs: from a junction inside a district diagonally into a block, 35–55 % of the way.
    for j in range(1, ny - 1):
        for i in range(1, nx - 1):
            if on_arterial[j, i] or rng.random() >= P_CUL_DE_SAC:
                continue
            dj, di = rng.choice([-1, 1]), rng.choice([-1, 1])
            p0 = np.array([px[j, i], py[j, i]])
            corner = np.array([px[j + dj, i + di], py[j + dj, i + di]])
            end = p0 + rng.uniform(0.35, 0.55) * (corner - p0)
            add(
                np.array([p0, end]),
                "residential",
                30.0,
                False,
                f"{STREET_STEMS[stems[(i * 7 + j) % len(stems)]]} Close",
            )
    return features


def build_irregular_city(seed: int, n_districts: int, name: str = "metro") -> City:
    return build_street_city(irregular_streets(seed, n_districts), seed, n_districts, name=name)
