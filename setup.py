"""Package discovery for the design card's folder layout.

pyproject.toml holds all metadata; this file only computes `packages`, because
setuptools' find cannot discover sub-packages of folders mapped by package-dir.
Namespace discovery also lists the data-only folders (migrations, the dashboards' static
files) as packages, so their files ship without setuptools' "would be ignored" warnings.
"""

from setuptools import find_namespace_packages, setup

PACKAGE_DIRS = {
    "fleetpilot": "fleetpilot",
    "fleetpilot.ingest": "ingest",
    "fleetpilot.api": "api",
    "fleetpilot.analytics": "analytics",
    "fleetpilot.dashboards": "dashboards",
    "fleetpilot.rollup": "rollup",
    "fleetsim": "firmware-sim/fleetsim",
    # Street routing shared by the planner and the simulator, which may not import each other.
    "streetroute": "streetroute",
}


def _packages() -> list[str]:
    found = []
    for name, folder in PACKAGE_DIRS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]
    return sorted(set(found))


setup(package_dir=PACKAGE_DIRS, packages=_packages())
