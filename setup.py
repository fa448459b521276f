"""Package discovery for the design card's folder layout.

pyproject.toml holds all metadata; this file only computes `packages`, because
setuptools' find cannot discover sub-packages of folders mapped by package-dir.
"""
from setuptools import find_packages, setup

PACKAGE_DIRS = {
    "fleetpilot": "fleetpilot",
    "fleetpilot.ingest": "ingest",
    "fleetpilot.api": "api",
    "fleetpilot.analytics": "analytics",
    "fleetpilot.dashboards": "dashboards",
    "fleetsim": "firmware-sim/fleetsim",
}


def _packages() -> list[str]:
    found = []
    for name, folder in PACKAGE_DIRS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return sorted(set(found))


setup(package_dir=PACKAGE_DIRS, packages=_packages())
