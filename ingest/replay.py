"""Replaying a vehicle's held clock-skew messages once its clock is fixed (issue 19 item 6;
decision 0015; what is held and why: skewhold.py).

Every held message of the vehicle is moved back by one offset: the one the admin states, or
the skew measured on the held messages (their median, in whole seconds: a unit's clock is off
by one amount, and the median ignores a few messages the broker delivered late). Then each
goes through the ingest's own pipeline: validation, the vehicle's shift windows (off-duty
fixes dropped and counted), privacy zones, and the idempotent write on (vehicle, time). In
the same transaction the replayed copies are emptied (their hash stays, so a redelivery is
not held again; retention removes the row) and the audit row is written. A message still
skewed after the correction (a wrong stated offset) stays held, without a second dead letter.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import orjson

from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.pipeline import Pipeline
from fleetpilot.ingest.registry import Registry
from fleetpilot.ingest.topics import parse_topic
from fleetpilot.ingest.validate import Validator
from fleetpilot.ingest.write import BatchWriter, prepare_connection

HELD = """
SELECT h.vehicle_id, count(*)::int AS held,
       min(h.received_at) AS oldest, max(h.received_at) AS newest,
       round(avg(h.skew_ms) / 1000.0, 1)::float8 AS held_skew_s,
       (SELECT d.clock_skew_s FROM devices d WHERE d.vehicle_id = h.vehicle_id
        ORDER BY d.clock_checked_at DESC NULLS LAST LIMIT 1)::float8 AS clock_skew_s
FROM skew_held h JOIN vehicles v USING (vehicle_id)
WHERE h.replayed_at IS NULL AND h.received_at >= now() - make_interval(hours => (SELECT skew_hold_hours FROM privacy_settings))
  AND ($1::text IS NULL OR v.city = $1)
GROUP BY h.vehicle_id ORDER BY h.vehicle_id
"""
# Locked, so two replays of one vehicle do not both send a message (the second waits, then
# finds it gone). Expired rows are never replayed, even before retention removes them.
TAKE = """
SELECT held_id, skew_ms FROM skew_held
WHERE vehicle_id = $1 AND replayed_at IS NULL
  AND received_at >= now() - make_interval(hours => (SELECT skew_hold_hours FROM privacy_settings))
