"""Traccar's JSON forwarding, read as Traccar writes it (source: github.com/traccar/traccar).

Positions: ``PositionForwarderJson`` (``forward.type=json``, HTTP POST to ``forward.url``) and
``PositionForwarderMqtt`` (``forward.type=mqtt``, topic ``forward.topic``) both send Jackson's
serialisation of ``forward/PositionData``: ``{"position": Position, "device": Device}``.
Events: ``EventForwarderJson`` / ``EventForwarderMqtt`` (``event.forward.*``) send
``forward/EventData``: ``{"event": Event, "position": Position, "device": Device}`` (plus
geofence / maintenance when set). Jackson writes dates as ISO 8601 strings
(``MainModule.provideObjectMapper`` disables WRITE_DATES_AS_TIMESTAMPS).

Mapping (Position → v1 fix):

============================  ==============================================================
``position.fixTime``          fix time (``deviceTime`` and ``serverTime`` are not the fix)
``latitude`` / ``longitude``  lat / lon
``speed`` (knots)             speed m/s (× 1852/3600)
``course``                    heading, degrees (360 read as 0)
``accuracy`` (m, 0 = unknown) HDOP-equivalent (common.hdop_from_accuracy); when unknown,
                              ``attributes.hdop`` (Position.KEY_HDOP) as it is
``valid: false``              dead letter ``invalid_fix``
``outdated: true``            dead letter ``outdated_fix`` (Traccar marks it @JsonIgnore, so
                              its own forwarder never sends it; honoured if a relay does)
``attributes.alarm``          ``hardBraking``/``hardAcceleration``/``hardCornering`` → events
                              harsh_brake/harsh_accel/harsh_corner at fixTime (comma-separated
                              lists as AlarmEventHandler splits them); other alarms ignored
``device.uniqueId``           the device identity an admin bound to a vehicle
``serverTime``                when Traccar received it (publish-lag metric only)
============================  ==============================================================

An event message (``"event"`` present) adds no fix — the position itself comes through
position forwarding — only: type ``alarm`` with one of the three alarms above → that event,
``ignitionOn``/``ignitionOff`` → ignition_on/ignition_off; every other type is acknowledged
and counted as ignored. Alarm events take the *position's* fixTime, the time the alarm
attribute has when it arrives with the position, so a harsh brake reported both ways is
one row (events are unique on vehicle, time, kind): no double counting.
Magnitude: Traccar's alarms carry none, so it is stored as unknown (NULL).
"""

from __future__ import annotations

from fleetpilot.event_kinds import HARSH_ACCEL, HARSH_BRAKE, HARSH_CORNER, IGNITION_OFF, IGNITION_ON
from fleetpilot.ingest.dialects.common import KNOTS_TO_MPS, Decoded, epoch_ms, hdop_from_accuracy, is_number
from fleetpilot.ingest.validate import Rejected

ALARM_KINDS = {"hardBraking": HARSH_BRAKE, "hardAcceleration": HARSH_ACCEL, "hardCornering": HARSH_CORNER}
EVENT_KINDS = {"ignitionOn": IGNITION_ON, "ignitionOff": IGNITION_OFF}
MAX_UNIQUE_ID = 128


def identity(body) -> str | None:
    """The device a message names (``device.uniqueId``), if well formed: also of a message
    `decode` refuses after reading it (e.g. ``valid: false``), so its dead letter can name the
    vehicle the device is bound to."""
    device = body.get("device") if type(body) is dict else None
    unique_id = device.get("uniqueId") if type(device) is dict else None
    if type(unique_id) is not str or not 0 < len(unique_id) <= MAX_UNIQUE_ID:
        return None
    return unique_id


def decode(body) -> Decoded | Rejected:
    if type(body) is not dict:
        return Rejected("schema", "not a JSON object")
    unique_id = identity(body)
    if unique_id is None:
        return Rejected("schema", "device.uniqueId missing or not a string of 1-128 characters")
    event = body.get("event")
    position = body.get("position")
    if event is not None and type(event) is not dict:
        return Rejected("wrong_type", "event is not an object")
    if position is None and event is not None:  # e.g. deviceOnline/deviceOffline come without one
        return Decoded(unique_id, ignored=f"event {_event_type(event)} without a position")
    if type(position) is not dict:
        return Rejected("schema", "position missing or not an object")
    if position.get("valid") is False:
        return Rejected("invalid_fix", "position.valid is false: the tracker had no GPS fix")
    if position.get("outdated") is True:
        return Rejected("outdated_fix", "position.outdated is true: the last known position, not a new fix")
    t = epoch_ms(position.get("fixTime"))
    if t is None:
        return Rejected("schema", "position.fixTime missing or not an ISO 8601 time with a zone")
    lat, lon = position.get("latitude"), position.get("longitude")
    if not is_number(lat) or not is_number(lon):
        return Rejected("wrong_type", "position.latitude/longitude missing or not numbers")
    speed, course = position.get("speed"), position.get("course")
    if (speed is not None and not is_number(speed)) or (course is not None and not is_number(course)):
        return Rejected("wrong_type", "position.speed/course not numbers")
    speed_mps = round(speed * KNOTS_TO_MPS, 3) if speed is not None else None
    heading = (0.0 if course == 360 else course) if course is not None else None
    attributes = position.get("attributes")
    attributes = attributes if type(attributes) is dict else {}
    sent = epoch_ms(position.get("serverTime"))
    if event is not None:
        kinds = _event_kinds(event)
        if not kinds:
            return Decoded(unique_id, sent_ms=sent, ignored=f"event {_event_type(event)}")
        return Decoded(unique_id, events=[_event(t, k, lon, lat, speed_mps) for k in kinds], sent_ms=sent)
    hdop = hdop_from_accuracy(position.get("accuracy"))
    if hdop is None and is_number(attributes.get("hdop")):
        hdop = attributes["hdop"]  # Position.KEY_HDOP: what most tracker protocols report instead
    fix = [t, lon, lat, speed_mps, heading, hdop]
    alarms = _alarm_kinds(attributes.get("alarm"))
    return Decoded(unique_id, fixes=[fix], events=[_event(t, k, lon, lat, speed_mps) for k in alarms], sent_ms=sent)


def _event(t: int, kind: str, lon, lat, speed_mps) -> dict:
    # ignition_* carry magnitude 0 by protocol v1's convention; Traccar's alarms carry none.
    return {
        "t": t,
        "k": kind,
        "lon": lon,
        "lat": lat,
        "mag": 0 if kind.startswith("ignition") else None,
        "spd": speed_mps,
    }


def _event_type(event: dict) -> str:
    kind = event.get("type")
    return kind[:40] if type(kind) is str else "?"


def _alarm_kinds(alarm) -> list[str]:
    if type(alarm) is not str:
        return []
    kinds = {ALARM_KINDS[a.strip()] for a in alarm.split(",") if a.strip() in ALARM_KINDS}
    return sorted(kinds)


def _event_kinds(event: dict) -> list[str]:
    kind = event.get("type")
    if kind == "alarm":
        attributes = event.get("attributes")
        return _alarm_kinds(attributes.get("alarm") if type(attributes) is dict else None)
    if kind in EVENT_KINDS:
        return [EVENT_KINDS[kind]]
    return []
