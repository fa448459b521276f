"""Longitudinal motion along a path: speed profile, reversing manoeuvres and dwells.

The path is cut at *knots*: primitive boundaries (where the allowed speed changes) and
special points (bin stops, queue positions, U-turns, a harsh brake before an intersection).
Each knot caps the speed there and may add a reversing manoeuvre and a dwell. Between two
knots the truck accelerates at `accel`, cruises at the interval's allowed speed and brakes
at `decel` (a trapezoid, or a triangle if the interval is short); a forward and a backward
pass over the knots make every cap reachable, as a driver anticipating a stop would.

The result is a list of constant-acceleration *pieces* (start time, start position, start
velocity, acceleration), so position and speed at any time are closed-form: sampling 36 000
fixes is one `searchsorted` and a few array operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleetsim.path import Path

REVERSE_SPEED = 1.2  # m/s
REVERSE_ACCEL = 0.6  # m/s²
REVERSE_PAUSE_S = 2.0
SLOTS = 11  # per knot: 7 reversing pieces, dwell, then accelerate / cruise / brake to the next knot
_RAMP_S = REVERSE_SPEED / REVERSE_ACCEL
_RAMP_M = REVERSE_SPEED * _RAMP_S  # distance of both ramps together


@dataclass
class Knots:
    """Special points along the path. `cap` in m/s, `dwell` in s, `reverse` in m (0 = none),
    `decel_before` / `accel_after` in m/s² (0 = the driver's normal value), `tag` ≥ 0 names
    the knot for the caller (e.g. a stop index), -1 for none."""

    s: np.ndarray
    cap: np.ndarray
    dwell: np.ndarray
    reverse: np.ndarray
    decel_before: np.ndarray
    accel_after: np.ndarray
    tag: np.ndarray

    @staticmethod
    def empty() -> Knots:
        z = np.zeros(0)
        return Knots(z, z, z, z, z, z, np.zeros(0, dtype=np.int64))


def knots(s, cap=0.0, dwell=0.0, reverse=0.0, decel_before=0.0, accel_after=0.0, tag=-1) -> Knots:
    """Knots at positions `s`, other fields broadcast."""
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))

    def b(v):
        return np.broadcast_to(np.asarray(v, dtype=np.float64), s.shape).copy()

    return Knots(
        s,
        b(cap),
        b(dwell),
        b(reverse),
        b(decel_before),
        b(accel_after),
        np.broadcast_to(np.asarray(tag, dtype=np.int64), s.shape).copy(),
    )


def concat(parts: list[Knots]) -> Knots:
    return Knots(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("s", "cap", "dwell", "reverse", "decel_before", "accel_after", "tag")
        )
    )


@dataclass
class Motion:
    """Piecewise constant-acceleration motion; times in seconds from the shift start."""

    t0: np.ndarray  # piece start times
    s0: np.ndarray  # piece start positions along the path, m
    v0: np.ndarray  # piece start velocities, m/s (negative while reversing)
    acc: np.ndarray  # m/s²
    dur: np.ndarray
    knot_s: np.ndarray  # merged knots, in path order
    knot_tag: np.ndarray
    knot_v: np.ndarray  # speed when passing each knot
    interval_peak: np.ndarray  # peak speed in the interval after each knot (len = knots - 1)
    interval_accel: np.ndarray
    interval_decel: np.ndarray

    def slot_start(self, knot: np.ndarray, slot: int) -> np.ndarray:
        return self.t0[np.asarray(knot) * SLOTS + slot]

    def arrival(self, knot) -> np.ndarray:
        """Time the truck reaches knot(s) (before any reversing and dwell there)."""
        return self.slot_start(knot, 0)

    def dwell_start(self, knot) -> np.ndarray:
        return self.slot_start(knot, 7)

    def departure(self, knot) -> np.ndarray:
        return self.slot_start(knot, 8)

    def brake_start(self, knot) -> np.ndarray:
        """Start of braking in the interval that ends at knot(s)."""
        return self.slot_start(np.asarray(knot) - 1, 10)

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(path position m, velocity m/s) at times `t` (seconds from the shift start)."""
        t = np.asarray(t, dtype=np.float64)
        i = np.searchsorted(self.t0, t, side="right") - 1
        i = np.clip(i, 0, len(self.t0) - 1)
        dt = np.minimum(t - self.t0[i], self.dur[i])
        return self.s0[i] + self.v0[i] * dt + 0.5 * self.acc[i] * dt * dt, self.v0[i] + self.acc[i] * dt


def plan_motion(path: Path, special: Knots, accel: float, decel: float, end_dwell: float) -> Motion:
    """Speed profile along `path` honouring `special` knots; the truck starts and ends at rest.

    `accel`/`decel` are the driver's normal values (m/s²); `end_dwell` is the dwell at the end."""
    total = path.total
    bounds = knots(np.concatenate([[0.0], path.s0[1:], [total]]), cap=np.inf)
    merged = _merge(concat([bounds, special, knots(total, dwell=end_dwell)]))
    s = merged.s
    n = len(s)
    seg_len = np.diff(s)
    mid = (s[:-1] + s[1:]) / 2.0
    prim = np.clip(np.searchsorted(path.s0, mid, side="right") - 1, 0, len(path.s0) - 1)
    vmax = path.vmax[prim]
    a = np.where(merged.accel_after[:-1] > 0, merged.accel_after[:-1], accel)
    d = np.where(merged.decel_before[1:] > 0, merged.decel_before[1:], decel)
    cap = merged.cap.copy()
    cap[(merged.dwell > 0) | (merged.reverse > 0)] = 0.0
    cap[0] = cap[-1] = 0.0
    cap[1:] = np.minimum(cap[1:], vmax)
    cap[:-1] = np.minimum(cap[:-1], vmax)
    v = _passes(cap.tolist(), seg_len.tolist(), a.tolist(), d.tolist())

    v0, v1 = v[:-1], v[1:]
    peak = np.sqrt(np.maximum((2 * a * d * seg_len + d * v0**2 + a * v1**2) / (a + d), 0.0))
    peak = np.maximum(np.minimum(peak, vmax), np.maximum(v0, v1))
    t_acc = (peak - v0) / a
    t_dec = (peak - v1) / d
    s_cruise = np.maximum(seg_len - (peak**2 - v0**2) / (2 * a) - (peak**2 - v1**2) / (2 * d), 0.0)
    t_cruise = np.where(peak > 0, s_cruise / np.where(peak > 0, peak, 1.0), 0.0)

    dur = np.zeros((n, SLOTS))
    vel = np.zeros((n, SLOTS))
    acc = np.zeros((n, SLOTS))
    rev = merged.reverse > 0
    cruise_rev = np.where(rev, (np.maximum(merged.reverse, _RAMP_M) - _RAMP_M) / REVERSE_SPEED, 0.0)
    ramp = np.where(rev, _RAMP_S, 0.0)
    # Reversing: back out (ramp, cruise, ramp), pause, drive forward the same distance.
    for slot, (d_, v_, a_) in enumerate(
        (
            (ramp, 0.0, -REVERSE_ACCEL),
            (cruise_rev, -REVERSE_SPEED, 0.0),
            (ramp, -REVERSE_SPEED, REVERSE_ACCEL),
            (np.where(rev, REVERSE_PAUSE_S, 0.0), 0.0, 0.0),
            (ramp, 0.0, REVERSE_ACCEL),
            (cruise_rev, REVERSE_SPEED, 0.0),
            (ramp, REVERSE_SPEED, -REVERSE_ACCEL),
        )
    ):
        dur[:, slot], vel[:, slot], acc[:, slot] = d_, v_, a_
    dur[:, 7] = merged.dwell
    dur[:-1, 8], vel[:-1, 8], acc[:-1, 8] = t_acc, v0, a
    dur[:-1, 9], vel[:-1, 9] = t_cruise, peak
    dur[:-1, 10], vel[:-1, 10], acc[:-1, 10] = t_dec, peak, -d
    dur, vel, acc = dur.ravel(), vel.ravel(), acc.ravel()
    t0 = np.concatenate([[0.0], np.cumsum(dur)[:-1]])
    disp = vel * dur + 0.5 * acc * dur * dur
    s_start = np.concatenate([[0.0], np.cumsum(disp)[:-1]])
    return Motion(
        t0=t0,
        s0=s_start,
        v0=vel,
        acc=acc,
        dur=dur,
        knot_s=s,
        knot_tag=merged.tag,
        knot_v=v,
        interval_peak=peak,
        interval_accel=a,
        interval_decel=d,
    )


def _passes(cap: list[float], seg_len: list[float], a: list[float], d: list[float]) -> np.ndarray:
    """Forward (can we reach it?) and backward (can we stop in time?) passes over the knots."""
    v = cap[:]
    for k in range(len(seg_len)):
        reach = math.sqrt(v[k] * v[k] + 2.0 * a[k] * seg_len[k])
        if reach < v[k + 1]:
            v[k + 1] = reach
    for k in range(len(seg_len) - 1, -1, -1):
        stop = math.sqrt(v[k + 1] * v[k + 1] + 2.0 * d[k] * seg_len[k])
        if stop < v[k]:
            v[k] = stop
    return np.array(v)


def _merge(k: Knots) -> Knots:
    """Sort knots by position and merge those at the same place (within 1 mm)."""
    order = np.argsort(k.s, kind="stable")
    key = np.round(k.s[order] * 1000.0).astype(np.int64)
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))

    def red(values, fn):
        return fn.reduceat(values[order], first)

    return Knots(
        s=k.s[order][first],
        cap=red(k.cap, np.minimum),
        dwell=red(k.dwell, np.add),
        reverse=red(k.reverse, np.maximum),
        decel_before=red(k.decel_before, np.maximum),
        accel_after=red(k.accel_after, np.maximum),
        tag=red(k.tag, np.maximum),
    )
