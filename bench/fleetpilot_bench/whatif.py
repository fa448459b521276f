"""`fleetpilot bench whatif`: seconds per scenario (and for the question library) over a
synthetic month of a 50-truck fleet, printed as JSON.

The history is the synthetic fleet (``synthetic``), generated first and timed apart: the
figures are the analysis alone, as an answer computes it once the legs are loaded.
`--from-db` measures answers as the API gives them, from a month in the database, beside
the same kernels (``whatif_db``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import shapely
import uvloop

from fleetpilot.analytics.whatif.calming import calm
from fleetpilot.analytics.whatif.common import Options
from fleetpilot.analytics.whatif.facility_move import move_facility
from fleetpilot.analytics.whatif.frequency import change_frequency
from fleetpilot.analytics.whatif.questions import QUESTIONS, ask
from fleetpilot.analytics.whatif.rebalance import rebalance
from fleetpilot.analytics.whatif.resequence import resequence
from fleetpilot.analytics.whatif.start_time import shift_start
from fleetpilot.analytics.whatif.synthetic import SyntheticConfig, generate
from fleetpilot.analytics.whatif.uncertainty import DEFAULT_REPLICATES
from fleetpilot.db.connect import resolve_database_url
from fleetpilot.settings import Settings
from fleetpilot_bench import whatif_db


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpilot bench whatif", description=__doc__.splitlines()[0])
    parser.add_argument("--trucks", type=int, default=50)
    parser.add_argument("--days", type=int, default=30, help="calendar days (work days Mon–Sat)")
    parser.add_argument("--replicates", type=int, default=DEFAULT_REPLICATES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--from-db",
        action="store_true",
        help="a simulated month loaded into a scratch database (--trucks, --days): uncached answers "
        "as the API gives them (release rule, legs loaded, stored) beside the kernel time",
    )
    whatif_db.add_arguments(parser)
    return parser


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return round(time.perf_counter() - began, 3)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.from_db:
        admin_url = args.database_url or resolve_database_url(Settings())
        print(json.dumps(uvloop.run(whatif_db.bench(args, admin_url)), indent=2))
        return 0
    cfg = SyntheticConfig(trucks=args.trucks, days=args.days, rows=16, seed=args.seed)
    began = time.perf_counter()
    fleet = generate(cfg)
    generate_s = round(time.perf_counter() - began, 3)
    h = fleet.history
    options = Options(replicates=args.replicates)
    b = cfg.block_m
    zone = shapely.box(-b / 2, -b / 2, 10 * cfg.cols_per_route * b, cfg.rows * b)
    hot_ids = [str(h.network.segment_ids[i]) for i in fleet.hotspots]
    x, y = fleet.node_xy(cfg.cols // 2, 0)
    scenarios = {
        "start_time": lambda: shift_start(h, 30, options),
        "facility_move": lambda: move_facility(h, "transfer-1", x, y, options),
        "rebalance": lambda: rebalance(h, options, max_moves=50),
        "frequency": lambda: change_frequency(h, zone, 1.0, options),
        "resequence": lambda: resequence(h, "route-00", options),
        "calming": lambda: calm(h, hot_ids, 30.0, options),
    }
    seconds = {name: _timed(fn) for name, fn in scenarios.items()}
    questions = {}
    for qid in QUESTIONS:
        params = {"lon": fleet.node_lonlat(3, 0)[0], "lat": fleet.node_lonlat(3, 0)[1]} if qid == "zone_speed" else {}
        questions[qid] = _timed(lambda: ask(qid, h, params))  # noqa: B023 (run in this iteration)
    print(
        json.dumps(
            {
                "benchmark": "whatif",
                "fleet": {
                    "trucks": args.trucks,
                    "calendar_days": args.days,
                    "shifts": int(h.shifts.size),
                    "legs": int(h.legs.size),
                    "stop_visits": int(h.visits.size),
                    "segments": int(h.network.size),
                },
                "replicates": args.replicates,
                "generate_s": generate_s,
                "scenario_s": seconds,
                "scenario_max_s": max(seconds.values()),
                "questions_total_s": round(float(np.sum(list(questions.values()))), 3),
                "question_s": questions,
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
            },
            indent=2,
        )
    )
    return 0
