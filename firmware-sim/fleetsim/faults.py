"""Malformed and hostile payloads, for testing that the ingest rejects them and nothing else.

None of them is valid against the v1 schema except `foreign_vid`, which is well-formed but
claims another vehicle than the topic it arrives on (the ingest must compare the two). None
advances the unit's sequence counter, and none of their fixes or events count as published.
"""

from __future__ import annotations

import numpy as np
import orjson

HUGE_BYTES = 1_200_000  # well above the 256 KiB message limit of docs/protocol.md


def hostile_payload(
    kind: str, vehicle_id: str, other_vehicle_id: str, t_ms: int, sent_ms: int, rng: np.random.Generator
) -> tuple[str, bytes]:
    """(channel, payload) of one hostile message of `kind` (see schedule.HOSTILE_KINDS)."""
    lon, lat = -96.8 + rng.uniform(-0.05, 0.05), 32.78 + rng.uniform(-0.05, 0.05)
    fix = [t_ms, round(lon, 7), round(lat, 7), 5.0, 90.0, 1.0]
    seq = int(rng.integers(0, 1_000_000))
    if kind == "bad_json":
        good = orjson.dumps({"v": 1, "vid": vehicle_id, "seq": seq, "sent": sent_ms, "fixes": [fix]})
        return "telemetry", good[: int(rng.integers(5, len(good) - 2))] + b"\x00\xff"
    if kind == "wrong_types":
        return "events", orjson.dumps(
            {
                "v": "1",
                "vid": vehicle_id,
                "seq": str(seq),
                "sent": "yesterday",
                "events": [{"t": str(t_ms), "k": 7, "lon": "west", "lat": None, "mag": "big"}],
            }
        )
    if kind == "out_of_range":
        bad = [t_ms, 200.0 + rng.uniform(0, 50), -95.0 - rng.uniform(0, 5), -3.0, 725.0, -1.0]
        return "telemetry", orjson.dumps({"v": 1, "vid": vehicle_id, "seq": seq, "sent": sent_ms, "fixes": [bad]})
    if kind == "huge":
        return "telemetry", orjson.dumps(
            {"v": 1, "vid": vehicle_id, "seq": seq, "sent": sent_ms, "fixes": [], "pad": "A" * HUGE_BYTES}
        )
    if kind == "foreign_vid":
        return "telemetry", orjson.dumps({"v": 1, "vid": other_vehicle_id, "seq": seq, "sent": sent_ms, "fixes": [fix]})
    if kind == "bad_version":
        return "events", orjson.dumps(
            {
                "v": 2,
                "vid": vehicle_id,
                "seq": seq,
                "sent": sent_ms,
                "events": [{"t": t_ms, "k": "harsh_brake", "lon": fix[1], "lat": fix[2], "mag": 4.0, "spd": 10.0}],
            }
        )
    raise ValueError(f"unknown hostile kind {kind!r}")
