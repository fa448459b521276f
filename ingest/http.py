"""The ingest's HTTP door: HTTP messages through the ingest pipeline, committed before the answer.

Served by the API process (api/trackers/router.py), which enters the ingest here and nowhere
else (an import contract in pyproject.toml).

`HttpIngest` holds what the MQTT worker holds (registry, bindings, validator, the dialect
stage, the batch writer). Traccar's JSON forwarding and OwnTracks' HTTP mode send one
position per request, so a transaction per request would cap the door at a few hundred
positions a second (round trips, not rows, cost: BEGIN, COPY, side tables, COMMIT). Instead
the door *group-commits*:

* each request runs the pipeline into a batch of its own (it may wait on the database there,
  for a binding or a shift window), then joins the one shared open batch of this process in
  a step with no await (`Batch.merge`), and waits for that batch's commit;
* one writer task writes the open batch whenever it is not already writing one, so the
  requests that arrive during a write share the next transaction: one request alone waits
  for its own commit only; under load a batch holds everything that arrived meanwhile;
* when the commit succeeds every request of the batch is answered (2xx only now); when it
  fails every one of them is answered 503 (Traccar's PositionForwardingHandler retries a
  non-2xx answer, forward.retry.*) and the stage forgets their keys, so a retry is a first
  sight again. A retry of a request that did commit changes nothing (idempotent keys).

Token checks are grouped the same way (`TokenLookups`): the requests waiting at once are
checked in one query, read after each of them arrived, so a revoked token is refused from
the next request on with no cache to outlive. Connections go back to the pool without
asyncpg's reset query (the door creates no session state it would have to clear).

A message that is dead-lettered is *handled*: 200, once its dead letter committed. The door
is stateless across requests: any number of API processes behind a load balancer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg

from fleetpilot.db.connect import create_pool
from fleetpilot.errors import ServiceUnavailable
from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.dialects import tokens
from fleetpilot.ingest.dialects.bindings import Bindings
from fleetpilot.ingest.dialects.stage import DialectStage
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.pipeline import Pipeline
from fleetpilot.ingest.registry import Registry
from fleetpilot.ingest.validate import Validator
from fleetpilot.ingest.write import BatchWriter, WriteResult, prepare_connection

POOL_SIZE = 4  # the writer, token lookups, binding and registry reads
# What makes the request a 503 (Traccar retries) instead of a 500. InternalClientError: the
# server ended the session mid-operation (dblink.RETRYABLE says when; seen here when a
# batch's connection was terminated during its COPY).
UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresError,
    asyncpg.InternalClientError,
    ServiceUnavailable,
)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query: the door leaves no session state behind (the
    writer's staging tables are its own and empty after each commit)."""


class GroupCommit:
    """Batches joined by concurrent requests, written one transaction at a time."""

    def __init__(self, write: Callable[[Batch], Awaitable[WriteResult]], failed: Callable[[Batch], None]):
        self._write = write
        self._failed = failed
        self._open = Batch()
        self._waiting: list[asyncio.Future] = []
        self._task: asyncio.Task | None = None

    def join(self, own: Batch) -> asyncio.Future:
        """Add `own` to the open batch; the future resolves with the WriteResult of the
        transaction that stored it, or raises what made that transaction fail."""
        loop = asyncio.get_running_loop()
        self._open.merge(own)
        done = loop.create_future()
        self._waiting.append(done)
        if self._task is None:
            self._task = loop.create_task(self._run())
        return done

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, waiting = self._open, self._waiting
                self._open, self._waiting = Batch(), []
                try:
                    result = await self._write(batch)
                except BaseException as exc:
                    self._failed(batch)
                    failure = exc if isinstance(exc, Exception) else ConnectionAbortedError("ingest stopping")
                    for future in waiting:
                        if not future.done():
                            future.set_exception(failure)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for future in waiting:
                    if not future.done():  # a client that hung up has a cancelled future
                        future.set_result(result)
        finally:
            self._task = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class TokenLookups:
    """Token rows for concurrent requests, read for all of them in one query at a time."""

    def __init__(self, run: Callable):
        self._run = run
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None

    async def row(self, token_id: str) -> asyncpg.Record | None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.setdefault(token_id, []).append(future)
        if self._task is None:
            self._task = loop.create_task(self._loop())
        return await future

    async def _loop(self) -> None:
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, {}
                ids = list(waiting)
                try:
                    rows = await self._run(lambda conn: tokens.lookup(conn, ids))  # noqa: B023 (awaited here)
                except BaseException as exc:
                    failure = exc if isinstance(exc, Exception) else ConnectionAbortedError("ingest stopping")
                    for futures in waiting.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(failure)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for token_id, futures in waiting.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(rows.get(token_id))
        finally:
            self._task = None


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
        self.commits = GroupCommit(self._write, self._failed)
        self.tokens = TokenLookups(self.run)
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._loading = asyncio.Lock()  # one registry reload at a time, not one per waiting request

    async def run(self, operation):
        """`operation(conn)` on a writer connection (the pipeline's `db`)."""
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await create_pool(
                        self.database_url,
                        min_size=0,
                        max_size=POOL_SIZE,
                        init=prepare_connection,
                        reset=_keep_session,
                    )
        async with self._pool.acquire() as conn:
            try:
                return await operation(conn)
            except asyncpg.InternalClientError:
                conn.terminate()  # its protocol state is unknown: never back into the pool
                raise

    async def holder(self, credential: str, dialect: str):
        """The device identity an HTTP token belongs to (None: malformed, unknown or revoked)."""
        token_id = tokens.token_id(credential)
        if token_id is None:
            return None
        return tokens.holder(await self.tokens.row(token_id), credential, dialect)

    async def close(self) -> None:
        await self.commits.close()
        if self._pool is not None:
            await self._pool.close()

    async def ingest(self, dialect: str, identity: str | None, payload: bytes, source: str) -> str:
        """Store one message; returns its outcome once committed (raises UNAVAILABLE errors)."""
        now_ms = int(time.time() * 1000)
        item = Inbound(source, payload, 0, 0, 0, now_ms)
        own = Batch()
        own.take(item)
        if self.registry.stale():
            async with self._loading:
                if self.registry.stale():
                    await self.run(self.registry.load)
        outcome = await self.stage.handle(self.pipeline, item, own, now_ms, dialect, identity)
        result = await self.commits.join(own)
        if outcome == "again":  # seen before: a retry; "duplicate" when its rows were stored already
            return "duplicate" if result.conflicts else "stored"
        return outcome

    async def _write(self, batch: Batch) -> WriteResult:
        started = time.monotonic()
        result = await self.run(lambda conn: self.writer.write(conn, batch))
        self.metrics.record_write(batch, result, time.monotonic() - started, time.time() * 1000)
        self.metrics.acked.inc(len(batch.messages))
        return result

    def _failed(self, batch: Batch) -> None:
        self.stage.forget(batch.keys)
