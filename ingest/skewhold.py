"""Clock-skew rejects held whole for a replay (issue 19 item 6; decision 0015).

A unit whose clock runs ahead has every message rejected as ``clock_skew`` (validate.py):
its `sent` and its fix times are as far ahead, so its data is fine and only its clock is
wrong. Dead letters keep no numbers (deadletter.py), so such a message could never be
stored later. For a registered vehicle the message is therefore also *held* whole in
``skew_held`` — bounded in number per vehicle (MAX_HELD_PER_VEHICLE) and in time
(privacy_settings.skew_hold_hours, default 48 h, shown on the transparency page) — next to
its scrubbed dead letter. Every other reject reason keeps the scrubbed dead letter only.
Nothing reads a held payload but the replay (replay.py).
"""

from __future__ import annotations

# About 5.5 h of a unit publishing once a second (simulator and firmware batch several
# fixes per message, so usually a whole shift); a message is at most 256 KiB, typically ~1 KiB.
MAX_HELD_PER_VEHICLE = 20_000
HOLD_COLUMNS = ("vehicle_id", "received_at", "topic", "payload", "skew_ms")
# Up to the per-vehicle bound: rows past it (counting what is held already) are not held;
# their dead letters remain. Concurrent writers may overshoot by a batch each.
# A message held or replayed already (a QoS 1 redelivery, a duplicate publish) is not held
# again: its hash is kept until retention, so a replay never sees it twice.
HOLD = """
INSERT INTO skew_held (vehicle_id, received_at, topic, payload, payload_sha256, skew_ms)
SELECT u.vehicle_id, u.received_at, u.topic, u.payload, sha256(u.payload), u.skew_ms
FROM (SELECT h.*, row_number() OVER (PARTITION BY h.vehicle_id ORDER BY h.received_at) AS nth
      FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bytea[], $5::bigint[])
           AS h(vehicle_id, received_at, topic, payload, skew_ms)) u
WHERE EXISTS (SELECT 1 FROM vehicles v WHERE v.vehicle_id = u.vehicle_id)
  AND u.nth + (SELECT count(*) FROM skew_held q WHERE q.vehicle_id = u.vehicle_id AND q.replayed_at IS NULL) <= $6
ON CONFLICT (vehicle_id, payload_sha256) DO NOTHING
"""


def hold_rows(held: list[tuple]) -> list[list]:
    """Batch.held rows as HOLD's array parameters (plus the bound)."""
    return [[row[i] for row in held] for i in range(len(HOLD_COLUMNS))]
