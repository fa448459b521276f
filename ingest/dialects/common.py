"""What a dialect adapter makes of one message, before identity and validation.

Units are converted here, once, to protocol v1's: m/s, degrees from north, epoch ms, and
HDOP. Trackers report accuracy in metres; fixes store HDOP, so accuracy becomes an
HDOP-equivalent ``accuracy_m / ACCURACY_M_PER_HDOP`` (the usual 5 m user-equivalent range
error: a 5–50 m phone fix reads as HDOP 1–10; docs/decisions/0006-trackers-in.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

KNOTS_TO_MPS = 1852.0 / 3600.0  # Traccar's speed is in knots (Position.java: "value in knots")
KMH_TO_MPS = 1000.0 / 3600.0  # OwnTracks' vel is km/h
ACCURACY_M_PER_HDOP = 5.0
NUMBER = (int, float)


@dataclass(slots=True)
class Decoded:
    """One message in protocol v1 terms. `identity`: the device id the payload names (Traccar's
    uniqueId); None when the topic or the HTTP token says who it is (OwnTracks)."""

    identity: str | None
    fixes: list[list] = field(default_factory=list)  # v1 fixes [t_ms, lon, lat, speed_mps, heading, hdop]
    events: list[dict] = field(default_factory=list)  # v1 events {t, k, lon, lat, mag, spd}; mag None = unknown
    sent_ms: int | None = None  # when the relay had it (lag metrics); None: when we received it
    ignored: str | None = None  # acknowledged and counted, no rows (e.g. an OwnTracks "lwt")


def is_number(value) -> bool:
    return type(value) in NUMBER  # bool is an int subclass but not a JSON number


def epoch_ms(value) -> int | None:
    """An ISO 8601 time (Jackson's default for java.util.Date: 2024-05-01T10:00:00.000+00:00)
    or epoch milliseconds, as epoch ms; None when it is neither or has no zone."""
    if is_number(value):
        return int(value)
    if type(value) is not str or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # a time without a zone is ambiguous: refuse rather than guess
        return None
    return int(parsed.timestamp() * 1000)


def hdop_from_accuracy(accuracy_m) -> float | None:
    """Accuracy in metres as an HDOP-equivalent; None when unknown (missing, 0 or negative:
    Traccar sends 0 when the protocol has no accuracy)."""
    if not is_number(accuracy_m) or accuracy_m <= 0:
        return None
    return round(accuracy_m / ACCURACY_M_PER_HDOP, 2)
