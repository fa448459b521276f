"""What a unit publishes and when: batching, sequence numbers, outages, store-and-forward.

Computed from simulated time only, never from the broker, so the offline writer and the MQTT
publisher agree exactly on what was published (and the ground truth can count it):

- telemetry: fixes are batched per `fixes_per_message` sampling periods; a batch is generated
  when its period closes. Private-mode fixes go in their own batches flagged `priv`.
- events: one message per event, generated when the unit has detected it (after the bin lift
  or reversing ended, 2.5 s into a harsh manoeuvre, at once for ignition).
- status: on every connect the unit reserves one sequence number for its last will (`offline`)
  and publishes `online` with the next. The will is published by the broker when the link
  drops; at the end of the shift the unit publishes the same `offline` message itself and
  disconnects cleanly, so every reserved number is used exactly once.
- sequence numbers count every message the unit generates, in generation order, per device
  across days; replays keep their numbers, so late data arrives with old numbers.
- outages: the link drops for 1–15 min; reconnect attempts back off exponentially with
  jitter; messages generated meanwhile are buffered (oldest dropped beyond `buffer_messages`)
  and replayed oldest first right after the reconnect's `online` status.
- duplicates: a data message is sometimes published twice, as a QoS 1 redelivery would.
- hostile: extra malformed or misleading payloads (fleetsim.faults), outside the sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.config import SimConfig
from fleetsim.shift import ShiftResult
from fleetsim.streams import streams
from fleetsim.wire import BIN_LIFT, HARSH_ACCEL, HARSH_BRAKE, HARSH_CORNER, REVERSING

TELEMETRY, EVENTS, ONLINE, OFFLINE, HOSTILE = range(5)
HOSTILE_KINDS = ("bad_json", "wrong_types", "out_of_range", "huge", "foreign_vid", "bad_version")
DETECT_HARSH_MS = 2500
# Publication order at one instant: online status, replayed backlog, live data, offline status.
_PRIO_ONLINE, _PRIO_REPLAY, _PRIO_LIVE, _PRIO_OFFLINE = range(4)


@dataclass
class Schedule:
    """One row per message the unit generates, plus hostile rows (seq -1).

    `send` is the simulated publication time (ms), -1 if the message was lost to a full
    buffer; `lo:hi` index the shift's fixes (telemetry) or events (events); `copies` is 2 for
    a duplicated publish. `order` lists the rows in publication order. For OFFLINE rows
    `by_broker` says whether it is the last will (the link dropped) or the unit's own
    publish before a clean disconnect."""

    kind: np.ndarray
    seq: np.ndarray
    gen: np.ndarray
    send: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    priv: np.ndarray
    copies: np.ndarray
    by_broker: np.ndarray
    stamp: np.ndarray  # device-clock time written into the message (sent, or status t), ms
    hostile_kind: np.ndarray  # index into HOSTILE_KINDS for HOSTILE rows, else -1
    order: np.ndarray
    connects: list[int]  # connect times (first one = unit on)
    outages: list[tuple[int, int, int]]  # (link drops, reconnected, attempts)
    on_ms: int
    off_ms: int
    skew_ms: int
    next_seq: int  # the device's counter after this shift


def build_schedule(result: ShiftResult, cfg: SimConfig, first_seq: int) -> Schedule:
    """Schedule the messages of one vehicle-day; `first_seq` continues the device's counter."""
    sh = result.shift
    link = cfg.link
    (rng,) = streams(cfg.seed, sh.day, sh.vehicle, "link")
    (clock,) = streams(cfg.seed, 0, sh.vehicle, "clock")
    skew_ms = int(round(clock.uniform(-1.0, 1.0) * link.clock_skew_s * 1000))
    leak_ms = cfg.faults.leak_seconds * 1000 if result.leaking else 0
    on_ms, off_ms = sh.start_ms - leak_ms, sh.end_ms + leak_ms

    # Telemetry batches: per sampling period window, split where the private flag changes.
    ft, fpriv = result.fixes["t"], result.fixes["priv"]
    period = cfg.fixes_per_message * cfg.step_ms
    window = (ft - on_ms) // period
    cut = np.flatnonzero((np.diff(window) != 0) | (np.diff(fpriv.astype(np.int8)) != 0)) + 1
    t_lo = np.concatenate([[0], cut]).astype(np.int64) if len(ft) else np.zeros(0, dtype=np.int64)
    t_hi = np.concatenate([cut, [len(ft)]]).astype(np.int64) if len(ft) else np.zeros(0, dtype=np.int64)
    t_gen = np.minimum(on_ms + (window[t_lo] + 1) * period, off_ms)

    et, ek, emag = result.events["t"], result.events["kind"], result.events["mag"].astype(np.float64)
    delay = np.where(
        np.isin(ek, [BIN_LIFT, REVERSING]),
        np.round(emag * 1000),
        np.where(np.isin(ek, [HARSH_BRAKE, HARSH_ACCEL, HARSH_CORNER]), DETECT_HARSH_MS, 0),
    )
    e_gen = np.minimum(et + delay.astype(np.int64), off_ms)

    outages = _outages(rng, link, on_ms, off_ms)
    connects = [on_ms] + [r for _, r, _ in outages]
    n_t, n_e, n_c = len(t_lo), len(et), len(connects)
    kind = np.concatenate(
        [np.full(n_t, TELEMETRY), np.full(n_e, EVENTS), np.full(n_c, OFFLINE), np.full(n_c, ONLINE)]
    ).astype(np.int8)
    gen = np.concatenate([t_gen, e_gen, connects, connects]).astype(np.int64)
    lo = np.concatenate([t_lo, np.arange(n_e), np.zeros(2 * n_c, dtype=np.int64)])
    hi = np.concatenate([t_hi, np.arange(n_e) + 1, np.zeros(2 * n_c, dtype=np.int64)])
    priv = np.concatenate(
        [fpriv[t_lo] if n_t else np.zeros(0, bool), result.events["priv"], np.zeros(2 * n_c, dtype=bool)]
    )
    # Generation order = sequence order; at a connect the will is reserved before `online`.
    gen_prio = np.select([kind == OFFLINE, kind == ONLINE], [0, 1], 2)
    order = np.lexsort((lo, gen_prio, gen))
    kind, gen, lo, hi, priv = kind[order], gen[order], lo[order], hi[order], priv[order]
    n = len(kind)
    seq = first_seq + np.arange(n, dtype=np.int64)

    data = (kind == TELEMETRY) | (kind == EVENTS)
    send = gen.copy()
    prio = np.where(kind == ONLINE, _PRIO_ONLINE, _PRIO_LIVE)
    by_broker = np.zeros(n, dtype=bool)
    for a, r, _ in outages:
        held = np.flatnonzero(data & (gen >= a) & (gen < r))
        send[held] = r
        prio[held] = _PRIO_REPLAY
        overflow = len(held) - link.buffer_messages
        if overflow > 0:
            send[held[:overflow]] = -1  # oldest first out of a full ring buffer
    # The will of each connection goes out when that connection ends.
    ends = [a for a, _, _ in outages] + [off_ms]
    wills = np.flatnonzero(kind == OFFLINE)
    send[wills] = ends
    by_broker[wills[:-1]] = True
    prio[wills] = _PRIO_OFFLINE
    copies = np.where(data & (send >= 0) & (rng.random(n) < link.duplicate_rate), 2, 1).astype(np.int8)
    stamp = np.where(kind == TELEMETRY, send, np.where(kind == EVENTS, send, gen)) + skew_ms
    hostile_kind = np.full(n, -1, dtype=np.int8)

    if cfg.faults.hostile and sh.vehicle % 3 == 0:
        h_send = _connected_times(rng, cfg.faults.hostile_per_vehicle, on_ms, off_ms, outages)
        m = len(h_send)
        kind = np.concatenate([kind, np.full(m, HOSTILE, dtype=np.int8)])
        seq = np.concatenate([seq, np.full(m, -1, dtype=np.int64)])
        gen = np.concatenate([gen, h_send])
        send = np.concatenate([send, h_send])
        lo = np.concatenate([lo, np.zeros(m, dtype=np.int64)])
        hi = np.concatenate([hi, np.zeros(m, dtype=np.int64)])
        priv = np.concatenate([priv, np.zeros(m, dtype=bool)])
        copies = np.concatenate([copies, np.ones(m, dtype=np.int8)])
        by_broker = np.concatenate([by_broker, np.zeros(m, dtype=bool)])
        stamp = np.concatenate([stamp, h_send + skew_ms])
        hostile_kind = np.concatenate([hostile_kind, (np.arange(m) % len(HOSTILE_KINDS)).astype(np.int8)])
        prio = np.concatenate([prio, np.full(m, _PRIO_LIVE)])
    published = np.flatnonzero(send >= 0)
    pub_order = published[np.lexsort((np.arange(len(published)), prio[published], send[published]))]
    return Schedule(
        kind=kind,
        seq=seq,
        gen=gen,
        send=send,
        lo=lo,
        hi=hi,
        priv=priv,
        copies=copies,
        by_broker=by_broker,
        stamp=stamp,
        hostile_kind=hostile_kind,
        order=pub_order,
        connects=connects,
        outages=outages,
        on_ms=on_ms,
        off_ms=off_ms,
        skew_ms=skew_ms,
        next_seq=first_seq + n,
    )


