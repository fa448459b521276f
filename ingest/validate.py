"""Validation of MQTT payloads against wire protocol v1 (docs/protocol.md, v1.schema.json).

Every payload is checked against its channel's definition in the JSON Schema, then for
what a schema cannot say: the payload's ``vid`` must be the topic's vehicle, and fix and
event times must be neither in the future (beyond ``max_future_ms``) nor older than the
retention window (such rows would be deleted at once, so storing them breaks retention).

Speed: the schema compiled by fastjsonschema costs ~35 µs per fix on this machine, far
too slow for 50 000 fixes/s. So telemetry and events first go through a hand-written check
of the same rules, with the limits read from the schema itself; it only ever *accepts*
payloads the schema accepts (a property test checks this against fastjsonschema). A
payload it does not accept — anything unusual, e.g. times written as 1.7e12 — goes to
the compiled schema, which has the final word and names the reason.

Reject reasons (the ``reason`` column of ``rejects``):

===============  ================================================================
too_large        payload over 256 KiB
bad_topic        not ``fleet/<city>/<vehicle>/<telemetry|events|status>``
bad_json         not UTF-8 JSON
bad_version      ``v`` is an integer other than 1
wrong_type       a value of the wrong JSON type (``"v": "1"``, a string for a number)
out_of_range     a number outside its range (lon 200, heading 725, negative HDOP)
schema           any other schema violation (missing or unknown field, empty list)
foreign_vid      ``vid`` names another vehicle than the topic
clock_skew       a fix or event more than ``max_future_ms`` ahead of the server clock, in a
                 message whose ``sent`` is itself that far ahead: the unit's clock is wrong
                 (its data is fine); a registered vehicle's is also held whole for a short
                 while (ingest/skewhold.py), so an admin can replay it once the clock is fixed
future_time      a fix or event more than ``max_future_ms`` ahead of the server clock, the
                 unit's clock (``sent``) being right
expired          a fix or event older than the retention window
unknown_vehicle  the vehicle is not registered (decided by the worker, see registry)
===============  ================================================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import fastjsonschema
import orjson

import fleetpilot.protocol
from fleetpilot.ingest.topics import CHANNELS

SCHEMA_PATH = Path(fleetpilot.protocol.__file__).parent / "v1.schema.json"
MAX_PAYLOAD_BYTES = 256 * 1024
RANGE_RULES = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}


@dataclass(slots=True)
class Telemetry:
    """A valid telemetry message. `fixes` are [t_ms, lon, lat, speed, heading, hdop] lists
    (t an int); `t_min`/`t_max` the range of their times."""

    vid: str
    seq: int
    sent: int
    priv: bool
    fixes: list[list]
    t_min: int
    t_max: int


@dataclass(slots=True)
class Events:
    """A valid events message; `events` are the protocol's dicts (t, k, lon, lat, mag, spd)."""

    vid: str
    seq: int
    sent: int
    priv: bool
    events: list[dict]
    t_min: int
    t_max: int


@dataclass(slots=True)
class Status:
    vid: str
    seq: int
    online: bool
    t: int
    fw: str | None


@dataclass(slots=True)
class Rejected:
    reason: str
    detail: str
    skew_ms: int | None = None  # clock_skew: the unit's `sent` minus the server's clock


Message = Telemetry | Events | Status


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return json.loads(path.read_text())


class _Limits:
    """The numeric limits of the schema's definitions, for the fast check."""

    def __init__(self, schema: dict):
        d = schema["definitions"]
        self.t_lo, self.t_hi = d["epoch_ms"]["minimum"], d["epoch_ms"]["maximum"]
        self.seq_hi = d["seq"]["maximum"]
        self.lon = (d["lon"]["minimum"], d["lon"]["maximum"])
        self.lat = (d["lat"]["minimum"], d["lat"]["maximum"])
        self.speed = (d["speed"]["minimum"], d["speed"]["maximum"])
        self.heading = (d["heading"]["minimum"], d["heading"]["exclusiveMaximum"])
        self.hdop = (d["hdop"]["minimum"], d["hdop"]["maximum"])
        self.mag = (d["event"]["properties"]["mag"]["minimum"], d["event"]["properties"]["mag"]["maximum"])
        self.kinds = frozenset(d["event_kind"]["enum"])
        self.vid = re.compile(d["vehicle_id"]["pattern"])
        tel, ev = d["telemetry"]["properties"], d["events"]["properties"]
        self.max_fixes, self.max_events = tel["fixes"]["maxItems"], ev["events"]["maxItems"]
        self.tel_keys = frozenset(tel)
        self.ev_keys = frozenset(ev)
        self.event_keys = frozenset(d["event"]["properties"])
        self.event_required = frozenset(d["event"]["required"])


