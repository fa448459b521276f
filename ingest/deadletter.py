"""Dead letters without positions (privacy model 5; issue 13).

A rejected message is kept so an operator can see *why* a unit's data did not arrive, not
*where* the unit was: an off-duty or private-mode fix is as private in a dead letter as in
the fixes table. So a reject keeps its reason, topic, vehicle, size, SHA-256 and receive
time, and its payload only as text with every number replaced by ``#`` (positions, times
and speeds are numbers in every dialect), cut to PREFIX_CHARS. A payload that is not UTF-8
text is kept as nothing at all: binary floats cannot be told apart from other bytes, and a
few printable bytes of one would still give away its degrees. Long base64-like runs go too
(an encoded position). The detail line, which may echo a value, is scrubbed the same way.
Dead letters have their own short retention (privacy_settings.deadletter_days).
"""

from __future__ import annotations

import hashlib
import re

PREFIX_CHARS = 2048  # of the scrubbed text: enough to see its shape, bounded for 2 MiB floods
NUMBER = "#"
_NUMBERS = re.compile(r"\d+(?:[.,:]\d+)*")  # any script's digits (str pattern): 52.52, 13,4, 1e5
_ENCODED = re.compile(r"[A-Za-z0-9+/_=-]{24,}")
_TOPIC_DECIMALS = re.compile(r"\d+[.,]\d+")


def scrub_text(text: str) -> str:
    """`text` with every number and long encoded run replaced; NUL (which PostgreSQL text
    cannot hold) shown as ␀."""
    text = _ENCODED.sub(lambda m: "…" if any(c.isdigit() for c in m.group()) else m.group(), text)
    return _NUMBERS.sub(NUMBER, text).replace("\x00", "␀")


def scrub_payload(payload: bytes) -> bytes:
    """The payload as kept: scrubbed UTF-8 text, at most PREFIX_CHARS characters; b"" for
    anything that is not text."""
    head = payload[: PREFIX_CHARS * 4]  # enough bytes for PREFIX_CHARS characters
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or len(head) == len(payload):
            return b""  # not text (a cut multi-byte character at the end is fine)
        text = head[: exc.start].decode("utf-8")
    return scrub_text(text)[:PREFIX_CHARS].encode()


def scrub_topic(topic: str) -> str:
    return _TOPIC_DECIMALS.sub(NUMBER, topic).replace("\x00", "\\x00")


def dead_letter(received_ms: int, topic: str, payload: bytes, reason: str, detail: str, vehicle: str | None) -> tuple:
    """The row stored in `rejects` (columns ingest.write.REJECT_COLUMNS). `vehicle`: the one
    the stage that refused the message knew it came from, else None. It is never read from
    the topic here: only protocol v1's topic names a vehicle (its own); Traccar's forwarding
    topic (``traccar/<city>/positions``), OwnTracks' ``…/<user>/<device>`` and the HTTP doors'
    ``http:/api/v1/ingest/…`` have other words there, any of which a real vehicle could be
    called."""
    return (
        received_ms,
        scrub_topic(topic),
        scrub_payload(payload),
        reason,
        scrub_text(detail)[:PREFIX_CHARS],
        len(payload),
        hashlib.sha256(payload).digest(),
        vehicle,
    )
