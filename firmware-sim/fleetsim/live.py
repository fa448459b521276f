"""Drive the fleet's schedules onto a real broker, in real time or accelerated.

Every vehicle-day is simulated and scheduled first (fleetsim.offline.iter_vehicle_days, the
same code the offline writer uses), then turned into a timeline of actions — connect,
publish, drop the link, reconnect, disconnect — ordered by simulated time. A simulated clock
runs `accel` times faster than the wall clock from the first action (`accel` 0 = as fast as
the broker acknowledges); due actions are executed in order and the sockets are pumped in
between. Payloads are encoded only when published.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fleetsim.messages import Encoder
from fleetsim.mqtt import Broker, Pump, Unit
from fleetsim.offline import iter_vehicle_days, other_vehicle
from fleetsim.scenario import Scenario
from fleetsim.schedule import OFFLINE
from fleetsim.truth import TruthBuilder
from fleetsim.wire import topic

CONNECT, PUBLISH, DROP, DISCONNECT = range(4)
MAX_BACKLOG = 5000  # unacknowledged publishes across all units before we pump instead of publishing


@dataclass
class LiveReport:
    """What happened on the wire (the transport's own count, next to the truth's)."""

    publishes: int
    acked: int
    failed: int
    connects: int
    drops: int
    sim_span_s: float
    wall_s: float
    actions: int
    start_lag_s: float  # how late the first action was (setup took longer than the start allowed)
    max_lag_s: float  # worst delay of an action behind the simulated clock once caught up
    cpu_s: float  # CPU time of this process while publishing (the share of one core it needed)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _timeline(vd_index: int, enc: Encoder) -> tuple[np.ndarray, ...]:
    """(time, vehicle-day, local order, action, row) of one vehicle-day's actions, in order."""
    s = enc.sched
    rows = np.repeat(s.order, s.copies[s.order])
    times = s.send[rows]
    action = np.where((s.kind[rows] == OFFLINE) & s.by_broker[rows], DROP, PUBLISH)
    connects = np.array(s.connects, dtype=np.int64)
    at = np.searchsorted(times, connects, side="left")
    key = np.concatenate([2 * np.arange(len(rows)) + 1, 2 * at, [2 * len(rows) + 2]])
    t_all = np.concatenate([times, connects, [s.off_ms]])
    act = np.concatenate([action, np.full(len(connects), CONNECT), [DISCONNECT]])
    row = np.concatenate([rows, np.full(len(connects), -1), [-1]])
    order = np.argsort(key, kind="stable")
    n = len(order)
    return t_all[order], np.full(n, vd_index), np.arange(n), act[order], row[order]


def run_live(
    sc: Scenario, broker: Broker, accel: float, duration_s: float | None = None, progress=None, on_ready=None
) -> tuple[dict, LiveReport]:
    """Publish the scenario's fleet to `broker`; returns (truth document, transport report).

    `accel` 1 = real time: the simulated clock *is* the wall clock (actions due in the past are
    caught up at once, future ones waited for); N = N× faster from the first action; 0 = as fast
    as possible. `duration_s` stops after that
    much simulated time from the first action (the truth then still describes whole shifts;
    the report says how far the run got). `on_ready(truth)` is called before the first connect,
    so the plan and truth files can exist before any data arrives."""
    truth = TruthBuilder(sc)
    encoders: list[Encoder] = []
    parts = []
    for vd in iter_vehicle_days(sc):
        truth.add(vd.truth)
        enc = Encoder(
            vd.result, vd.schedule, sc.config.city, other_vehicle(sc, vd.result.shift.vehicle), sc.config.seed
        )
        parts.append(_timeline(len(encoders), enc))
        encoders.append(enc)
    if duration_s is not None:  # keep only what the run will reach (memory of long real-time fleets)
        horizon = min(int(p[0][0]) for p in parts) + duration_s * 1000
        parts = [tuple(c[p[0] < horizon] for c in p) for p in parts]
    times, vds, local, acts, rows = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((local, vds, times))
    times, vds, acts, rows = times[order], vds[order], acts[order], rows[order]
    document = truth.document()
    if on_ready is not None:
        on_ready(document)
    pump = Pump(broker)
    units: dict[str, Unit] = {}
    for vid, dev in zip(sc.roster.vehicle_ids, sc.roster.device_ids):
        units[vid] = pump.add_unit(dev, vid)
    sim0 = int(times[0]) if len(times) else 0
    wall0 = time.monotonic()
    if accel == 1.0:  # anchor to the epoch clock: timestamps are "now"
        sim0, wall0 = int(time.time() * 1000), time.monotonic()
    cpu0 = time.process_time()
    caught_up = False
    last_progress = wall0
    max_lag = 0.0
    start_lag = None  # until the publisher has caught up with the clock once, lag is start lag
    t_list, vd_list, act_list, row_list = times.tolist(), vds.tolist(), acts.tolist(), rows.tolist()
    try:
        i, n = 0, len(t_list)
        while i < n:
            now = sim0 + (time.monotonic() - wall0) * 1000 * accel if accel > 0 else float("inf")
            burst = 0
            if i < n and accel > 0 and t_list[i] <= now:
                lag = (now - t_list[i]) / 1000 / accel
                if start_lag is None:
                    start_lag = lag
                elif caught_up:
                    max_lag = max(max_lag, lag)
            while i < n and t_list[i] <= now and burst < 500:
                enc = encoders[vd_list[i]]
                unit = units[enc.vid]
                act = act_list[i]
                if act == PUBLISH:
                    tpc, payload, retain = enc.encode(row_list[i])
                    pump.publish(unit, tpc, payload, retain)
                elif act == CONNECT:
                    pump.connect(unit, topic(sc.config.city, enc.vid, "status"), enc.will(t_list[i]))
                elif act == DROP:
                    pump.drop(unit)
                else:
                    pump.disconnect(unit)
                i += 1
                burst += 1
            if i < n and accel > 0 and t_list[i] > now:
                caught_up = True
                pump.pump(min((t_list[i] - now) / 1000 / accel, 0.05))
            else:
                pump.pump(0.0)
                while pump.inflight() > MAX_BACKLOG:
                    pump.pump(0.05)
            if progress is not None and time.monotonic() - last_progress > 5:
                last_progress = time.monotonic()
                progress(i, n, (t_list[i - 1] - t_list[0]) / 1000 if i else 0.0)
        for unit in units.values():
            pump.drain(unit, timeout=60.0)
    finally:
        pump.close()
    wall = time.monotonic() - wall0
    report = LiveReport(
        publishes=sum(u.published for u in units.values()),
        acked=sum(u.acked for u in units.values()),
        failed=sum(u.failed for u in units.values()),
        connects=sum(u.connects for u in units.values()),
        drops=sum(u.drops for u in units.values()),
        sim_span_s=(t_list[-1] - t_list[0]) / 1000 if t_list else 0.0,
        wall_s=wall,
        actions=len(t_list),
        start_lag_s=round(start_lag or 0.0, 3),
        max_lag_s=round(max_lag, 3),
        cpu_s=round(time.process_time() - cpu0, 2),
    )
    return document, report
