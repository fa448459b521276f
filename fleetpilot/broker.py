"""Reaching the MQTT broker: resolution of the URL and a connection probe for `doctor`."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from fleetpilot.errors import ServiceUnavailable
from fleetpilot.settings import Settings
from fleetpilot.urls import MqttTarget, parse_mqtt_url


def resolve_mqtt_url(settings: Settings, *, start_embedded: bool = True) -> str:
    """The configured broker URL, or the embedded broker's (started on demand)."""
    if settings.mqtt_url:
        parse_mqtt_url(settings.mqtt_url)
        return settings.mqtt_url
    if not start_embedded:
        raise ServiceUnavailable("no MQTT URL configured (set FLEETPILOT_MQTT_URL)")
    from fleetpilot.embedded import embedded_broker_url

    return embedded_broker_url(settings)


@dataclass(frozen=True)
class BrokerProbe:
    reachable: bool
    protocol: str | None  # "5" or "3.1.1": the newest the broker accepted
    error: str | None


def probe_broker(url: str, timeout_s: float = 5.0) -> BrokerProbe:
    """Connect once with MQTT v5, then v3.1.1, and report what the broker accepts."""
    target = parse_mqtt_url(url)
    last_error = None
    for version, label in ((mqtt.MQTTv5, "5"), (mqtt.MQTTv311, "3.1.1")):
        ok, error = _try_connect(target, version, timeout_s)
        if ok:
            return BrokerProbe(True, label, None)
        last_error = error
        if error and "refused" in error and "protocol" not in error.lower():
            break  # the network refused us; another protocol version will not help
    return BrokerProbe(False, None, last_error)


def _try_connect(target: MqttTarget, version: int, timeout_s: float) -> tuple[bool, str | None]:
    done = threading.Event()
    result: dict = {}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleetpilot-doctor-{uuid.uuid4().hex[:8]}", protocol=version
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set()

    def on_connect(_client, _userdata, _flags, reason_code, _props):
        result["ok"] = not reason_code.is_failure
        result["error"] = None if result["ok"] else f"broker answered: {reason_code}"
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(target.host, target.port, keepalive=10)
    except ConnectionRefusedError:
        return False, f"connection refused at {target.host}:{target.port} — is a broker running there?"
    except OSError as exc:
        return False, f"cannot reach {target.host}:{target.port}: {exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return False, f"no CONNACK from {target.host}:{target.port} within {timeout_s:.0f} s"
        return result["ok"], result["error"]
    finally:
        client.disconnect()
        client.loop_stop()
