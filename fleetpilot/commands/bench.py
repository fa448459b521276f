"""fleetpilot bench TARGET: benchmarks that print their figures as JSON.

Each target is a module with ``main(argv) -> int``; its own options follow the target
(e.g. `fleetpilot bench analytics --vehicles 200`).
"""

from __future__ import annotations

import argparse
import importlib

from fleetpilot.errors import ConfigError
from fleetpilot.settings import Settings

HELP = "run a benchmark (analytics, ingest, api, pages, whatif) and print its figures as JSON"

TARGETS = {
    "analytics": "fleetpilot.analytics.bench",
    "ingest": "fleetpilot.ingest.bench",
    "api": "fleetpilot.api.bench",
    "pages": "fleetpilot.dashboards.measure",  # the dashboards in Chromium over the api bench's month
    "whatif": "fleetpilot.analytics.whatif.bench",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of the target's benchmark")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        module = importlib.import_module(TARGETS[args.target])
    except ModuleNotFoundError as exc:
        raise ConfigError(f"benchmark {args.target!r} is not available in this build: {exc}") from None
    return module.main(args.options)
