"""Capacity-driven trips to the disposal facility within a sequenced route.

A truck collects ``load_kg`` per street (in driving order) and holds ``capacity_kg``; before the
next street would overfill it, it drives to the facility (transfer station or landfill), tips,
and drives on to that next street. Given the order, *where* to break is chosen by a dynamic
programme over the gaps between streets: the fewest extra metres (to the facility from the end of
one street and from it to the start of the next, instead of the direct deadhead) such that no
stretch between tips exceeds the capacity. A trip can come earlier than strictly needed when the
facility is nearer there; among equally cheap points, the latest (the fullest truck). At the end of the shift the truck tips once more if it holds anything
(counted as a trip, as the telemetry counts a visit).

Defaults when the fleet data gives no capacity (documented in docs/streets.md and decision 0020):
``DEFAULT_CAPACITY_KG`` — a 20 m³ rear loader at ~500 kg/m³ compacted; ``DEFAULT_KG_PER_SERVICE_M``
— residential waste per metre of street collected, both kerbs (≈ 2 households × 10 kg per 15 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_CAPACITY_KG = 10_000.0
DEFAULT_KG_PER_SERVICE_M = 1.3


@dataclass(frozen=True)
class Trips:
    before: np.ndarray  # positions k in the sequence: the truck tips between street k-1 and k
    extra_m: float  # deadhead metres the mid-route trips add over driving straight on
    count: int  # mid-route trips + the final tip


def plan_trips(
    load_kg: np.ndarray,
    capacity_kg: float,
    direct_m: np.ndarray,
    via_facility_m: np.ndarray,
) -> Trips:
    """Trips for a sequence of n streets with ``load_kg`` (n,) in driving order.

    ``direct_m`` (n-1,): deadhead from street k-1 to street k; ``via_facility_m`` (n-1,): the
    same through the facility. A street heavier than the whole truck cannot be served in one
    load: ValueError."""
    load = np.asarray(load_kg, dtype=np.float64)
    n = len(load)
    if n == 0:
        return Trips(np.zeros(0, dtype=np.int64), 0.0, 0)
    if (load > capacity_kg).any():
        raise ValueError(f"a street's load exceeds the truck's capacity of {capacity_kg:.0f} kg")
    extra = np.asarray(via_facility_m, dtype=np.float64) - np.asarray(direct_m, dtype=np.float64)
    cum = np.r_[0.0, np.cumsum(load)]
    # best[k]: least extra metres with a tip just before street k (k = 0: the start, empty).
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=np.int64)
    for k in range(1, n + 1):
        # The stretch since the previous tip j (streets j..k-1) must fit in the truck.
        j = np.arange(k)
        fits = cum[k] - cum[j] <= capacity_kg + 1e-9
        cost = np.where(fits, best[j], np.inf)
        pick = k - 1 - int(np.argmin(cost[::-1]))  # ties: the latest previous tip (a fuller truck)
        here = extra[k - 1] if k < n else 0.0  # k == n: the end of the route, no mid-route trip
        best[k] = cost[pick] + here
        back[k] = pick
    before = []
    k = back[n]
    while k > 0:
        before.append(int(k))
        k = back[k]
    before.reverse()
    return Trips(np.array(before, dtype=np.int64), float(best[n]), len(before) + 1)
