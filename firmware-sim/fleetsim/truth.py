"""The ground-truth file of a run (truth.json, format `fleetsim-truth/1`, see docs/protocol.md)."""

from __future__ import annotations

from dataclasses import asdict

from fleetsim import FIRMWARE
from fleetsim.scenario import Scenario
from fleetsim.schedule import Schedule
from fleetsim.shift import ShiftResult


def shift_truth(result: ShiftResult, sched: Schedule, counted: dict) -> dict:
    """The shift's behaviour truth plus what its unit put on the wire."""
    truth = dict(result.truth)
    truth["link"] = {
        "unit_on": sched.on_ms,
        "unit_off": sched.off_ms,
        "clock_skew_ms": sched.skew_ms,
        "offline_windows": [{"t_drop": a, "t_reconnect": r, "attempts": n} for a, r, n in sched.outages],
    }
    truth["counts"] = counted
    return truth


def _add(total: dict, counted: dict) -> None:
    for key, value in counted.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif key == "seq_first":
            total[key] = value if total.get(key) is None else min(total[key], value)
        elif key == "seq_last":
            total[key] = value if total.get(key) is None else max(total[key], value)
        elif value is not None:
            total[key] = total.get(key, 0) + value


class TruthBuilder:
    """Accumulates shift truths into the run's truth document."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.shifts: list[dict] = []
        self.vehicles = {
            vid: {"device_id": dev, "counts": {}} for vid, dev in zip(sc.roster.vehicle_ids, sc.roster.device_ids)
        }
        self.totals: dict = {}

    def add(self, truth: dict) -> None:
        self.shifts.append(truth)
        _add(self.vehicles[truth["vehicle_id"]]["counts"], truth["counts"])
        _add(self.totals, {k: v for k, v in truth["counts"].items() if not k.startswith("seq_")})

    def document(self) -> dict:
        sc = self.sc
        city = sc.city
        cfg = asdict(sc.config)
        cfg["start_ms"] = sc.start_ms
        return {
            "format": "fleetsim-truth/1",
            "generator": FIRMWARE,
            "seed": sc.config.seed,
            "city": sc.config.city,
            "config": cfg,
            "dangerous_intersections": sc.dangerous_json(),
            "planned_routes": [
                {
                    "route_id": p.route_id,
                    "service_segments": len({city.segment_id(e) for e in p.service_edges}),
                    "stops": p.n_stops,
                    "service_length_m": round(float(city.edge_length[p.service_edges].sum()), 1),
                }
                for p in sc.plans
            ],
            "vehicles": self.vehicles,
            "totals": self.totals,
            "shifts": sorted(self.shifts, key=lambda s: (s["start"], s["vehicle_id"])),
        }
