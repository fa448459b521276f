"""Helpers the questions share: k-checked grouping, calendar labels, facility visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from fleetpilot.analytics.whatif.history import LEG_FACILITY, History
from fleetpilot.analytics.whatif.privacy import Privacy, allowed
from fleetpilot.analytics.whatif.result import EPOCH, Answer, Table

VISIT_BRIDGE_S = 120.0  # a visit continues across an exit this short (queue winding along the fence)
MIN_VISIT_S = 60.0  # a shorter stay inside a geofence is driving past


def answer(
    value: float | None,
    unit: str,
    label: str,
    table: Table,
    chart: dict,
    *,
    assumptions: list[str] | None = None,
    suppressed: int = 0,
    notes: list[str] | None = None,
) -> Answer:
    """An Answer whose question, title and params ``library.ask`` fills in."""
    number = {"value": None if value is None or not np.isfinite(value) else float(value), "unit": unit, "label": label}
    return Answer(
        question="",
        title="",
        params={},
        number=number,
        table=table,
        chart=chart,
        assumptions=assumptions or [],
        suppressed=int(suppressed),
        notes=notes or [],
    )


def guard(
    history: History, group: np.ndarray, shift: np.ndarray, n_groups: int, privacy: Privacy
) -> tuple[np.ndarray, int]:
    """(groups that may be shown, number of non-empty groups suppressed) for member rows."""
    ok = allowed(history, group, shift, n_groups, privacy)
    present = np.bincount(np.asarray(group)[np.asarray(group) >= 0], minlength=n_groups) > 0
    return ok & present, int(np.sum(present & ~ok))


def shift_guard(history: History, shift_group: np.ndarray, n_groups: int, privacy: Privacy) -> tuple[np.ndarray, int]:
    return guard(history, shift_group, np.arange(history.shifts.size), n_groups, privacy)


def iso_week(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(week labels 'YYYY-Www', week index per day) for local day numbers."""
    unique, inverse = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    labels = []
    for d in unique:
        y, w, _ = (EPOCH + timedelta(days=int(d))).isocalendar()
        labels.append(f"{y}-W{w:02d}")
    weeks, week_of_unique = np.unique(np.array(labels, dtype=object), return_inverse=True)
    return weeks.astype(str), week_of_unique[inverse]


def months(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(month labels 'YYYY-MM', month index per day) for local day numbers."""
    unique, inverse = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    labels = np.array([(EPOCH + timedelta(days=int(d))).strftime("%Y-%m") for d in unique], dtype=object)
    names, of_unique = np.unique(labels, return_inverse=True)
    return names.astype(str), of_unique[inverse]


def day_label(day: int) -> str:
    return (EPOCH + timedelta(days=int(day))).isoformat()


@dataclass(frozen=True)
class FacilityVisits:
    """Stays in a facility, legs at the same facility joined across exits under VISIT_BRIDGE_S."""

    shift: np.ndarray
    facility: np.ndarray
    t0: np.ndarray
    duration_s: np.ndarray
    first_leg: np.ndarray

    def __len__(self) -> int:
        return len(self.shift)


def facility_visits(history: History) -> FacilityVisits:
    legs = history.legs
    idx = np.flatnonzero((legs.kind == LEG_FACILITY) & (legs.facility >= 0))
    if idx.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return FacilityVisits(z, z, np.zeros(0), np.zeros(0), z)
    t0, t1 = legs.t0[idx], legs.t1[idx]
    same = (
        (legs.shift[idx][1:] == legs.shift[idx][:-1])
        & (legs.facility[idx][1:] == legs.facility[idx][:-1])
        & (t0[1:] - t1[:-1] <= VISIT_BRIDGE_S)
    )
    head = np.r_[True, ~same]
    group = np.cumsum(head) - 1
    start = t0[head]
    end = np.zeros(int(head.sum()))
    np.maximum.at(end, group, t1)
    keep = end - start >= MIN_VISIT_S
    return FacilityVisits(
        shift=legs.shift[idx][head][keep].astype(np.int64),
        facility=legs.facility[idx][head][keep].astype(np.int64),
        t0=start[keep],
        duration_s=(end - start)[keep],
        first_leg=idx[head][keep],
    )


def weekday_names() -> list[str]:
    return ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
