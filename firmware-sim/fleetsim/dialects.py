"""The fleet as real trackers would report it: Traccar's forwarding and the OwnTracks app.

Shapes come from the public formats, not from fleetpilot (the simulator is a black box):

* Traccar (github.com/traccar/traccar): ``forward/PositionData`` = {"position", "device"},
  ``forward/EventData`` = {"event", "position", "device"}; ``model/Position`` with speed in
  knots, course, accuracy (0 = unknown; trackers report ``attributes.hdop``), valid, ISO 8601
  dates as Jackson writes them. Alarms (harsh brake/acceleration/cornering) are forwarded as
  events of type ``alarm`` with ``attributes.alarm``; ignition as ``ignitionOn``/``ignitionOff``.
  Traccar has no reversing or bin-lift events: those are not sent. Delivery as Traccar does
  it: MQTT QoS 1 to ``forward.topic`` / ``event.forward.topic``, or HTTP POST retried on any
  non-2xx answer or network error after 100 ms, doubling, up to 10 times (forward.retry.*).
* OwnTracks (owntracks.org/booklet/tech/json): ``_type: location`` with tst (s), lat, lon,
  vel (km/h, integer), cog, acc (m, integer) on ``owntracks/<user>/<device>``; no events.

A unit in private mode reports nothing here (neither format can say "private"): those fixes
are not sent. One position per message, as both send them.
"""

from __future__ import annotations

import base64
import heapq
import math
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import orjson

from fleetsim.offline import FleetRun

DIALECTS = ("v1", "traccar-http", "traccar-mqtt", "owntracks")
KNOT_MPS = 1852 / 3600
ALARMS = {"harsh_brake": "hardBraking", "harsh_accel": "hardAcceleration", "harsh_corner": "hardCornering"}
IGNITION = {"ignition_on": "ignitionOn", "ignition_off": "ignitionOff"}


def traccar_unique_id(vehicle_index: int) -> str:
    """An IMEI-like identifier per vehicle (most trackers' uniqueId is their IMEI)."""
    return f"86{vehicle_index:013d}"


def owntracks_identity(vehicle_id: str) -> tuple[str, str]:
    """(user, device) of the phone in a vehicle's cab."""
    return vehicle_id, "phone"


@dataclass(frozen=True, order=True)
class Message:
    t: int  # when the device (or Traccar) sends it, epoch ms (= the fix time)
    channel: str  # "positions" or "events" (Traccar), "location" (OwnTracks)
    vehicle: str
    body: bytes