# bool is a subclass of int but not a JSON number: testing the exact type excludes it.
NUMBER = frozenset((int, float))


def _num(x) -> bool:
    return type(x) in NUMBER


class Validator:
    """Checks payloads of one city's topics. Thread-compatible, no I/O."""

    def __init__(self, schema: dict | None = None, *, max_future_ms: int = 300_000):
        schema = schema or load_schema()
        self.max_future_ms = max_future_ms
        self._lim = _Limits(schema)
        self._schemas = {
            name: fastjsonschema.compile({"definitions": schema["definitions"], "$ref": f"#/definitions/{name}"})
            for name in CHANNELS
        }

    def check(self, vid: str, channel: str, payload: bytes, now_ms: int, oldest_ms: int) -> Message | Rejected:
        """The message in `payload`, which arrived on vehicle `vid`'s `channel` topic, or why not.

        `now_ms` is the server clock, `oldest_ms` the start of the retention window.
        """
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Rejected("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Rejected("bad_json", str(exc)[:200])
        return self.check_body(vid, channel, body, now_ms, oldest_ms)

    def check_body(self, vid: str, channel: str, body, now_ms: int, oldest_ms: int) -> Message | Rejected:
        """As `check`, for a decoded body: the other dialects' adapters (ingest/dialects) build
        protocol v1 bodies, so every way in passes this same gate."""
        if channel == "telemetry":
            msg = self._fast_telemetry(body)
        elif channel == "events":
            msg = self._fast_events(body)
        else:
            msg = None
        if msg is None:
            msg = self._by_schema(channel, body)
            if isinstance(msg, Rejected):
                return msg
        if msg.vid != vid:
            return Rejected("foreign_vid", f"payload vid {msg.vid!r} on the topic of {vid!r}")
        if channel != "status":
            if msg.t_max > now_ms + self.max_future_ms:
                ahead_s = (msg.t_max - now_ms) / 1000
                if msg.sent > now_ms + self.max_future_ms:  # the unit's own clock is ahead too
                    skew_s = (msg.sent - now_ms) / 1000
                    return Rejected(
                        "clock_skew",
                        f"unit clock {skew_s:.0f} s ahead (sent); time {msg.t_max} is {ahead_s:.0f} s ahead",
                        msg.sent - now_ms,
                    )
                return Rejected("future_time", f"time {msg.t_max} is {ahead_s:.0f} s ahead")
            if msg.t_min < oldest_ms:
                return Rejected("expired", f"time {msg.t_min} is before the retention window ({oldest_ms})")
        return msg

    # The fast checks return None for anything they do not accept; the schema decides then.

    def _fast_envelope(self, body, keys: frozenset, items_key: str, max_items: int):
        """(vid, seq, sent, priv, items) of a v1 telemetry or events message whose envelope has
        exact types within range, else None."""
        lim = self._lim
        if type(body) is not dict or not body.keys() <= keys:
            return None
        v, vid, seq, sent, items = (
            body.get("v"),
            body.get("vid"),
            body.get("seq"),
            body.get("sent"),
            body.get(items_key),
        )
        priv = body.get("priv", False)
        if (
            type(v) is not int
            or v != 1
            or type(vid) is not str
            or not lim.vid.match(vid)
            or type(seq) is not int
            or not 0 <= seq <= lim.seq_hi
            or type(sent) is not int
            or not lim.t_lo <= sent <= lim.t_hi
            or type(priv) is not bool
            or type(items) is not list
            or not 1 <= len(items) <= max_items
        ):
            return None
        return vid, seq, sent, priv, items

    def _fast_telemetry(self, body) -> Telemetry | None:
        lim = self._lim
        head = self._fast_envelope(body, lim.tel_keys, "fixes", lim.max_fixes)
        if head is None:
            return None
        vid, seq, sent, priv, fixes = head
        t_lo, t_hi = lim.t_lo, lim.t_hi
        lon_lo, lon_hi = lim.lon
        lat_lo, lat_hi = lim.lat
        sp_lo, sp_hi = lim.speed
        hd_lo, hd_hi = lim.heading
        hp_lo, hp_hi = lim.hdop
        t_min, t_max = t_hi, t_lo
        num = NUMBER
        # The hot loop of the whole ingest: no function calls, exact types, chained ranges.
        for f in fixes:
            if type(f) is not list or len(f) != 6:
                return None
            t, lon, lat, sp, hd, hp = f
            if (
                type(t) is not int
                or not t_lo <= t <= t_hi
                or type(lon) not in num
                or not lon_lo <= lon <= lon_hi
                or type(lat) not in num
                or not lat_lo <= lat <= lat_hi
                or (sp is not None and (type(sp) not in num or not sp_lo <= sp <= sp_hi))
                or (hd is not None and (type(hd) not in num or not hd_lo <= hd < hd_hi))
                or (hp is not None and (type(hp) not in num or not hp_lo <= hp <= hp_hi))
            ):
                return None
            if t < t_min:
                t_min = t
            if t > t_max:
                t_max = t
        return Telemetry(vid, seq, sent, priv, fixes, t_min, t_max)

    def _fast_events(self, body) -> Events | None:
        lim = self._lim
        head = self._fast_envelope(body, lim.ev_keys, "events", lim.max_events)
        if head is None:
            return None
        vid, seq, sent, priv, events = head
        t_min, t_max = lim.t_hi, lim.t_lo
        for e in events:
            if type(e) is not dict or not e.keys() <= lim.event_keys or not lim.event_required <= e.keys():
                return None
            t, k, lon, lat, mag, spd = e["t"], e["k"], e["lon"], e["lat"], e["mag"], e.get("spd")
            if (
                type(t) is not int
                or not lim.t_lo <= t <= lim.t_hi
                or type(k) is not str
                or k not in lim.kinds
                or not _num(lon)
                or not lim.lon[0] <= lon <= lim.lon[1]
                or not _num(lat)
                or not lim.lat[0] <= lat <= lim.lat[1]
                or not _num(mag)
                or not lim.mag[0] <= mag <= lim.mag[1]
                or (spd is not None and (not _num(spd) or not lim.speed[0] <= spd <= lim.speed[1]))
            ):
                return None
            t_min, t_max = min(t_min, t), max(t_max, t)
        return Events(vid, seq, sent, priv, events, t_min, t_max)

    def _by_schema(self, channel: str, body) -> Message | Rejected:
        try:
            self._schemas[channel](body)
        except fastjsonschema.JsonSchemaValueException as exc:
            return Rejected(_reason(body, exc), exc.message[:200])
        # Valid, but unusual (e.g. integral floats for integers): normalise to ints.
        if channel == "status":
            return Status(body["vid"], int(body["seq"]), body["state"] == "online", int(body["t"]), body.get("fw"))
        if channel == "telemetry":
            fixes = [[int(f[0]), *f[1:]] for f in body["fixes"]]
            times = [f[0] for f in fixes]
            return Telemetry(
                body["vid"], int(body["seq"]), int(body["sent"]), body.get("priv", False), fixes, min(times), max(times)
            )
        events = [{**e, "t": int(e["t"])} for e in body["events"]]
        times = [e["t"] for e in events]
        return Events(
            body["vid"], int(body["seq"]), int(body["sent"]), body.get("priv", False), events, min(times), max(times)
        )


def _reason(body, exc: fastjsonschema.JsonSchemaValueException) -> str:
    """Reject reason for a schema violation: version, type and range problems are named."""
    version = body.get("v") if isinstance(body, dict) else None
    if type(version) is int and version != 1:
        return "bad_version"
    if exc.rule == "type" or (exc.rule == "const" and version is not None and not _num(version)):
        return "wrong_type"
    if exc.rule in RANGE_RULES:
        return "out_of_range"
    return "schema"
