"""`fleetpilot bench` finds the benchmarks outside the product, and says so when they are absent."""

from __future__ import annotations

import subprocess
import sys

from fleetpilot.commands.bench import TARGETS

# Runs the CLI with the fleetpilot_bench package hidden, as in an install from the wheel.
WITHOUT_BENCH = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "fleetpilot_bench":
            raise ModuleNotFoundError(f"No module named {name!r}", name="fleetpilot_bench")
sys.meta_path.insert(0, Hide())
from fleetpilot.cli import main
sys.exit(main(["bench", "analytics", "--help"]))
"""


def test_every_target_is_a_benchmark_module():
    import importlib

    for target, name in TARGETS.items():
        assert name.startswith("fleetpilot_bench."), target
        assert callable(importlib.import_module(name).main), target


def test_without_the_bench_package_the_cli_says_where_it_lives():
    out = subprocess.run([sys.executable, "-c", WITHOUT_BENCH], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "benchmarks are not installed" in out.stderr and "bench/" in out.stderr
    assert "Traceback" not in out.stderr


def test_fleetsim_bench_forwards_to_the_bench_package():
    out = subprocess.run(
        [sys.executable, "-m", "fleetsim.cli", "bench", "offline", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "--vehicles" in out.stdout