def _outages(rng: np.random.Generator, link, on_ms: int, off_ms: int) -> list[tuple[int, int, int]]:
    """Link outages (drop, reconnect, attempts), non-overlapping, all reconnected before the unit goes off."""
    hours = (off_ms - on_ms) / 3.6e6
    count = rng.poisson(link.offline_per_hour * hours) if link.offline_per_hour > 0 else 0
    latest = off_ms - 20 * 60_000
    if latest <= on_ms + 60_000:
        return []
    starts = np.sort(rng.integers(on_ms + 60_000, latest, count))
    lengths = rng.integers(60_000, 900_001, count)
    jitter = rng.uniform(0.5, 1.0, (count, 32))
    result: list[tuple[int, int, int]] = []
    for i, (a, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
        if result and a < result[-1][1] + 60_000:
            continue  # overlaps the previous outage: it is one long outage already
        t, attempts = float(a), 0
        while t < a + length:  # attempts at +1, +2, +4 … s (jittered), capped, until one succeeds
            t += min(link.backoff_initial_s * 2**attempts, link.backoff_max_s) * jitter[i, min(attempts, 31)] * 1000
            attempts += 1
        result.append((a, min(int(t), latest + 60_000), attempts))
    return result


def _connected_times(rng, count: int, on_ms: int, off_ms: int, outages) -> np.ndarray:
    times = np.sort(rng.integers(on_ms + 1_000, max(on_ms + 2_000, off_ms - 1_000), count))
    for a, r, _ in outages:
        inside = (times >= a) & (times < r)
        times[inside] = r + 1  # the unit only sends while connected
    return np.sort(times).astype(np.int64)


def counts(result: ShiftResult, sched: Schedule) -> dict:
    """Exactly what this vehicle-day put on the wire (the ground truth the ingest must match)."""
    sh = result.shift
    kind, send, lo, hi, copies = sched.kind, sched.send, sched.lo, sched.hi, sched.copies
    ok = send >= 0
    tel = (kind == TELEMETRY) & ok
    ev = (kind == EVENTS) & ok
    fix_mask = np.zeros(len(result.fixes["t"]), dtype=bool)
    for a, b in zip(lo[tel], hi[tel]):
        fix_mask[a:b] = True
    ev_mask = np.zeros(len(result.events["t"]), dtype=bool)
    ev_mask[lo[ev]] = True
    ft, et = result.fixes["t"], result.events["t"]
    off_f = fix_mask & ((ft < sh.start_ms) | (ft >= sh.end_ms))
    off_e = ev_mask & ((et < sh.start_ms) | (et >= sh.end_ms))
    priv_f = fix_mask & result.fixes["priv"]
    priv_e = ev_mask & result.events["priv"]
    dup = copies == 2
    hostile = kind == HOSTILE
    data = (kind == TELEMETRY) | (kind == EVENTS)
    return {
        "fixes_sampled": int(len(ft)),
        "fixes_published": int(fix_mask.sum()),
        "fixes_offduty": int(off_f.sum()),
        "fixes_private": int(priv_f.sum()),
        "fixes_expected_stored": int((fix_mask & ~off_f & ~priv_f).sum()),
        "fixes_duplicate": int((hi - lo)[tel & dup].sum()),
        "fixes_lost_buffer": int((hi - lo)[(kind == TELEMETRY) & ~ok].sum()),
        "events_generated": int(len(et)),
        "events_published": int(ev_mask.sum()),
        "events_offduty": int(off_e.sum()),
        "events_private": int(priv_e.sum()),
        "events_expected_stored": int((ev_mask & ~off_e & ~priv_e).sum()),
        "events_duplicate": int((ev & dup).sum()),
        "events_lost_buffer": int(((kind == EVENTS) & ~ok).sum()),
        "telemetry_messages": int(tel.sum()),
        "events_messages": int(ev.sum()),
        "status_messages": int(((kind == ONLINE) | (kind == OFFLINE)).sum()),
        "duplicate_publishes": int(dup.sum()),
        "messages_lost_buffer": int((data & ~ok).sum()),
        "replayed_messages": int(sum(int((data & (send == r) & (sched.gen < r)).sum()) for _, r, _ in sched.outages)),
        "hostile": {name: int((sched.hostile_kind[hostile] == i).sum()) for i, name in enumerate(HOSTILE_KINDS)},
        "seq_first": int(sched.seq[sched.seq >= 0].min()) if (sched.seq >= 0).any() else None,
        "seq_last": int(sched.next_seq - 1),
    }
