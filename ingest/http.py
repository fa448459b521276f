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
* a writer task writes the open batch whenever none is writing; while one writes, another
  starts only once the open batch holds `overlap_at` requests (the API: OVERLAP_AT), up to
  `writers` (the API: WRITERS) at once, so the requests that arrive meanwhile share the next
  transaction: one request alone waits for its own commit only; under load a batch holds
  everything that arrived meanwhile, and at least OVERLAP_AT when commits overlap (a batch's
  side-table rows, ``devices`` and ``rollup_dirty``, cost PostgreSQL about as much as its
  fixes when each batch holds a few dozen positions: decision 0032);
* when the commit succeeds every request of the batch is answered (2xx only now); when it
  fails every one of them is answered 503 (Traccar's PositionForwardingHandler retries a
  non-2xx answer, forward.retry.*) and the stage forgets their keys, so a retry is a first
  sight again. A retry of a request that did commit changes nothing (idempotent keys).

Tokens: a token's row (digest of its secret, dialect, device) is read once and kept for
TOKEN_ROW_S, the rows not yet held read for all requests waiting at once in one query
(`TokenLookups`). Revocation does not wait for that: each group commit reads which of its
requests' tokens are revoked inside its transaction, in the statement that also marks the
rollups and devices (write.SIDE_TABLES_AND_REVOKED); if any is, the transaction rolls back,
their requests are answered 401 with nothing stored, the others go on into the next
transaction. So a revocation committed before a batch's write holds for every
request in it, on every API process. Connections go back to the pool without asyncpg's
reset query (the door creates no session state it would have to clear).

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
from fleetpilot.ingest.write import BatchWriter, TokensRevoked, WriteResult, prepare_connection

__all__ = ["OVERLAP_AT", "UNAVAILABLE", "WRITERS", "HttpIngest", "TokensRevoked"]

