"""The rollup process imports light and reads first (docs/decisions/0045): its job module pulls
in none of the analytics, and nothing on its path imports scipy.stats."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import fleetpilot.commands.rollup
light = sorted(m for m in ("fleetpilot.analytics.pipeline", "fleetpilot.rollup.compute", "scipy.stats") if m in sys.modules)
from fleetpilot.rollup.job import _import_heavy
_import_heavy()
print(",".join(light), "|", "scipy.stats" in sys.modules, "fleetpilot.analytics.pipeline" in sys.modules)
"""


def test_the_rollup_command_imports_no_analytics_and_its_path_no_scipy_stats():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "| False True", out
