"""fleetpilot bench TARGET: benchmarks that print their figures as JSON.

The benchmarks live outside the product, in the `fleetpilot_bench` package (bench/, not in
the wheel; ./fp installs it). Each target is a module with ``main(argv) -> int``; its own
options follow the target (e.g. `fleetpilot bench analytics --vehicles 200`).
"""

from __future__ import annotations

import argparse
import importlib

from fleetpilot.errors import ConfigError
from fleetpilot.settings import Settings

HELP = "run a benchmark (analytics, ingest, api, pages, rollup, whatif, planning, sim) and print its figures as JSON"

TARGETS = {
    "analytics": "fleetpilot_bench.analytics",
    "ingest": "fleetpilot_bench.ingest",
    "api": "fleetpilot_bench.api",
    "pages": "fleetpilot_bench.pages",  # the dashboards in Chromium over the api bench's month
    "whatif": "fleetpilot_bench.whatif",
    "planning": "fleetpilot_bench.planning",
    "rollup": "fleetpilot_bench.rollup",  # the rollup stage end to end beside its COPY-out and kernel limits
    "sim": "fleetpilot_bench.sim",  # the simulator's scale (= fleetsim bench)
}
MISSING = (
    "the benchmarks are not installed: they live in bench/ of the source tree, outside the wheel "
    "(from a checkout, ./fp bench … installs them; or pip install -e bench)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of the target's benchmark")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        module = importlib.import_module(TARGETS[args.target])
    except ModuleNotFoundError as exc:
        if exc.name == "fleetpilot_bench":
            raise ConfigError(MISSING) from None
        raise ConfigError(f"benchmark {args.target!r} is not available in this build: {exc}") from None
    return module.main(args.options)
