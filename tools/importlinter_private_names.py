"""An import-linter contract: nothing imports a private (underscore) name of another package.

import-linter's own `private_modules` contract covers modules named `_x`; this one covers the
names inside modules: `from fleetpilot.urls import _x` in the ingest is the ingest using
a detail the core may change at will. Each module of the root packages is read with `ast`
(imports inside functions count too); an import is private when a component of the imported
module or an imported name starts with one underscore (dunders are public). It is allowed
within one component: the longest of `components` that the importer and the imported module
both belong to (a package of the project, or a third-party distribution's top level).

Loaded by `lint-imports` from the repository root (it puts the working directory on sys.path);
configured in pyproject.toml under [tool.importlinter].
"""

from __future__ import annotations

import ast
import importlib.util

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def component(module: str, components: list[str]) -> str:
    """The longest listed component holding `module`; an unlisted module's own top level."""
    holding = [c for c in components if module == c or module.startswith(c + ".")]
    return max(holding, key=len) if holding else module.split(".")[0]


def private_imports(module: str, source: str, is_package: bool) -> list[tuple[int, str, str]]:
    """(line, imported module, private part) of each private import in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            pairs = [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importer's package
                package = module if is_package else module.rsplit(".", 1)[0]
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            pairs = [(base, f"{base}.{alias.name}") for alias in node.names]
        else:
            continue
        for imported, full in pairs:
            private = [part for part in full.split(".") if is_private(part)]
            if private:
                found.append((node.lineno, imported, private[0]))
    return found


class PrivateNamesContract(Contract):
    type_name = "private_names"

    components = fields.ListField(subfield=fields.StringField(), required=False)
    ignore_imports = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        components = list(self.components or [])  # type: ignore[call-overload]
        ignored = {i.strip() for i in (self.ignore_imports or ())}  # type: ignore[attr-defined]
        illegal, used = [], set()
        for module in sorted(graph.modules):
            if graph.is_module_squashed(module):  # a third-party package: not read, only imported
                continue
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                continue
            with open(spec.origin, encoding="utf-8") as f:
                source = f.read()
            for line, imported, part in private_imports(module, source, spec.submodule_search_locations is not None):
                if component(module, components) == component(imported, components):
                    continue
                key = f"{module} -> {imported}"
                if key in ignored:
                    used.add(key)
                    continue
                illegal.append((module, imported, part, line))
        warnings = [f"ignored import not found: {i}" for i in sorted(ignored - used)]
        return ContractCheck(kept=not illegal, warnings=warnings, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error("A private name may only be imported within its own package:", bold=False)
        output.new_line()
        for module, imported, part, line in check.metadata["illegal"]:
            output.print_error(f"- {module} -> {imported} ({part}, l.{line})", bold=False)
        output.new_line()
