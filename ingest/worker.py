"""An ingest worker: receiver → pipeline → writers → in-order acknowledgements.

Tasks on one event loop (paho runs its own network thread):

* the pipeline takes messages from the bounded buffer, processes them into the current
  batch and, when the batch is due (size or age), hands it to the writers' queue;
* `writers` tasks, each with its own connection, write batches (retrying through outages);
* acknowledgements are released in receive order: batch N+1 may commit before batch N,
  but its acks wait, because MQTT asks for PUBACKs in the order PUBLISHes arrived.

Backpressure chain: a slow database fills the writers' queue (bounded), the pipeline waits
on it, the buffer fills (bounded), paho's thread blocks in `put`, the broker holds the rest.

Stopping (`stop()`, e.g. on SIGTERM): the buffer stops taking messages, everything taken
is processed, written and acknowledged, then the session is disconnected cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import BoundedBuffer
from fleetpilot.ingest.dblink import DbLink
from fleetpilot.ingest.dialects.bindings import Bindings
from fleetpilot.ingest.dialects.stage import DialectStage
from fleetpilot.ingest.logs import log
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.pipeline import Pipeline
from fleetpilot.ingest.receive import Receiver
from fleetpilot.ingest.registry import Registry
from fleetpilot.ingest.validate import Validator
from fleetpilot.ingest.watch import Watch
from fleetpilot.ingest.write import BatchWriter, WriteResult, prepare_connection
from fleetpilot.urls import parse_mqtt_url

logger = logging.getLogger("fleetpilot.ingest.worker")
TAKE_MESSAGES = 500  # messages taken from the buffer per pipeline step


@dataclass(frozen=True)
class IngestConfig:
    database_url: str
    mqtt_url: str
    city: str = "metro"
    worker_id: str = "1"  # stable per worker: it names the persistent MQTT session
    share_group: str | None = "ingest"  # MQTT 5 shared subscription group; None = subscribe alone
    protocol: str = "5"  # "5" or "3.1.1"
    batch_rows: int = 5_000  # a batch is written when it holds this many rows …
    batch_wait_s: float = 0.05  # … or its first message has waited this long
    # Received, not yet processed; also the MQTT 5 Receive Maximum. Far above what is ever
    # unacknowledged: Mosquitto counts a message in flight until it has *read* its PUBACK, and
    # a broker busy reading publishes lags; past the Receive Maximum it queues only
    # max_queued_messages (default 1000) and drops the rest (seen at 10 000 with 8 000 unacked).
    buffer_messages: int = 30_000
    # Concurrent writer connections: a batch's time is mostly round trips waiting for the
    # server, so more overlap helps (bench: 4 beat 2 at 1 and at 10 fixes per message).
    writers: int = 4
    max_future_s: float = 300.0  # fix/event times further ahead of the server clock are rejected
    registry_refresh_s: float = 30.0
    # How long the broker keeps this worker's session (and routes it a share) after the worker
    # is gone. Short, so a share no one rescues is released within minutes (peers.py); long
    # enough for a restart or a rolling deploy. `--session-expiry`.
    session_expiry_s: int = 300
    rescue_after_s: float = 10.0  # a dead peer's stranded share is taken over after this long
    # A clean stop with no live peer in the group (e.g. the only worker, for maintenance) leaves
    # the session this long instead: nobody else takes the messages, so the queue must wait.
    alone_session_expiry_s: int = 7 * 86400
    stall_after_s: float = 5.0  # no commit this long while messages wait: logged as a stall
    skew_store_every_s: float = 30.0  # devices' clock skew written to `devices` this often
    mqtt_client: str = "fast"  # "fast" (hand-parsed QoS 1, batched acks) or "paho" (paho's own path)
    shutdown_timeout_s: float = 30.0  # on stop: how long to keep retrying the last batches
    # Other dialects' topics (docs/trackers.md); None: not subscribed. "{city}" is replaced.
    traccar_topic: str | None = "traccar/{city}/+"
    owntracks_topic: str | None = "owntracks/+/+"

    def dialect_topics(self) -> dict[str, str]:
        topics = {"traccar": self.traccar_topic, "owntracks": self.owntracks_topic}
        return {d: t.replace("{city}", self.city) for d, t in topics.items() if t}

    @property
    def client_id(self) -> str:
        return f"fleetpilot-ingest-{self.city}-{self.worker_id}"


class IngestWorker:
    def __init__(self, config: IngestConfig, metrics: IngestMetrics | None = None):
        self.config = config
        self.metrics = metrics or IngestMetrics()
        self._stopping = asyncio.Event()
        self._buffer: BoundedBuffer | None = None
        self._next_batch = 0  # sequence number of the next batch handed to the writers
        self._next_ack = 0  # the batch whose acks go out next
        self._committed: dict[int, Batch] = {}
        self.receiver: Receiver | None = None
        self.receivers: list[Receiver] = []  # the worker's own, and rescues of stranded shares (watch.py)
        self.last_commit = time.monotonic()
        self._taken = 0  # messages taken from the buffer, and acknowledged-or-skipped: see outstanding()
        self._settled = 0
        self.totals = {"batches": 0, "fixes_stored": 0, "events_stored": 0, "rejects": 0, "acked": 0}

    def stop(self) -> None:
        """Ask the worker to finish what it has taken and return from `run` (thread-unsafe:
        call it on the worker's event loop, e.g. from a signal handler added there)."""
        self._stopping.set()
        if self._buffer is not None:
            self._buffer.wake()

    async def run(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        buffer = self._buffer = BoundedBuffer(cfg.buffer_messages, loop)
        registry = Registry(cfg.city, refresh_s=cfg.registry_refresh_s)
        reader = DbLink(cfg.database_url, "registry", self.metrics)
        await reader.run(registry.load)
        dialects = DialectStage(
            cfg.dialect_topics(), Bindings(cfg.city, refresh_s=cfg.registry_refresh_s), self.metrics
        )
        pipeline = Pipeline(
            cfg.city,
            Validator(max_future_ms=int(cfg.max_future_s * 1000)),
            registry,
            reader,
            self.metrics,
            dialects=dialects,
        )
        self.receiver = Receiver(
            parse_mqtt_url(cfg.mqtt_url),
            cfg.client_id,
            cfg.city,
            buffer,
            self.metrics,
            protocol=cfg.protocol,
            share_group=cfg.share_group,
            session_expiry_s=cfg.session_expiry_s,
            client_kind=cfg.mqtt_client,
            extra_filters=tuple(dialects.filters()),
        )
        self.receivers = [self.receiver]
        m = self.metrics
        # Read at scrape time, on the metrics thread: true even while the loop is blocked.
        m.queue_depth.set_function(lambda: len(buffer))
        m.backpressure.set_function(buffer.blocked_total_s)
        m.last_commit_age.set_function(lambda: time.monotonic() - self.last_commit)
        m.messages_waiting.set_function(self.outstanding)
        m.skewed_devices.set_function(lambda: len(pipeline.skew.skewed()))
        m.skew_max.set_function(pipeline.skew.max_abs)
        peers = None
        if cfg.protocol == "5" and cfg.share_group:
            from fleetpilot.ingest.peers import PeerWatch

            peers = PeerWatch(
                parse_mqtt_url(cfg.mqtt_url), cfg.city, cfg.client_id, cfg.share_group, cfg.session_expiry_s
            )
        watch_db = DbLink(cfg.database_url, "watch", self.metrics)
        watch = Watch(
            self,
            pipeline,
            peers,
            stall_after_s=cfg.stall_after_s,
            skew_store_every_s=cfg.skew_store_every_s,
            db=watch_db,
        )
        queue: asyncio.Queue[tuple[int, Batch] | None] = asyncio.Queue(maxsize=cfg.writers)
        links = [
            DbLink(cfg.database_url, f"writer-{i}", self.metrics, init=prepare_connection) for i in range(cfg.writers)
        ]
        writer = BatchWriter()
        writers = [asyncio.create_task(self._write_loop(queue, link, writer)) for link in links]
        self.receiver.start()
        if peers is not None:
            peers.start()
        watching = asyncio.create_task(watch.run())
        log(
            logger,
            logging.INFO,
            "ingest worker started",
            client_id=cfg.client_id,
            city=cfg.city,
            share_group=cfg.share_group if cfg.protocol == "5" else None,
            writers=cfg.writers,
            batch_rows=cfg.batch_rows,
            batch_wait_s=cfg.batch_wait_s,
            buffer_messages=cfg.buffer_messages,
            session_expiry_s=cfg.session_expiry_s if cfg.protocol == "5" else None,
        )
        try:
            await self._pipeline_loop(buffer, pipeline, queue, writers)
            for _ in writers:
                await queue.put(None)
            done, pending = await asyncio.wait(writers, timeout=cfg.shutdown_timeout_s)
            for task in pending:  # the database stayed away: those messages stay unacknowledged
                task.cancel()
            for task in done:
                task.result()
        finally:
            for task in writers:
                task.cancel()
            watching.cancel()
            for rescue in self.receivers[1:]:  # unacknowledged: the session gets them again
                rescue.release()
            alone = peers is None or not peers.live_peers()
            if peers is not None:
                peers.stop()
            self.receiver.stop(keep_session_s=cfg.alone_session_expiry_s if alone else None)
            for link in (reader, watch_db, *links):
                await link.close()
            log(logger, logging.INFO, "ingest worker stopped", **self.totals)

    async def _pipeline_loop(
        self, buffer: BoundedBuffer, pipeline: Pipeline, queue: asyncio.Queue, writers: list[asyncio.Task]
    ) -> None:
        cfg = self.config
        batch = Batch()
        while True:
            stopping = self._stopping.is_set()
            if stopping:
                buffer.close()  # from now on paho's thread leaves new messages unacknowledged
            # Small takes keep the loop responsive: writers' I/O runs between them. Without
            # new messages, wake up when the open batch is due.
            wait = cfg.batch_wait_s - batch.age() if batch.messages else cfg.batch_wait_s
            items = await buffer.get_many(TAKE_MESSAGES, 0.0 if stopping else max(wait, 0.0))
            self._taken += len(items)
            if items:
                await pipeline.refresh_registry()
                now_ms = int(time.time() * 1000)
                for item in items:
                    await pipeline.process(item, batch, now_ms)
            if batch.due(cfg.batch_rows, cfg.batch_wait_s) or (stopping and batch.messages):
                await self._hand_over(queue, (self._next_batch, batch), writers)
                self._next_batch += 1
                batch = Batch()
            self.metrics.seq_missing.set(pipeline.seqs.missing())
            if stopping and not items:
                return

    @staticmethod
    async def _hand_over(queue: asyncio.Queue, entry: tuple[int, Batch], writers: list[asyncio.Task]) -> None:
        """Queue a batch for the writers, waiting while they are busy; a writer that died
        (a bug, not an outage: outages are retried) stops the worker instead of a hang."""
        put = asyncio.ensure_future(queue.put(entry))
        await asyncio.wait([put, *writers], return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
        for task in writers:
            if task.done():
                task.result()

    async def _write_loop(self, queue: asyncio.Queue, link: DbLink, writer: BatchWriter) -> None:
        while True:
            entry = await queue.get()
            if entry is None:
                return
            number, batch = entry
            started = time.monotonic()
            result = await link.run(lambda conn: writer.write(conn, batch))  # noqa: B023 (awaited in this iteration)
            commit_ms = time.time() * 1000
            self._record(batch, result, time.monotonic() - started, commit_ms)
            self._committed[number] = batch
            self.last_commit = time.monotonic()
            self._release_acks()

    def outstanding(self) -> int:
        """Messages received and not yet committed: in the buffer, the open batch or the writers."""
        return len(self._buffer or ()) + self._taken - self._settled

    def _record(self, batch: Batch, result: WriteResult, seconds: float, commit_ms: float) -> None:
        self.metrics.record_write(batch, result, seconds, commit_ms)
        t = self.totals
        t["batches"] += 1
        t["fixes_stored"] += result.fixes_stored
        t["events_stored"] += result.events_stored
        t["rejects"] += result.rejects

    def _release_acks(self) -> None:
        while self._next_ack in self._committed:
            batch = self._committed.pop(self._next_ack)
            acked = sum(receiver.ack(batch.messages) for receiver in self.receivers)
            self._settled += len(batch.messages)
            self.metrics.acked.inc(acked)
            self.totals["acked"] += acked
            self._next_ack += 1
