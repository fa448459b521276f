"""MQTT topic names of wire protocol v1: ``fleet/<city>/<vehicle_id>/<channel>``."""

from __future__ import annotations

import re
from collections.abc import Sequence

# The channels the ingest consumes; `config` is server → device and is never subscribed.
CHANNELS = ("telemetry", "events", "status")
VEHICLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CITY = re.compile(r"^[a-z0-9-]+$")


def subscriptions(city: str, share_group: str | None, extra: Sequence[str] = ()) -> list[str]:
    """Topic filters for every consumed channel of `city`, then the `extra` filters (other
    dialects' topics, ingest/dialects).

    With `share_group`, MQTT 5 shared subscriptions (``$share/<group>/…``): the broker hands
    each message to one worker of the group, so N workers split the load.
    """
    if not CITY.match(city):
        raise ValueError(f"city {city!r} is not a topic slug ([a-z0-9-]+)")
    filters = [f"fleet/{city}/+/{channel}" for channel in CHANNELS] + list(extra)
    if share_group:
        return [f"$share/{share_group}/{f}" for f in filters]
    return filters


def parse_topic(topic: str, city: str) -> tuple[str, str] | None:
    """(vehicle_id, channel) of a topic of `city`, or None when it is not one we accept."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "fleet" or parts[1] != city:
        return None
    vehicle_id, channel = parts[2], parts[3]
    if channel not in CHANNELS or not VEHICLE_ID.match(vehicle_id):
        return None
    return vehicle_id, channel
