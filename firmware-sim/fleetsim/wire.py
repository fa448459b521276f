"""Wire protocol v1 constants as the unit knows them (docs/protocol.md is the reference).

The simulator keeps its own copy on purpose: it is a black box that must not import the
server, and tests check its output against the server's schema (fleetpilot/protocol).
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
EVENT_KINDS = ("harsh_brake", "harsh_accel", "harsh_corner", "reversing", "bin_lift", "ignition_on", "ignition_off")
HARSH_BRAKE, HARSH_ACCEL, HARSH_CORNER, REVERSING, BIN_LIFT, IGNITION_ON, IGNITION_OFF = range(len(EVENT_KINDS))
CHANNELS = ("telemetry", "events", "status", "config")


def topic(city: str, vehicle_id: str, channel: str) -> str:
    """fleet/<city>/<vehicle_id>/<channel>"""
    return f"fleet/{city}/{vehicle_id}/{channel}"
