"""The wheel a user installs holds every package folder and the SQL migrations, and no benchmark code."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "fleetpilot": "fleetpilot",
    "ingest": "fleetpilot/ingest",
    "api": "fleetpilot/api",
    "analytics": "fleetpilot/analytics",
    "dashboards": "fleetpilot/dashboards",
    "rollup": "fleetpilot/rollup",
    "firmware-sim/fleetsim": "fleetsim",
}


def test_wheel_contains_all_packages_and_migrations(tmp_path):
    # Build from a copy: setuptools writes build/ next to the sources it builds.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", ".fleetpilot", "test-artifacts", "__pycache__"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("fleetpilot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.relative_to(ROOT / folder).as_posix()
            assert f"{package}/{relative}" in names, f"{folder}/{relative} is missing from the wheel"
    for sql in (ROOT / "fleetpilot/db/migrations").glob("*.sql"):
        assert f"fleetpilot/db/migrations/{sql.name}" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    # The benchmarks and load generators are bench/ (fleetpilot_bench), outside the wheel: of the
    # modules only the CLI's lazy launcher names the word.
    benchy = sorted(n for n in names if n.endswith(".py") and any(w in n for w in ("bench", "loadgen", "measure")))
    assert benchy == ["fleetpilot/commands/bench.py"]