def _jackson(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def _num(x: float, default=None):
    return default if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _device(index: int, vid: str) -> dict:
    return {
        "id": index + 1,
        "attributes": {},
        "groupId": 0,
        "name": vid,
        "uniqueId": traccar_unique_id(index),
        "status": "online",
        "disabled": False,
        "category": "truck",
        "model": "sim",
    }


def _position(index: int, t: int, lon: float, lat: float, speed, heading, hdop) -> dict:
    attributes = {"motion": bool(_num(speed, 0) > 0.5)}
    if _num(hdop) is not None:
        attributes["hdop"] = round(float(hdop), 1)
    return {
        "id": 0, "attributes": attributes, "deviceId": index + 1, "protocol": "sim",
        "serverTime": _jackson(t), "deviceTime": _jackson(t), "fixTime": _jackson(t), "valid": True,
        "latitude": lat, "longitude": lon, "altitude": 0.0,
        "speed": round(float(_num(speed, 0.0)) / KNOT_MPS, 4), "course": float(_num(heading, 0.0)),
        "accuracy": 0.0,
    }  # fmt: skip


def _per_vehicle(fleet: FleetRun):
    vids = fleet.vehicle_ids
    f, e = fleet.fixes, fleet.events
    for v, vid in enumerate(vids):
        fsel = np.flatnonzero((f["vehicle"] == v) & ~f["priv"])
        esel = np.flatnonzero((e["vehicle"] == v) & ~e["priv"])
        yield v, vid, fsel, esel


def traccar_messages(fleet: FleetRun) -> Iterator[Message]:
    f, e = fleet.fixes, fleet.events
    kinds = fleet.event_kinds
    streams = []
    for v, vid, fsel, esel in _per_vehicle(fleet):

        def gen(v=v, vid=vid, fsel=fsel, esel=esel):
            device = _device(v, vid)
            out = []
            for i in fsel.tolist():
                pos = _position(v, int(f["t"][i]), float(f["lon"][i]), float(f["lat"][i]),
                                float(f["speed"][i]), float(f["heading"][i]), float(f["hdop"][i]))  # fmt: skip
                out.append(Message(pos_t(pos), "positions", vid, orjson.dumps({"position": pos, "device": device})))
            for i in esel.tolist():
                kind = kinds[int(e["kind"][i])]
                if kind not in ALARMS and kind not in IGNITION:
                    continue  # Traccar has no reversing / bin-lift event
                t = int(e["t"][i])
                pos = _position(v, t, float(e["lon"][i]), float(e["lat"][i]), float(e["speed"][i]), None, None)
                event = {"id": 0, "type": "alarm" if kind in ALARMS else IGNITION[kind], "eventTime": _jackson(t),
                         "deviceId": v + 1, "positionId": 0, "geofenceId": 0, "maintenanceId": 0,
                         "attributes": {"alarm": ALARMS[kind]} if kind in ALARMS else {}}  # fmt: skip
                out.append(Message(t, "events", vid, orjson.dumps({"event": event, "position": pos, "device": device})))
            out.sort()
            yield from out

        streams.append(gen())
    return heapq.merge(*streams)


def pos_t(pos: dict) -> int:
    return int(datetime.fromisoformat(pos["fixTime"]).timestamp() * 1000)


def owntracks_messages(fleet: FleetRun) -> Iterator[Message]:
    f = fleet.fixes
    streams = []
    for _v, vid, fsel, _ in _per_vehicle(fleet):

        def gen(vid=vid, fsel=fsel):
            for i in fsel.tolist():
                t = int(f["t"][i])
                msg = {"_type": "location", "tid": vid[-2:], "tst": t // 1000, "lat": float(f["lat"][i]),
                       "lon": float(f["lon"][i]), "batt": 80, "conn": "m", "t": "u", "created_at": t // 1000}  # fmt: skip
                speed, heading, hdop = (_num(float(f[k][i])) for k in ("speed", "heading", "hdop"))
                if speed is not None:
                    msg["vel"] = int(round(speed * 3.6))
                if heading is not None:
                    msg["cog"] = int(round(heading)) % 360
                if hdop is not None:
                    msg["acc"] = int(round(hdop * 5))
                yield Message(t, "location", vid, orjson.dumps(msg))

        streams.append(gen())
    return heapq.merge(*streams)


@dataclass
class DialectReport:
    sent: int = 0
    acked: int = 0  # PUBACK (MQTT) or 2xx (HTTP)
    failed: int = 0  # given up on (HTTP: after the retries Traccar would make)
    retries: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _paced(messages: Iterator[Message], accel: float) -> Iterator[Message]:
    """Each message when the simulated clock (accel × wall clock from the first) reaches it."""
    start_wall = start_t = None
    for m in messages:
        if accel > 0:
            if start_t is None:
                start_wall, start_t = time.monotonic(), m.t
            delay = start_wall + (m.t - start_t) / 1000 / accel - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield m


def send_mqtt(messages: Iterator[Message], broker, topic_for, accel: float) -> DialectReport:
    """Publish at QoS 1 (as Traccar's MqttClient and the OwnTracks app do); waits for every PUBACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    report = DialectReport()
    started = time.monotonic()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"fleetsim-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    pending = []
    try:
        for m in _paced(messages, accel):
            pending.append(client.publish(topic_for(m), m.body, qos=1))
            report.sent += 1
        for info in pending:
            info.wait_for_publish(120)
            report.acked += info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    report.failed = report.sent - report.acked
    report.wall_s = round(time.monotonic() - started, 2)
    return report


def send_http(
    messages: Iterator[Message], url: str, auth: str, accel: float, *, workers: int = 4,
    retry_delay_ms: int = 100, retry_count: int = 10,
) -> DialectReport:  # fmt: skip
    """POST each message as Traccar's PositionForwarderJson does (retrying like forward.retry.*)."""
    report = DialectReport()
    started = time.monotonic()

    def post(m: Message) -> tuple[bool, int]:
        delay, retries = retry_delay_ms / 1000, 0
        while True:
            request = urllib.request.Request(
                url, data=m.body, method="POST", headers={"Content-Type": "application/json", "Authorization": auth}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    if 200 <= answer.status < 300:
                        return True, retries
            except (urllib.error.URLError, OSError, TimeoutError):
                pass  # HTTPError (non-2xx) is a URLError too: retried alike
            if retries >= retry_count:
                return False, retries
            time.sleep(delay)
            delay *= 2
            retries += 1

    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for m in _paced(messages, accel):
            futures.append(pool.submit(post, m))
            report.sent += 1
        for fut in futures:
            ok, retries = fut.result()
            report.acked += ok
            report.retries += retries
    report.failed = report.sent - report.acked
    report.wall_s = round(time.monotonic() - started, 2)
    return report


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
