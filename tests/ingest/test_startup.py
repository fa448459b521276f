"""`fleetpilot ingest` imports only what the ingest needs (no analytics stack, no other command)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from fleetpilot.cli import build_parser
args = build_parser("ingest").parse_args(["ingest", "--worker-id", "7"])
assert args.worker_id == "7" and args._run.__module__ == "fleetpilot.commands.ingest"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "numpy", "pandas", "fastapi")
               or m.startswith(("fleetpilot.rollup", "fleetpilot.commands.rollup", "fleetpilot.analytics")))
print(" ".join(heavy))
"""


def test_ingest_command_imports_lazily():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_all_commands_still_listed():
    out = subprocess.run([sys.executable, "-m", "fleetpilot.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ingest" in out.stdout and "rollup" in out.stdout
