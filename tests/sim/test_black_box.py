"""The simulator is a black box: it must not import server code."""

from __future__ import annotations

import ast
from pathlib import Path

import fleetsim

PACKAGE = Path(fleetsim.__file__).resolve().parent


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(str(node.args[0].value))
    return names


def test_package_has_modules():
    assert len(list(PACKAGE.glob("*.py"))) > 10


def test_no_module_imports_the_server():
    offenders = {
        p.name: n
        for p in PACKAGE.rglob("*.py")
        for n in _imports(p)
        if n == "fleetpilot" or n.startswith("fleetpilot.")
    }
    assert offenders == {}


def test_no_source_mentions_the_server_package_in_code():
    # Catches dynamic tricks too; the word may appear in prose only (docstrings/comments).
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert "fleetpilot." not in node.value, f"{path.name}: {node.value[:60]!r}"


def test_detector_sees_a_server_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from fleetpilot.protocol import x\nimport importlib\nimportlib.import_module('fleetpilot.db')\n")
    assert _imports(bad) == ["fleetpilot.protocol", "importlib", "fleetpilot.db"]