ORDER BY received_at, held_id
FOR UPDATE
"""
CHUNK = """
SELECT held_id, (extract(epoch FROM received_at) * 1000)::bigint AS received_ms, topic, payload
FROM skew_held WHERE held_id = ANY($1::bigint[]) ORDER BY received_at, held_id
"""
EMPTY = "UPDATE skew_held SET payload = '', replayed_at = now() WHERE held_id = ANY($1::bigint[])"
CHUNK_MESSAGES = 500  # held messages per pipeline batch: bounded memory for any backlog
STILL_SKEWED = ("clock_skew", "future_time")


@dataclass
class ReplayResult:
    vehicle_id: str
    offset_s: float | None  # the correction applied (the unit was this far ahead); None: nothing held
    measured: bool  # offset_s is the skew measured on the held messages (not stated by the admin)
    messages: int = 0  # held messages taken
    replayed: int = 0  # … sent through the pipeline and emptied in the hold
    still_skewed: int = 0  # … still ahead after the correction: left held
    fixes_stored: int = 0
    events_stored: int = 0
    duplicates: int = 0  # rows already stored (a second delivery): nothing changed
    # Rows the privacy filter did not store, by reason (off_duty, private, zone): counted in
    # privacy_drops like any other message's.
    not_stored: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)  # other reasons: scrubbed dead letters

    def as_detail(self) -> dict:
        return dataclasses.asdict(self)


class _OneConnection:
    """The pipeline's `db` on the replay's connection (no retries: the caller's transaction)."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def run(self, operation):
        return await operation(self.conn)


def corrected(payload: bytes, shift_ms: int) -> bytes:
    """The v1 payload with `sent` and every fix and event time moved back by `shift_ms`
    (anything else left as it is; a payload that is not a v1 object is returned unchanged)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload  # the pipeline rejects it as it would have the first time
    if not isinstance(body, dict):
        return payload
    if isinstance(body.get("sent"), int):
        body["sent"] -= shift_ms
    for f in body.get("fixes") or ():
        if isinstance(f, list) and f and isinstance(f[0], int):
            f[0] -= shift_ms
    for e in body.get("events") or ():
        if isinstance(e, dict) and isinstance(e.get("t"), int):
            e["t"] -= shift_ms
    return orjson.dumps(body)


async def held(conn: asyncpg.Connection, city: str | None = None) -> list[dict]:
    """Per vehicle with held messages: how many, their receive span, the skew measured on
    them and the device's current measured skew."""
    return [dict(r) for r in await conn.fetch(HELD, city)]


Audit = Callable[[asyncpg.Connection, ReplayResult], Awaitable[None]]


class UnknownVehicle(LookupError):
    """No such vehicle."""


async def replay_held(
    conn: asyncpg.Connection,
    vehicle_id: str,
    *,
    offset_s: float | None = None,
    audit: Audit,
    now_ms: int,
    max_future_s: float = 300.0,
) -> ReplayResult:
    """Replay `vehicle_id`'s held messages, corrected by `offset_s` (the unit's clock was that
    far ahead) or, when None, by the skew measured on them; one transaction, audited by
    `audit(conn, result)` inside it. `conn` gets the ingest's timestamp codec for the call."""
    city = await conn.fetchval("SELECT city FROM vehicles WHERE vehicle_id = $1", vehicle_id)
    if city is None:
        raise UnknownVehicle(f"no vehicle {vehicle_id!r}")
    registry = Registry(city)
    await registry.load(conn)  # before the transaction: it opens a read-only one
    pipeline = Pipeline(
        city,
        Validator(max_future_ms=int(max_future_s * 1000)),
        registry,
        _OneConnection(conn),  # type: ignore[arg-type]
        IngestMetrics(),
        hold_skewed=False,
    )
    writer = BatchWriter()
    result = ReplayResult(vehicle_id, offset_s, measured=offset_s is None)
    await prepare_connection(conn)
    try:
        async with conn.transaction():
            taken = await conn.fetch(TAKE, vehicle_id)
            ids = [r["held_id"] for r in taken]
            result.messages = len(ids)
            if taken and offset_s is None:
                result.offset_s = float(round(statistics.median(r["skew_ms"] for r in taken) / 1000))
            shift_ms = round((result.offset_s or 0) * 1000)
            for start in range(0, len(ids), CHUNK_MESSAGES):
                rows = await conn.fetch(CHUNK, ids[start : start + CHUNK_MESSAGES])
                await _replay_chunk(conn, pipeline, writer, rows, shift_ms, now_ms, result)
            await audit(conn, result)
    finally:
        await conn.reset_type_codec("timestamptz", schema="pg_catalog")
    return result


async def _replay_chunk(
    conn: asyncpg.Connection,
    pipeline: Pipeline,
    writer: BatchWriter,
    rows: list,
    shift_ms: int,
    now_ms: int,
    result: ReplayResult,
) -> None:
    batch = Batch()
    done: list[int] = []
    for r in rows:
        parsed = parse_topic(r["topic"], pipeline.city)
        payload = corrected(r["payload"], shift_ms) if parsed else r["payload"]
        item = Inbound(r["topic"], payload, 0, 0, 0, r["received_ms"])
        rejects_before, counts_before = len(batch.rejects), dict(pipeline.reject_counts)
        await pipeline.process(item, batch, now_ms)
        reason = next((k for k, n in pipeline.reject_counts.items() if n != counts_before.get(k, 0)), None)
        if reason in STILL_SKEWED:
            del batch.rejects[rejects_before:]  # its dead letter exists from the first time
            batch.messages.pop()
            result.still_skewed += 1
            continue
        if reason is not None:
            result.rejected[reason] = result.rejected.get(reason, 0) + 1
        done.append(r["held_id"])
    written = await writer.write(conn, batch)
    await conn.execute(EMPTY, done)
    result.replayed += len(done)
    result.fixes_stored += written.fixes_stored
    result.events_stored += written.events_stored
    result.duplicates += written.fixes_duplicate + written.events_duplicate
    for (_, _, why), (fixes, events) in batch.drops.items():
        result.not_stored[why] = result.not_stored.get(why, 0) + fixes + events
