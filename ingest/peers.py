"""Workers of one share group see each other, and a dead one's share does not wait unseen.

Why: with MQTT 5 shared subscriptions, Mosquitto keeps routing a share of the messages to a
worker's *session* after the worker died, until the session expires (issue 19: a SIGKILLed
worker with a 7-day expiry stranded 107k rows, 30 % of a day, and nothing showed it). So:

* presence: every worker keeps a small second connection that publishes a retained status on
  ``fleetpilot/ingest/<city>/<client id>/status`` (online; its last will says offline), and
  reads everyone's. A peer of the same group that is offline while its session has not yet
  expired holds a *stranded share*: gauge ``stranded_sessions``, a WARNING log line;
* rescue: after ``rescue_after_s`` the live worker with the smallest client id takes the dead
  peer's session over (same client id, clean start off, session expiry 0), stores what it
  held like any other message, acknowledges it after commit, and disconnects once drained:
  with expiry 0 the broker then ends the session, and the group's live workers get its
  share. If the peer comes back meanwhile, it takes its session back (the rescue does not
  reconnect) and gets whatever was not yet acknowledged;
* expiry: the worker's session expiry is short (``--session-expiry``, default 300 s), so a
  share no one rescues (e.g. every worker down) is released within minutes — at the price
  of what the broker held for it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleetpilot.ingest.logs import log
from fleetpilot.urls import MqttTarget

logger = logging.getLogger("fleetpilot.ingest.peers")


def presence_topic(city: str, client_id: str) -> str:
    return f"fleetpilot/ingest/{city}/{client_id}/status"


@dataclass
class Peer:
    client_id: str
    online: bool
    share_group: str | None
    session_expiry_s: int
    since: float  # wall clock (s) when this worker learnt the current state
    rescued: bool = False

    def stranded(self, now: float) -> bool:
        return not self.online and not self.rescued and self.share_group is not None and now < self.expires_at

    @property
    def expires_at(self) -> float:
        return self.since + self.session_expiry_s


class PeerWatch:
    def __init__(self, target: MqttTarget, city: str, client_id: str, share_group: str | None, session_expiry_s: int):
        self.city = city
        self.client_id = client_id
        self.share_group = share_group
        self.session_expiry_s = session_expiry_s
        self.peers: dict[str, Peer] = {}
        self._lock = threading.Lock()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}.presence", protocol=mqtt.MQTTv5)
        if target.username:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set()
        client.will_set(presence_topic(city, client_id), self._status(False), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        self._target = target

    def _status(self, online: bool, **extra) -> bytes:
        body = {
            "online": online,
            "client_id": self.client_id,
            "share_group": self.share_group,
            "session_expiry_s": self.session_expiry_s,
            **extra,
        }
        return orjson.dumps(body)

    def start(self) -> None:
        self._client.connect_async(self._target.host, self._target.port, 30)
        self._client.loop_start()

    def stop(self) -> None:
        """Say offline (a clean stop: the session stays, and so does its share until expiry or rescue)."""
        try:
            self._client.publish(
                presence_topic(self.city, self.client_id), self._status(False, clean=True), qos=1, retain=True
            ).wait_for_publish(2)
        except (RuntimeError, ValueError):
            pass  # not connected: the will says it
        self._client.disconnect()
        self._client.loop_stop()

    def mark_rescued(self, peer: Peer) -> None:
        """Tell every worker (and later starts) that the peer's session is gone."""
        body = orjson.dumps(
            {
                "online": False,
                "client_id": peer.client_id,
                "share_group": peer.share_group,
                "session_expiry_s": peer.session_expiry_s,
                "rescued_by": self.client_id,
            }
        )
        self._client.publish(presence_topic(self.city, peer.client_id), body, qos=1, retain=True)
        with self._lock:
            peer.rescued = True

    def stranded(self, now: float | None = None) -> list[Peer]:
        now = time.time() if now is None else now
        with self._lock:
            return [
                p
                for p in self.peers.values()
                if p.client_id != self.client_id and p.share_group == self.share_group and p.stranded(now)
            ]

    def live_peers(self) -> list[str]:
        """Other workers of this group that are online now."""
        with self._lock:
            return [
                p.client_id
                for p in self.peers.values()
                if p.online and p.share_group == self.share_group and p.client_id != self.client_id
            ]

    def rescuer(self) -> bool:
        """True when this worker is the one to rescue: the smallest client id among live peers."""
        with self._lock:
            live = [p.client_id for p in self.peers.values() if p.online and p.share_group == self.share_group]
        return bool(live) and min(live) == self.client_id

    # paho callbacks (its thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log(logger, logging.ERROR, "broker refused the presence connection", reason=str(reason_code))
            return
        client.publish(presence_topic(self.city, self.client_id), self._status(True), qos=1, retain=True)
        client.subscribe(presence_topic(self.city, "+"), qos=1)

    def _on_message(self, client, userdata, message) -> None:
        try:
            body = orjson.loads(message.payload)
            peer = Peer(
                client_id=str(body["client_id"]),
                online=bool(body["online"]),
                share_group=body.get("share_group"),
                session_expiry_s=int(body.get("session_expiry_s", 0)),
                since=time.time(),
                rescued="rescued_by" in body,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return  # an empty retained message (cleared) or something not ours
        with self._lock:
            known = self.peers.get(peer.client_id)
            if known is not None and known.online == peer.online and known.rescued == peer.rescued:
                return  # a repeat: keep when the state began
            self.peers[peer.client_id] = peer
