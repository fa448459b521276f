"""Type-check with mypy (pyproject.toml, [tool.mypy]) over the installed package layout.

mypy finds modules by name on the file system and does not run the editable install's import
hook, so it reads a mirror of the layout (tools/layout.py) kept in .fleetpilot/layout, a stable
place so its cache (.fleetpilot/mypy-cache) is reused. Paths in its report are mapped back
to the source folders. Run by `./fp lint`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout import ROOT, mirror, unmap  # noqa: E402

PACKAGES = ("fleetpilot", "fleetsim", "fleetpilot_bench", "streetroute")


def main() -> int:
    layout = ROOT / ".fleetpilot" / "layout"
    shutil.rmtree(layout, ignore_errors=True)
    mirror(layout)
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    command += ["--cache-dir", str(ROOT / ".fleetpilot" / "mypy-cache")]
    for package in PACKAGES:
        command += ["-p", package]
    result = subprocess.run(command, cwd=layout, capture_output=True, text=True)
    sys.stdout.write(unmap(result.stdout))
    sys.stderr.write(unmap(result.stderr))
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
