"""The import contracts (pyproject.toml, [tool.importlinter]) hold, and each kind of break is caught."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from lint_imports import lint_imports  # noqa: E402


def test_the_contracts_hold_on_this_tree():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 9 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("path", "source", "contract"),
    [
        ("fleetpilot/analytics/leak.py", "import asyncpg\n", "analytics imports no I/O"),
        ("fleetsim/leak.py", "from fleetpilot.settings import Settings\n", "the simulator imports no server code"),
        ("fleetpilot/api/leak.py", "from fleetpilot.ingest import worker\n", "the API does not reach into the ingest"),
        (
            "fleetpilot/rollup/leak.py",
            "from fleetpilot.api import policy\n",
            "the core and the rollup stage import no API",
        ),
        (
            "fleetpilot/db/leak.py",
            "def f():\n    from fleetpilot.api import app\n",
            "the core and the rollup stage import no API",
        ),
        ("fleetpilot/api/leak.py", "from fleetpilot.rollup.job import _json\n", "private (underscore) name"),
        ("fleetpilot/leak.py", "from fleetpilot_bench import api\n", "the product imports no benchmark"),
        ("streetroute/leak.py", "from fleetpilot.settings import Settings\n", "shared street routing imports neither"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(path, source, contract):
    result = lint_imports({path: source})
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts")[1]
    assert contract in broken and "leak" in broken
