"""The OwnTracks app's JSON (owntracks.org/booklet/tech/json), by MQTT or in HTTP mode.

Only ``"_type": "location"`` carries a position:

=========  =================================================================
``tst``    fix time, epoch seconds
``lat``    latitude;  ``lon`` longitude
``vel``    speed km/h (optional: many phones omit it) → m/s
``cog``    course over ground, degrees (optional) → heading
``acc``    accuracy, metres (optional) → HDOP-equivalent
``created_at``  when the app made the message (lag metric only)
=========  =================================================================

Every other ``_type`` (lwt, transition, waypoint, waypoints, card, status, cmd, …) is
acknowledged and counted as ignored, not an error. The identity is not in the payload: it is
the topic's ``<user>/<device>`` (``owntracks/<user>/<device>``, which the broker's ACL binds
to the phone's credentials), or over HTTP the device the request's token belongs to.
"""

from __future__ import annotations

from fleetpilot.ingest.dialects.common import KMH_TO_MPS, Decoded, hdop_from_accuracy, is_number
from fleetpilot.ingest.validate import Rejected


def decode(body) -> Decoded | Rejected:
    if type(body) is not dict:
        return Rejected("schema", "not a JSON object")
    kind = body.get("_type")
    if type(kind) is not str:
        return Rejected("schema", "_type missing or not a string")
    if kind != "location":
        return Decoded(None, ignored=f"_type {kind[:40]}")
    tst, lat, lon = body.get("tst"), body.get("lat"), body.get("lon")
    if type(tst) is not int or not is_number(lat) or not is_number(lon):
        return Rejected("wrong_type", "tst (integer seconds), lat and lon are required numbers")
    vel, cog = body.get("vel"), body.get("cog")
    if (vel is not None and not is_number(vel)) or (cog is not None and not is_number(cog)):
        return Rejected("wrong_type", "vel/cog not numbers")
    speed = round(vel * KMH_TO_MPS, 3) if vel is not None and vel >= 0 else None  # -1: unknown on some phones
    heading = (0.0 if cog == 360 else cog) if cog is not None and cog >= 0 else None
    created = body.get("created_at")
    fix = [tst * 1000, lon, lat, speed, heading, hdop_from_accuracy(body.get("acc"))]
    return Decoded(None, fixes=[fix], sent_ms=created * 1000 if type(created) is int else None)
