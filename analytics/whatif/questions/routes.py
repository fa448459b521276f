"""Questions about routes written as functions: missed segments (two guards: routes and days) and the least collected segments (per plan)."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.history import LEG_SERVICE, History
from fleetpilot.analytics.whatif.questions.common import answer, day_label, shift_guard
from fleetpilot.analytics.whatif.questions.library import Context, Param, question
from fleetpilot.analytics.whatif.result import Table


def _collected_pairs(history: History) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (shift, segment) pairs with a collection leg."""
    legs = history.legs
    svc = (legs.kind == LEG_SERVICE) & (legs.segment >= 0)
    n = history.network.size
    code = np.unique(legs.shift[svc].astype(np.int64) * n + legs.segment[svc])
    return code // n, code % n


def missed_share(history: History) -> tuple[np.ndarray, np.ndarray]:
    """Per shift: planned service segments and how many of them were not collected (-1 planned: no plan)."""
    shifts, plans = history.shifts, history.plans
    planned = np.where(shifts.plan >= 0, np.diff(plans.seg_offsets)[np.maximum(shifts.plan, 0)], -1)
    s, _ = _collected_pairs(history)
    # Only segments of the shift's own plan count (legs are collection only there by construction).
    collected = np.bincount(s, minlength=shifts.size)
    return planned, np.where(planned >= 0, np.maximum(planned - collected, 0), 0)


@question(
    "missed_segments_by_route",
    "What share of planned segments was missed, by route, and on which days?",
    "a planned service segment is missed on a shift with no collection leg on it; by route, and per day over "
    "the fleet (a route's single day would be one crew's shift, so days are shown fleet-wide)",
)
def missed_segments_by_route(history: History, p: dict, ctx: Context):
    shifts = history.shifts
    planned, missed = missed_share(history)
    has = planned > 0
    names = history.plans.route_ids
    ok, suppressed = shift_guard(history, np.where(has, shifts.route, -1), len(names), ctx.privacy)
    rows = []
    for r in range(len(names)):
        sel = has & (shifts.route == r)
        if ok[r] and sel.any():
            rows.append(
                [
                    str(names[r]),
                    int(sel.sum()),
                    float(planned[sel].mean()),
                    missed[sel].sum() / planned[sel].sum(),
                    int(np.sum(missed[sel] > 0)),
                ]
            )
    table = Table(
        "routes",
        ["route", "shifts", "planned_segments", "missed_share", "shifts_with_misses"],
        rows,
        ["", "shifts", "segments", "share", "shifts"],
    )
    days, day_of = np.unique(shifts.day, return_inverse=True)
    day_ok, day_suppressed = shift_guard(history, np.where(has, day_of, -1), len(days), ctx.privacy)
    by_day = [
        (day_label(days[d]), missed[has & (day_of == d)].sum() / planned[has & (day_of == d)].sum())
        for d in range(len(days))
        if day_ok[d] and (has & (day_of == d)).any()
    ]
    chart = charts.bar(
        [d for d, _ in by_day],
        [100 * v for _, v in by_day],
        "Missed planned segments by day (fleet)",
        "day",
        "% missed",
    )
    total = planned[has].sum()
    return answer(
        missed[has].sum() / total if total else None,
        "share",
        "missed, fleet",
        table,
        chart,
        suppressed=suppressed + day_suppressed,
        notes=[
            f"days with the most misses: {', '.join(d for d, v in sorted(by_day, key=lambda x: -x[1])[:3] if v > 0)}"
            if by_day
            else "no day to show"
        ],
    )


@question(
    "segment_collection_frequency",
    "Which {n} planned segments were collected least often, relative to their route's shifts?",
    "per segment of a route's current plan: shifts with a collection leg on it / the route's shifts on that plan",
    Param("n", "int", 20, "how many segments", minimum=1, maximum=500),
)
def segment_collection_frequency(history: History, p: dict, ctx: Context):
    shifts, plans = history.shifts, history.plans
    s, seg = _collected_pairs(history)
    rows, shares = [], []
    suppressed = 0
    for plan in range(plans.size):
        mine = np.flatnonzero(shifts.plan == plan)
        if not mine.size:
            continue
        ok, _ = shift_guard(history, np.where(shifts.plan == plan, 0, -1), 1, ctx.privacy)
        if not ok[0]:
            suppressed += len(plans.segments_of(plan))
            continue
        segs = plans.segments_of(plan)
        on_plan = np.isin(s, mine)
        count = np.bincount(seg[on_plan], minlength=history.network.size)[segs]
        for g, c in zip(segs, count):
            rows.append(
                [
                    str(history.network.segment_ids[g]),
                    str(plans.route_ids[plans.plan_route[plan]]),
                    int(plans.plan_version[plan]),
                    int(c),
                    len(mine),
                    c / len(mine),
                ]
            )
            shares.append(c / len(mine))
    order = np.argsort(shares, kind="stable")[: p["n"]]
    top = [rows[i] for i in order]
    table = Table(
        "segments",
        ["segment_id", "route", "plan_version", "shifts_collected", "route_shifts", "share"],
        top,
        ["", "", "", "shifts", "shifts", "share"],
    )
    return answer(
        float(np.mean(shares)) if shares else None,
        "share",
        "mean share of shifts collecting a segment",
        table,
        charts.bar(
            [r[0] for r in top], [100 * r[5] for r in top], "Least collected segments", "segment", "% of shifts"
        ),
        suppressed=suppressed,
    )
