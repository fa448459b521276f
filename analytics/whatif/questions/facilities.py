"""Questions about facilities written as functions: turnaround per facility (a table with the facility's
type beside it; queueing and fuel are specs in ``catalog``)."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.history import History
from fleetpilot.analytics.whatif.questions.common import answer, facility_visits, guard
from fleetpilot.analytics.whatif.questions.library import Context, question
from fleetpilot.analytics.whatif.result import Table


@question(
    "turnaround_by_facility",
    "How long does a visit to each facility take?",
    "stay per visit (first to last fix inside the geofence, exits under 120 s bridged): median and 90th percentile",
)
def turnaround_by_facility(history: History, p: dict, ctx: Context):
    v = facility_visits(history)
    fac = history.facilities
    ok, suppressed = guard(history, v.facility, v.shift, fac.size, ctx.privacy)
    rows = []
    for f in range(fac.size):
        d = v.duration_s[v.facility == f] / 60
        if ok[f] and d.size:
            rows.append(
                [
                    str(fac.facility_ids[f]),
                    str(fac.facility_types[f]),
                    int(d.size),
                    float(np.median(d)),
                    float(np.percentile(d, 90)),
                ]
            )
    table = Table(
        "facilities",
        ["facility_id", "facility_type", "visits", "median_min", "p90_min"],
        rows,
        ["", "", "visits", "min", "min"],
    )
    tips = [r for r in rows if r[1] in ("transfer_station", "landfill")]
    return answer(
        float(np.median([r[3] for r in tips])) if tips else None,
        "min",
        "median at transfer/landfill",
        table,
        charts.bar([r[0] for r in rows], [r[3] for r in rows], "Median stay per visit", "facility", "min"),
        suppressed=suppressed,
    )
