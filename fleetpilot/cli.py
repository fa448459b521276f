"""The `fleetpilot` command line.

Each module in ``fleetpilot.commands`` is a subcommand named after the module (``_`` →
``-``), exposing ``HELP``, ``run(args, settings) -> int`` and, if it takes options,
``add_arguments(parser)``.
Expected failures (FleetpilotError) print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import fleetpilot.commands
from fleetpilot.errors import FleetpilotError

# `sim` is handed to the simulator's own CLI untouched (it is a black box).
PASS_THROUGH = {"sim": "fleetsim.cli"}


def commands() -> dict[str, str]:
    found = {
        info.name.replace("_", "-"): f"fleetpilot.commands.{info.name}"
        for info in pkgutil.iter_modules(fleetpilot.commands.__path__)
        if not info.name.startswith("_")
    }
    return dict(sorted(found.items()))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All subcommands, or with `only`, just that one (its module alone is imported: the
    ingest must not start slower, or fail, because of another command's imports)."""
    parser = argparse.ArgumentParser(
        prog="fleetpilot",
        description="Sanitation-fleet telemetry pilot. Configuration: FLEETPILOT_* environment variables "
        "(see README); with no FLEETPILOT_DATABASE_URL / FLEETPILOT_MQTT_URL embedded servers are started.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in PASS_THROUGH:
        sub.add_parser(name, help="run the truck simulator (see `fleetpilot sim --help`)", add_help=False)
    for name, module_name in commands().items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if hasattr(module, "add_arguments"):  # commands without options need none
            module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in PASS_THROUGH:
        return importlib.import_module(PASS_THROUGH[argv[0]]).main(argv[1:])
    named = argv[0] if argv[:1] and argv[0] in commands() else None
    args = build_parser(named).parse_args(argv)
    from fleetpilot.settings import Settings

    try:
        return args._run(args, Settings()) or 0
    except FleetpilotError as exc:
        print(f"fleetpilot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:  # pydantic validation of FLEETPILOT_* values
        print(f"fleetpilot {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
