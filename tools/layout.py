"""Mirror the installed package layout as a tree of symlinks, for tools that read sources by
package name (import-linter, mypy).

setup.py maps the design card's folders into packages (`analytics/` is fleetpilot.analytics,
`firmware-sim/fleetsim/` is fleetsim); an editable install resolves that with an import hook
that static tools do not run. The mirror holds a symlink per source file at the path its
module has once installed, plus bench/ (fleetpilot_bench).

    python tools/layout.py DEST            # DEST/fleetpilot/analytics/stops.py -> analytics/stops.py
    python tools/layout.py --unmap         # stdin to stdout: installed paths back to source paths
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_dirs() -> dict[str, str]:
    """setup.py's PACKAGE_DIRS (read, not run: importing setup.py would run setup()) + bench."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "PACKAGE_DIRS" for t in node.targets):
            return ast.literal_eval(node.value) | {"fleetpilot_bench": "bench/fleetpilot_bench"}
    raise SystemExit("setup.py has no PACKAGE_DIRS")


def mirror(dest: Path) -> None:
    dirs = package_dirs()
    for package, folder in sorted(dirs.items()):
        target = dest / package.replace(".", "/")
        nested = [f for p, f in dirs.items() if p != package and p.startswith(package + ".")]
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "__pycache__" in relative.parts or any(relative.is_relative_to(n) for n in nested):
                continue
            link = target / path.relative_to(ROOT / folder)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                os.symlink(path, link)


def unmap(text: str) -> str:
    """`fleetpilot/analytics/stops.py` (as the mirror names it) back to `analytics/stops.py`."""
    dirs = sorted(package_dirs().items(), key=lambda item: -len(item[0]))
    pattern = re.compile(r"(?<![\w/])(" + "|".join(re.escape(p.replace(".", "/")) for p, _ in dirs) + r")/")
    folders = {p.replace(".", "/"): f for p, f in dirs}
    return pattern.sub(lambda m: folders[m.group(1)] + "/", text)


if __name__ == "__main__":
    if sys.argv[1:] == ["--unmap"]:
        sys.stdout.write(unmap(sys.stdin.read()))
    elif len(sys.argv) == 2:
        mirror(Path(sys.argv[1]))
    else:
        raise SystemExit(__doc__)
