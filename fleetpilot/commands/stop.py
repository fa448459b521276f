"""fleetpilot stop: stop the embedded PostgreSQL and MQTT broker."""

from __future__ import annotations

import argparse

from fleetpilot.embedded import stop_embedded
from fleetpilot.settings import Settings

HELP = "stop the embedded PostgreSQL and MQTT broker started by earlier commands"


def run(args: argparse.Namespace, settings: Settings) -> int:
    stopped = stop_embedded(settings)
    print("stopped: " + ", ".join(stopped) if stopped else "nothing embedded was running")
    return 0