WRITERS = 3  # group commits in flight per API process (the API's HttpIngest; tests choose)
OVERLAP_AT = 64  # requests the open batch holds before a second commit may overlap a running one
POOL_SIZE = WRITERS + 2  # the writers, token lookups, binding and registry reads
LAST_SEEN_STEP_MS = 1_000  # devices.last_seen is moved by this process at most this often per vehicle
TOKEN_ROW_S = 30.0  # a token's row (digest, dialect, device) is read again after this long
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
    """Batches joined by concurrent requests, written up to `writers` transactions at a time.

    With one writer, every request that arrives during a write joins the next batch. A commit
    takes tens of milliseconds on a busy database whatever the batch holds, so one writer
    caps a process at (requests in flight) / (commit time): more writers overlap the commits;
    a request still waits for its own batch's commit only."""

    def __init__(
        self,
        write: Callable[[Batch, set[str]], Awaitable[WriteResult]],
        failed: Callable[[Batch], None],
        writers: int = 1,
        overlap_at: int = 1,
    ):
        self._write = write
        self._failed = failed
        self._writers = writers
        self._overlap_at = overlap_at
        self._open = Batch()
        # (the request's own batch, its future, its token id) per request in the open batch
        self._parts: list[tuple[Batch, asyncio.Future, str | None]] = []
        self._tasks: set[asyncio.Task] = set()

    def join(self, own: Batch, token_id: str | None = None) -> asyncio.Future:
        """Add `own` to the open batch; the future resolves with the WriteResult of the
        transaction that stored it, or raises what made that transaction fail
        (`TokensRevoked` when `token_id` was revoked before the write)."""
        loop = asyncio.get_running_loop()
        self._open.merge(own)
        done = loop.create_future()
        self._parts.append((own, done, token_id))
        busy = len(self._tasks)
        # Nobody writing: write now. Some writing: one more only for a batch big enough to be
        # worth its own transaction; else a busy writer takes it when its commit is done.
        if busy == 0 or (busy < self._writers and len(self._parts) >= self._overlap_at):
            task = loop.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return done

    async def _run(self) -> None:
        try:
            while self._parts:
                batch, parts = self._open, self._parts
                self._open, self._parts = Batch(), []
                token_ids = {token for _, _, token in parts if token is not None}
                try:
                    result = await self._write(batch, token_ids)
                except TokensRevoked as revoked:
                    self._requeue(parts, revoked)
                    continue
                except BaseException as exc:
                    self._failed(batch)
                    failure = exc if isinstance(exc, Exception) else ConnectionAbortedError("ingest stopping")
                    for _, future, _ in parts:
                        if not future.done():
                            future.set_exception(failure)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for _, future, _ in parts:
                    if not future.done():  # a client that hung up has a cancelled future
                        future.set_result(result)
        finally:
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _requeue(self, parts: list, revoked: TokensRevoked) -> None:
        """Refuse the revoked tokens' requests (nothing of theirs stored); the others go first
        into the next transaction."""
        kept = Batch()
        again = []
        for own, future, token in parts:
            if token in revoked.token_ids:
                self._failed(own)
                if not future.done():
                    future.set_exception(revoked)
            else:
                kept.merge(own)
                again.append((own, future, token))
        kept.merge(self._open)
        self._open, self._parts = kept, again + self._parts

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
    def __init__(
        self, database_url: str, city: str, *, max_future_s: float = 300.0, writers: int = 1, overlap_at: int = 1
    ):
        self.database_url = database_url
        self.city = city
        self.metrics = IngestMetrics()
        self.registry = Registry(city)
        self.stage = DialectStage({}, Bindings(city), self.metrics)
        self.pipeline = Pipeline(
            city, Validator(max_future_ms=int(max_future_s * 1000)), self.registry, self, self.metrics
        )
        self.writer = BatchWriter()
        self.commits = GroupCommit(self._write, self._failed, writers, overlap_at)
        self.tokens = TokenLookups(self.run)
        # token id -> (its row as read, monotonic time read); revocation is checked per write
        self._token_rows: dict[str, tuple[dict, float]] = {}
        # (token text, dialect) -> (holder, its row, time read): verified once per row read
        self._verified: dict[tuple[str, str], tuple[tokens.TokenHolder, dict, float]] = {}
        # vehicle id -> (last_seen ms, last_seq) this process committed to ``devices``
        self._seen_written: dict[str, tuple[int, int]] = {}
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
        """The device identity an HTTP token belongs to (None: malformed, unknown or revoked).

        A row once read is kept for TOKEN_ROW_S (a device's identity rarely changes; the
        bound is the bindings' own): revocation does not wait for it, `_write` checks it. A
        token once verified against its row is recognised by its exact text until then."""
        now = time.monotonic()
        seen = self._verified.get((credential, dialect))
        if seen is not None and now - seen[2] <= TOKEN_ROW_S:
            return None if seen[1]["revoked"] else seen[0]
        token_id = tokens.token_id(credential)
        if token_id is None:
            return None
        held = self._token_rows.get(token_id)
        if held is None or now - held[1] > TOKEN_ROW_S:
            record = await self.tokens.row(token_id)
            if record is None:  # unknown: not kept (a token issued later works at once)
                return None
            held = self._token_rows[token_id] = (dict(record), time.monotonic())
        found = tokens.holder(held[0], credential, dialect)
        if found is not None:  # only verified tokens: a guessed one never fills this
            self._verified[(credential, dialect)] = (found, held[0], held[1])
        return found

    async def close(self) -> None:
        await self.commits.close()
        if self._pool is not None:
            await self._pool.close()

    async def ingest(
        self, dialect: str, identity: str | None, payload: bytes, source: str, token_id: str | None = None
    ) -> str:
        """Store one message; returns its outcome once committed (raises UNAVAILABLE errors, and
        TokensRevoked when `token_id` was revoked before the write: nothing stored)."""
        now_ms = int(time.time() * 1000)
        item = Inbound(source, payload, 0, 0, 0, now_ms)
        own = Batch()
        own.take(item)
        if self.registry.stale():
            async with self._loading:
                if self.registry.stale():
                    await self.run(self.registry.load)
        outcome = await self.stage.handle(self.pipeline, item, own, now_ms, dialect, identity)
        result = await self.commits.join(own, token_id)
        if outcome == "again":  # seen before: a retry; "duplicate" when its rows were stored already
            return "duplicate" if result.conflicts else "stored"
        return outcome

    async def _write(self, batch: Batch, token_ids: set[str]) -> WriteResult:
        started = time.monotonic()
        self._skip_recent_seen(batch)

        # Read in the batch's transaction, in the statement that also marks rollups and
        # devices (write.SIDE_TABLES_AND_REVOKED, decision 0038): a revocation committed
        # before this batch's write refuses its requests, and the transaction rolls back.
        batch.tokens = tuple(sorted(token_ids))

        async def write(conn: asyncpg.Connection) -> WriteResult:
            try:
                return await self.writer.write(conn, batch)
            except TokensRevoked as revoked:
                for token_id in revoked.token_ids:
                    held = self._token_rows.get(token_id)
                    if held is not None:
                        held[0]["revoked"] = True
                raise

        result = await self.run(write)
        for vid, seen in batch.devices.items():
            before = self._seen_written.get(vid)
            if seen.last_seen_ms is not None and (before is None or seen.last_seen_ms > before[0]):
                self._seen_written[vid] = (seen.last_seen_ms, max(seen.last_seq, before[1] if before else 0))
        self.metrics.record_write(batch, result, time.monotonic() - started, time.time() * 1000)
        self.metrics.acked.inc(len(batch.messages))
        return result

    def _skip_recent_seen(self, batch: Batch) -> None:
        """Leave out of `batch` the ``devices`` rows that would only move last_seen by less than
        LAST_SEEN_STEP_MS past what this process committed. One position per request means a
        row per vehicle per group commit otherwise: updating the same rows over and over cost
        PostgreSQL as much as the fixes themselves (decision 0032). Online/firmware facts and a
        newer sequence number are always written."""
        written = self._seen_written
        for vid in [v for v, seen in batch.devices.items() if seen.online is None and seen.firmware is None]:
            seen = batch.devices[vid]
            before = written.get(vid)
            if (
                before is not None
                and seen.last_seen_ms is not None
                and seen.last_seen_ms - before[0] < LAST_SEEN_STEP_MS
                and seen.last_seq <= before[1]
            ):
                del batch.devices[vid]

    def _failed(self, batch: Batch) -> None:
        self.stage.forget(batch.keys)
