"""The ingest's HTTP door: one HTTP message through the ingest pipeline, committed before the answer.

Served by the API process (api/trackers/router.py), which enters the ingest here and nowhere
else (an import contract in pyproject.toml).

`HttpIngest` holds what the MQTT worker holds (registry, bindings, validator, the dialect
stage, a batch writer) and writes each request as its own one-message batch, so the HTTP way
in is stateless across requests: any number of API processes behind a load balancer. Writer
connections get the ingest's epoch-ms timestamp codec (write.prepare_connection).

Failures: a database error is answered 503, and Traccar's PositionForwardingHandler retries a
non-2xx answer (forward.retry.*), so nothing is lost; a retry of a request that did commit
changes nothing (idempotent keys). A message that is dead-lettered is *handled*: 200.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from fleetpilot.db.connect import create_pool
from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.dialects import tokens
from fleetpilot.ingest.dialects.bindings import Bindings
from fleetpilot.ingest.dialects.stage import DialectStage
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.pipeline import Pipeline
from fleetpilot.ingest.registry import Registry
from fleetpilot.ingest.validate import Validator
from fleetpilot.ingest.write import BatchWriter, prepare_connection

POOL_SIZE = 4
# What makes the request a 503 (Traccar retries) instead of a 500.
UNAVAILABLE = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError)


class HttpIngest:
    def __init__(self, database_url: str, city: str, *, max_future_s: float = 300.0):
        self.database_url = database_url
        self.city = city
        self.metrics = IngestMetrics()
        self.registry = Registry(city)
        self.stage = DialectStage({}, Bindings(city), self.metrics)
        self.pipeline = Pipeline(
            city, Validator(max_future_ms=int(max_future_s * 1000)), self.registry, self, self.metrics
        )
        self.writer = BatchWriter()
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def run(self, operation):
        """`operation(conn)` on a writer connection (the pipeline's `db`)."""
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await create_pool(
                        self.database_url, min_size=0, max_size=POOL_SIZE, init=prepare_connection
                    )
        async with self._pool.acquire() as conn:
            return await operation(conn)

    async def holder(self, credential: str, dialect: str):
        """The device identity an HTTP token belongs to (None: unknown or revoked)."""
        return await self.run(lambda conn: tokens.verify(conn, credential, dialect))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def ingest(self, dialect: str, identity: str | None, payload: bytes, source: str) -> str:
        """Store one message; returns its outcome once committed (raises UNAVAILABLE errors)."""
        now_ms = int(time.time() * 1000)
        item = Inbound(source, payload, 0, 0, 0, now_ms)
        batch = Batch()
        batch.take(item)
        if self.registry.stale():
            await self.run(self.registry.load)
        outcome = await self.stage.handle(self.pipeline, item, batch, now_ms, dialect, identity)
        result = await self.run(lambda conn: self.writer.write(conn, batch))
        m = self.metrics
        m.stored.labels("fixes").inc(result.fixes_stored)
        m.stored.labels("events").inc(result.events_stored)
        m.duplicates.labels("fixes").inc(result.fixes_duplicate)
        m.duplicates.labels("events").inc(result.events_duplicate)
        for (_, _, reason), (fixes, events) in batch.drops.items():
            m.private.labels(reason, "fixes").inc(fixes)
            m.private.labels(reason, "events").inc(events)
        m.acked.inc()
        if outcome == "stored" and not (result.fixes_stored or result.events_stored):
            return "duplicate"  # a retry of a request that had committed: nothing changed
        return outcome
