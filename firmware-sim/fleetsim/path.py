"""Drivable geometry of a node walk: straight lines joined by circular arcs.

A truck cannot turn on the spot, and a heading that jumps at every corner would look like
harsh cornering to any analysis. So every corner of the polyline is rounded with an arc:
sharp turns (≥ 30°) with the radius of a truck turning at an intersection (12 m), slight
bends with a radius that lets the truck keep the speed limit within comfortable lateral
acceleration. A reversal of direction (U-turn, ≥ 170°) is not rounded: the truck stops there
and does a reversing manoeuvre (see fleetsim.motion). Each primitive carries the speed the
truck may hold on it, so the speed profile is computed on primitives, not per metre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

R_TURN_M = 12.0  # turning radius of a rear-loader at an intersection
SHARP_TURN_RAD = np.radians(30.0)
UTURN_RAD = np.radians(170.0)
MIN_BEND_RAD = np.radians(0.5)


@dataclass
class Path:
    """Primitives in driving order (line i, arc at vertex i+1, line i+1, ...); lengths in metres."""

    kind: np.ndarray  # 0 line, 1 arc
    s0: np.ndarray
    length: np.ndarray
    vmax: np.ndarray  # m/s the truck may hold on the primitive
    x0: np.ndarray  # line start (lines); arc centre (arcs)
    y0: np.ndarray
    ux: np.ndarray  # line direction (lines); unused for arcs
    uy: np.ndarray
    radius: np.ndarray  # arcs; 1 for lines
    angle0: np.ndarray  # arcs: angle of the start point seen from the centre
    sign: np.ndarray  # arcs: +1 counter-clockwise (left turn), -1 clockwise
    line_start_s: np.ndarray  # per walk edge: s where its straight part starts
    line_end_s: np.ndarray  # per walk edge: s where its straight part ends
    tangent: np.ndarray  # per walk vertex: metres cut off each adjacent edge by the arc
    turn: np.ndarray  # per walk vertex: signed turn angle, radians (0 at both ends)
    edge_length: np.ndarray  # per walk edge

    @property
    def total(self) -> float:
        return float(self.s0[-1] + self.length[-1])

    @property
    def uturn_vertices(self) -> np.ndarray:
        return np.flatnonzero(np.abs(self.turn) >= UTURN_RAD)

    def s_on_edge(self, edge_index: int, offset: float) -> float:
        """Path position of `offset` metres along walk edge `edge_index` (clamped to its straight part)."""
        s = self.line_start_s[edge_index] + offset - self.tangent[edge_index]
        return float(min(max(s, self.line_start_s[edge_index]), self.line_end_s[edge_index]))

    def locate(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, compass heading in degrees) at path positions `s` (metres, any shape)."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.total)
        p = np.searchsorted(self.s0, s, side="right") - 1
        ds = s - self.s0[p]
        arc = self.kind[p] == 1
        ang = self.angle0[p] + self.sign[p] * ds / self.radius[p]
        r = self.radius[p]
        x = np.where(arc, self.x0[p] + r * np.cos(ang), self.x0[p] + self.ux[p] * ds)
        y = np.where(arc, self.y0[p] + r * np.sin(ang), self.y0[p] + self.uy[p] * ds)
        hx = np.where(arc, -np.sin(ang) * self.sign[p], self.ux[p])
        hy = np.where(arc, np.cos(ang) * self.sign[p], self.uy[p])
        return x, y, np.degrees(np.arctan2(hx, hy)) % 360.0


def build_path(xs: np.ndarray, ys: np.ndarray, edge_vmax: np.ndarray, lateral_mps2: float) -> Path:
    """Round the corners of the polyline (xs, ys) whose edges allow speeds `edge_vmax` (m/s).

    `lateral_mps2` is the comfortable lateral acceleration that sets arc speeds (v² / r)."""
    dx, dy = np.diff(xs), np.diff(ys)
    length = np.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    n_edges = len(length)
    turn = np.zeros(n_edges + 1)
    cross = ux[:-1] * uy[1:] - uy[:-1] * ux[1:]
    dot = ux[:-1] * ux[1:] + uy[:-1] * uy[1:]
    turn[1:-1] = np.arctan2(cross, dot)
    absturn = np.abs(turn)
    v_adjacent = np.zeros(n_edges + 1)
    v_adjacent[1:-1] = np.maximum(edge_vmax[:-1], edge_vmax[1:])
    radius = np.where(absturn >= SHARP_TURN_RAD, R_TURN_M, np.maximum(R_TURN_M, v_adjacent**2 / lateral_mps2))
    filleted = (absturn >= MIN_BEND_RAD) & (absturn < UTURN_RAD)
    half_tan = np.tan(np.where(filleted, absturn / 2.0, 0.0))
    room = np.full(n_edges + 1, np.inf)
    room[1:-1] = 0.45 * np.minimum(length[:-1], length[1:])
    tangent = np.where(filleted, np.minimum(radius * half_tan, room), 0.0)
    radius = np.where(filleted, tangent / np.where(half_tan > 0, half_tan, 1.0), 1.0)

    line_len = length - tangent[:-1] - tangent[1:]
    lx0 = xs[:-1] + ux * tangent[:-1]
    ly0 = ys[:-1] + uy * tangent[:-1]
    # Arc at interior vertex i joins line i-1 (ending at T1) and line i.
    vi = np.arange(1, n_edges)
    t1x = xs[vi] - ux[vi - 1] * tangent[vi]
    t1y = ys[vi] - uy[vi - 1] * tangent[vi]
    sgn = np.where(turn[vi] >= 0, 1.0, -1.0)
    r = radius[vi]
    cx = t1x - uy[vi - 1] * r * sgn
    cy = t1y + ux[vi - 1] * r * sgn
    a0 = np.arctan2(t1y - cy, t1x - cx)
    arc_len = np.where(filleted[vi], r * absturn[vi], 0.0)
    arc_v = np.minimum(np.sqrt(lateral_mps2 * r), np.minimum(edge_vmax[vi - 1], edge_vmax[vi]))

    n_prims = 2 * n_edges - 1

    def interleave(line_vals, arc_vals):
        out = np.empty(n_prims)
        out[0::2] = line_vals
        out[1::2] = arc_vals
        return out

    kind = np.zeros(n_prims, dtype=np.int8)
    kind[1::2] = 1
    plen = interleave(line_len, arc_len)
    s0 = np.concatenate([[0.0], np.cumsum(plen)[:-1]])
    return Path(
        kind=kind,
        s0=s0,
        length=plen,
        vmax=interleave(edge_vmax, arc_v),
        x0=interleave(lx0, cx),
        y0=interleave(ly0, cy),
        ux=interleave(ux, np.zeros(n_edges - 1)),
        uy=interleave(uy, np.zeros(n_edges - 1)),
        radius=interleave(np.ones(n_edges), r),
        angle0=interleave(np.zeros(n_edges), a0),
        sign=interleave(np.ones(n_edges), sgn),
        line_start_s=s0[0::2],
        line_end_s=s0[0::2] + line_len,
        tangent=tangent,
        turn=turn,
        edge_length=length,
    )
