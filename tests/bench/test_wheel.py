"""The product wheel ships no benchmark code (the benchmarks are bench/, a package of their own)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_has_the_product_and_no_benchmarks(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("fleetpilot-*.whl")
    names = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")]
    # The product is there, the rollup stage included.
    for module in ("fleetpilot/cli.py", "fleetpilot/rollup/job.py", "fleetpilot/ingest/worker.py", "fleetsim/cli.py"):
        assert module in names
    # No benchmark or load generator: only the CLI's lazy launcher names the word.
    benchy = [n for n in names if any(w in n for w in ("bench", "loadgen", "measure"))]
    assert benchy == ["fleetpilot/commands/bench.py"]
