"""The `fleetpilot` command line.

Each subcommand lives in its own module exposing ``HELP``, ``add_arguments(parser)`` and
``run(args, settings) -> int``; modules are imported only when their command runs.
Expected failures (FleetpilotError) print one line and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from fleetpilot.errors import FleetpilotError

COMMANDS: dict[str, str] = {
    "migrate": "fleetpilot.commands.migrate",
    "doctor": "fleetpilot.commands.doctor",
    "stop": "fleetpilot.commands.stop",
    "retention": "fleetpilot.commands.retention",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetpilot",
        description="Sanitation-fleet telemetry pilot. Configuration: FLEETPILOT_* environment variables "
        "(see README); with no FLEETPILOT_DATABASE_URL / FLEETPILOT_MQTT_URL embedded servers are started.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Passed through untouched so the simulator keeps its own CLI (it is a black box).
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        from fleetsim.cli import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
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
