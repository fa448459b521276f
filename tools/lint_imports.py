"""Check the import contracts of pyproject.toml ([tool.importlinter]) with import-linter.

import-linter reads packages from the file system by name, and setup.py maps folders into
packages (tools/layout.py), so the contracts are checked over a mirror of the installed layout
in a temporary folder. Run by `./fp lint`; prints lint-imports' own report.

    python tools/lint_imports.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout import ROOT, mirror  # noqa: E402


def lint_imports(extra_files: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports over the mirrored layout (plus `extra_files`, relative path -> text: for tests)."""
    with tempfile.TemporaryDirectory(prefix="fp-imports-") as tmp:
        mirror(Path(tmp))
        for relative, text in (extra_files or {}).items():
            (Path(tmp) / relative).write_text(text)
        env = os.environ | {"PYTHONPATH": str(ROOT)}  # the contract type in tools/
        command = [str(Path(sys.executable).with_name("lint-imports")), str(ROOT / "pyproject.toml")]
        return subprocess.run([*command, "--no-cache"], cwd=tmp, env=env, capture_output=True, text=True)


if __name__ == "__main__":
    result = lint_imports()
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise SystemExit(result.returncode)
