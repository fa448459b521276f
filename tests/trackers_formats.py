"""Messages as real trackers send them, for the tests (and nothing else).

Written from the public formats, not from fleetpilot's adapters, so a test can disagree:

* Traccar (github.com/traccar/traccar, read at commit 9e5c458ad): ``forward/PositionData.java``
  ({"position", "device"}) and ``forward/EventData.java`` ({"event", "position", "device"}),
  ``@JsonInclude(NON_NULL)``; the fields of ``model/Position.java`` (speed in knots, course,
  accuracy, valid, fixTime/deviceTime/serverTime; ``outdated`` is @JsonIgnore so never sent),
  ``model/Device.java`` and ``model/Event.java`` (type, eventTime, positionId, attributes.alarm
  for type "alarm", set by ``handler/events/AlarmEventHandler.java``), serialised by Jackson
  with WRITE_DATES_AS_TIMESTAMPS disabled (``MainModule.provideObjectMapper``): ISO 8601 dates.
* OwnTracks (owntracks.org/booklet/tech/json): ``_type: location`` with tst (s), lat, lon,
  vel (km/h), cog, acc (m), alt, batt, tid, t (trigger), conn, created_at; ``_type: lwt``,
  ``transition``, ``waypoint`` … on ``owntracks/<user>/<device>``.
"""

from __future__ import annotations

from datetime import datetime, timezone

KNOT_MPS = 1852 / 3600


def jackson_date(ms: int) -> str:
    """java.util.Date as Jackson's StdDateFormat writes it: 2024-05-01T10:00:00.000+00:00."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def traccar_device(unique_id: str, device_id: int = 7) -> dict:
    return {
        "id": device_id,
        "attributes": {},
        "groupId": 0,
        "calendarId": 0,
        "name": f"Truck {unique_id[-4:]}",
        "uniqueId": unique_id,
        "status": "online",
        "lastUpdate": jackson_date(1_700_000_000_000),
        "positionId": 0,
        "phone": None,
        "model": "FMB920",
        "contact": None,
        "category": "truck",
        "disabled": False,
        "expirationTime": None,
    }


def traccar_position(
    t_ms: int,
    lat: float,
    lon: float,
    *,
    speed_knots: float = 10.0,
    course: float = 90.0,
    accuracy: float = 0.0,
    valid: bool = True,
    device_id: int = 7,
    alarm: str | None = None,
    ignition: bool | None = True,
) -> dict:
    attributes = {"sat": 11, "distance": 12.5, "totalDistance": 81234.5, "motion": speed_knots > 0}
    if ignition is not None:
        attributes["ignition"] = ignition
    if alarm is not None:
        attributes["alarm"] = alarm
    return {
        "id": 0,  # PositionForwardingHandler runs before DatabaseHandler: not stored yet
        "attributes": attributes,
        "deviceId": device_id,
        "protocol": "teltonika",
        "serverTime": jackson_date(t_ms + 800),
        "deviceTime": jackson_date(t_ms),
        "fixTime": jackson_date(t_ms),
        "valid": valid,
        "latitude": lat,
        "longitude": lon,
        "altitude": 154.0,
        "speed": speed_knots,
        "course": course,
        "address": None,
        "accuracy": accuracy,
        "network": None,
        "geofenceIds": None,
    }


def traccar_position_data(unique_id: str, position: dict) -> dict:
    return {"position": position, "device": traccar_device(unique_id, position["deviceId"])}


def traccar_event_data(unique_id: str, position: dict, event_type: str, alarm: str | None = None) -> dict:
    event = {
        "id": 0,
        "attributes": {"alarm": alarm} if alarm else {},
        "type": event_type,
        "eventTime": position["deviceTime"],
        "deviceId": position["deviceId"],
        "positionId": 991,
        "geofenceId": 0,
        "maintenanceId": 0,
    }
    return {"event": event, "position": {**position, "id": 991}, "device": traccar_device(unique_id)}


def owntracks_location(
    t_s: int, lat: float, lon: float, *, vel_kmh: int | None = 36, cog: int | None = 90, acc: int | None = 8
) -> dict:
    msg = {
        "_type": "location",
        "tid": "T1",
        "tst": t_s,
        "lat": lat,
        "lon": lon,
        "alt": 150,
        "batt": 78,
        "conn": "m",
        "t": "u",
        "created_at": t_s + 1,
    }
    for key, value in (("vel", vel_kmh), ("cog", cog), ("acc", acc)):
        if value is not None:
            msg[key] = value
    return msg


def owntracks_lwt(t_s: int) -> dict:
    return {"_type": "lwt", "tst": t_s}


def owntracks_transition(t_s: int) -> dict:
    return {
        "_type": "transition",
        "wtst": t_s - 3600,
        "lat": 32.78,
        "lon": -96.8,
        "tst": t_s,
        "acc": 10,
        "tid": "T1",
        "event": "enter",
        "desc": "Depot",
        "t": "c",
    }
