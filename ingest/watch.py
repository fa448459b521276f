"""What the worker says about itself while the pipeline may be stuck: a task of its own.

The pipeline loop blocks while the database is away (it waits for room in the writers'
queue), so nothing it sets or logs can describe a stall. This task runs beside it, every
`interval_s`, and:

* logs a stall's start (WARNING: no commit for `stall_after_s` while messages wait) and end
  (INFO, with its duration); gauge ``stalled``;
* logs reject bursts: at most one line per `burst_every_s`, counts per reason and one
  example detail per reason (a flood of 100k bad payloads is one line every 10 s, not 100k);
* logs sequence gaps (what the broker dropped, as the devices' numbering shows) when the
  missing count grows; meaningful for a worker that subscribes alone (with a shared
  subscription each worker sees only its share of every device's numbers);
* logs clock skew: devices whose newest fix time is further from the receive time than
  the tolerance;
* watches stranded shares of dead peers and rescues them (peers.py).

The buffer gauges are not set here but read at scrape time (`set_function`), so they are
true even if the event loop itself stalls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from fleetpilot.ingest.logs import log
from fleetpilot.ingest.receive import Receiver

if TYPE_CHECKING:
    from fleetpilot.ingest.peers import Peer, PeerWatch
    from fleetpilot.ingest.pipeline import Pipeline
    from fleetpilot.ingest.worker import IngestWorker

logger = logging.getLogger("fleetpilot.ingest.watch")
RESCUE_IDLE_S = 2.0  # a rescue ends after this long without a message, all acknowledged
STORE_SKEW = """
UPDATE devices d SET clock_skew_s = s.skew_s, clock_checked_at = now()
FROM unnest($1::text[], $2::real[]) AS s(vehicle_id, skew_s)
WHERE d.vehicle_id = s.vehicle_id AND d.dialect = 'v1'
"""


class Watch:
    def __init__(
        self,
        worker: IngestWorker,
        pipeline: Pipeline,
        peers: PeerWatch | None,
        *,
        interval_s: float = 0.5,
        stall_after_s: float = 5.0,
        burst_every_s: float = 10.0,
        skew_store_every_s: float = 30.0,
        db=None,
    ):
        self.worker = worker
        self.pipeline = pipeline
        self.peers = peers
        self.interval_s = interval_s
        self.stall_after_s = stall_after_s
        self.burst_every_s = burst_every_s
        self.stall_since: float | None = None
        self._rejects_seen: dict[str, float] = {}
        self._last_burst = 0.0
        self._missing_seen = 0
        self._last_gap_log = 0.0
        self._stranded_logged: set[str] = set()
        self._rescues: dict[str, tuple[Receiver, Peer, float]] = {}
        self._rescues_made = 0
        self.skew_store_every_s = skew_store_every_s
        self.db = db  # a DbLink of the watch's own (the pipeline's may be busy or blocked)
        self._skew_stored = time.monotonic()

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            try:
                self.check_stall(now)
                self.check_rejects(now)
                self.check_gaps(now)
                self.check_skew()
                if self.db is not None and now - self._skew_stored >= self.skew_store_every_s:
                    self._skew_stored = now
                    await self.store_skew()
                if self.peers is not None:
                    await self.check_peers()
            except Exception:  # the watch must never take the worker down
                logger.exception("watch check failed")
            await asyncio.sleep(self.interval_s)

    # -- stalls ------------------------------------------------------------------------

    def check_stall(self, now: float) -> None:
        w = self.worker
        waiting = w.outstanding()
        idle_s = now - w.last_commit
        m = w.metrics
        if self.stall_since is None and waiting and idle_s >= self.stall_after_s:
            self.stall_since = w.last_commit
            m.stalled.set(1)
            log(
                logger,
                logging.WARNING,
                "ingest stalled: no commit while messages wait",
                since_s=round(idle_s, 1),
                messages_waiting=waiting,
                buffer_messages=len(w._buffer) if w._buffer is not None else 0,
                db_errors=m.db_errors._value.get(),
            )
        elif self.stall_since is not None and (w.last_commit > self.stall_since or not waiting):
            duration = (w.last_commit if w.last_commit > self.stall_since else now) - self.stall_since
            self.stall_since = None
            m.stalled.set(0)
            log(logger, logging.INFO, "ingest stall ended", duration_s=round(duration, 1))

    # -- reject bursts -----------------------------------------------------------------

    def check_rejects(self, now: float) -> None:
        if now - self._last_burst < self.burst_every_s:
            return
        counts = self.pipeline.reject_counts
        burst = {
            r: int(n - self._rejects_seen.get(r, 0)) for r, n in counts.items() if n > self._rejects_seen.get(r, 0)
        }
        if not burst:
            return
        self._rejects_seen = dict(counts)
        self._last_burst = now
        log(
            logger,
            logging.WARNING,
            "messages rejected",
            window_s=self.burst_every_s,
            total=sum(burst.values()),
            reasons=burst,
            examples={r: self.pipeline.last_reject.get(r) for r in burst},
        )

    # -- sequence gaps -----------------------------------------------------------------

    def check_gaps(self, now: float) -> None:
        if self.worker.config.share_group and self.worker.config.protocol == "5":
            return  # each worker sees only its share of every device's numbers
        seqs = self.pipeline.seqs
        missing = seqs.missing()
        if missing > self._missing_seen and now - self._last_gap_log >= self.burst_every_s:
            log(
                logger,
                logging.WARNING,
                "sequence gaps: messages missing from devices (dropped by the broker or a unit, or not yet replayed)",
                missing=missing,
                new=missing - self._missing_seen,
                worst=seqs.worst(5),
            )
            self._last_gap_log = now
        self._missing_seen = missing

    # -- clock skew --------------------------------------------------------------------

    def check_skew(self) -> None:
        skew = self.pipeline.skew
        for vid, skew_s in skew.flagged():
            log(
                logger,
                logging.WARNING,
                "device clock skew beyond tolerance",
                vehicle_id=vid,
                skew_s=round(skew_s, 1),
                tolerance_s=skew.tolerance_s,
                meaning="positive: the unit's fix times are ahead of the server's receive time",
            )

    async def store_skew(self) -> None:
        """Each device's smoothed skew into `devices` (shown to admins). Bounded in time: during
        a database outage the watch must go on reporting, so the write is skipped then."""
        vids, skews = self.pipeline.skew.take_changed()
        if not vids:
            return
        try:
            await asyncio.wait_for(self.db.run(lambda conn: conn.execute(STORE_SKEW, vids, skews)), 5.0)
        except TimeoutError:
            await self.db.close()  # it may have been cut mid-operation; the next write reconnects

    # -- stranded shares ---------------------------------------------------------------

    async def check_peers(self) -> None:
        w, peers = self.worker, self.peers
        now = time.time()
        stranded = peers.stranded(now)
        w.metrics.stranded.set(len(stranded))
        for peer in stranded:
            if peer.client_id not in self._stranded_logged:
                self._stranded_logged.add(peer.client_id)
                log(
                    logger,
                    logging.WARNING,
                    "shared-subscription share stranded: a worker of the group is offline and the broker "
                    "keeps routing its share to its session",
                    peer=peer.client_id,
                    share_group=peer.share_group,
                    session_expires_in_s=round(peer.expires_at - now),
                    rescue_after_s=w.config.rescue_after_s,
                )
        for client_id in list(self._stranded_logged):
            peer = peers.peers.get(client_id)
            if peer is not None and peer.online:
                self._stranded_logged.discard(client_id)
                log(logger, logging.INFO, "stranded share's worker is back", peer=client_id)
            elif peer is not None and not peer.rescued and now >= peer.expires_at:
                self._stranded_logged.discard(client_id)
                log(
                    logger,
                    logging.WARNING,
                    "stranded session expired unrescued: the broker dropped what it held for it and "
                    "routes its share to the live workers again",
                    peer=client_id,
                )
        if peers.rescuer():
            for peer in stranded:
                if peer.client_id not in self._rescues and now - peer.since >= w.config.rescue_after_s:
                    self._start_rescue(peer)
        for client_id, (receiver, peer, started) in list(self._rescues.items()):
            if not receiver.ended.is_set() and not receiver.drained(RESCUE_IDLE_S):
                continue
            if not receiver.ended.is_set() and not receiver.unsubscribed.is_set():
                # Drained while subscribed: stop the routing first, then end the session once
                # what was already queued for it has arrived and is acknowledged.
                if receiver.unsubscribed_requested is False:
                    receiver.unsubscribed_requested = True
                    receiver.unsubscribe()
                continue
            await asyncio.to_thread(receiver.release)
            w.receivers.remove(receiver)
            del self._rescues[client_id]
            if receiver.ended.is_set() and not receiver.drained(0):
                log(logger, logging.WARNING, "rescue interrupted (the worker came back?)", peer=client_id)
                continue
            peers.mark_rescued(peer)
            self._stranded_logged.discard(client_id)
            w.metrics.rescued.inc(receiver.received)
            log(
                logger,
                logging.INFO,
                "stranded share rescued: the session's messages are stored and the session ended",
                peer=client_id,
                messages=receiver.received,
                took_s=round(time.monotonic() - started, 1),
            )

    def _start_rescue(self, peer: Peer) -> None:
        w = self.worker
        cfg = w.config
        self._rescues_made += 1
        receiver = Receiver(
            w.receiver.target,
            peer.client_id,
            cfg.city,
            w._buffer,
            w.metrics,
            protocol="5",
            share_group=peer.share_group,
            session_expiry_s=0,  # the session ends when the rescue disconnects
            client_kind=cfg.mqtt_client,
            extra_filters=w.receiver.extra_filters,
            generation_base=self._rescues_made * 1_000_000,
            rescue=True,
        )
        w.receivers.append(receiver)
        self._rescues[peer.client_id] = (receiver, peer, time.monotonic())
        log(logger, logging.WARNING, "rescuing a stranded share: taking over its session", peer=peer.client_id)
        receiver.start()
