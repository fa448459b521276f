"""`fleetpilot bench sim TARGET` (or `fleetsim bench TARGET`): the simulator's scale figures as one JSON object.

offline      generate a fleet in memory (and optionally write Parquet): time, fixes/s, memory
accelerated  publish whole shifts to the broker as fast as it acknowledges (or --accel N)
realtime     publish in real time for --duration seconds; max_lag_s says whether it kept up
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from fleetsim.cli import add_broker_options, add_fleet_options, config_from_args, parse_accel
from fleetsim.mqtt import Broker
from fleetsim.scenario import build_scenario


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_offline(args) -> dict:
    from fleetsim.offline import generate_fleet, write_fleet

    cfg = config_from_args(args)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    if args.out and args.stream:
        truth = write_fleet(cfg, args.out, "parquet")
        fixes, events = truth["totals"]["fixes_published"], truth["totals"]["events_published"]
        gen_s, write_s = time.perf_counter() - t0, None
    else:
        run = generate_fleet(config=cfg)
        gen_s = time.perf_counter() - t0
        fixes, events = len(run.fixes["t"]), len(run.events["t"])
        write_s = None
        if args.out:
            t1 = time.perf_counter()
            run.write(args.out)
            write_s = round(time.perf_counter() - t1, 2)
    return {
        "target": "offline",
        "vehicles": cfg.n_vehicles,
        "days": cfg.days,
        "hours": cfg.hours,
        "rate_hz": cfg.rate_hz,
        "fixes": fixes,
        "events": events,
        "generate_s": round(gen_s, 2),
        "fixes_per_s": round(fixes / gen_s),
        "write_s": write_s,
        "streamed": bool(args.out and args.stream),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "peak_rss_mb": _peak_rss_mb(),
    }


def bench_live(args, real_time: bool) -> dict:
    from fleetsim.live import run_live

    accel = 1.0 if real_time else parse_accel(args.accel)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    sc = build_scenario(config_from_args(args, real_time=real_time))
    truth, report = run_live(
        sc, Broker.from_url(args.broker, args.username, args.password, args.mqtt_version), accel, args.duration
    )
    total = time.perf_counter() - t0
    t = truth["totals"]
    out = {
        "target": "realtime" if real_time else "accelerated",
        "vehicles": sc.config.n_vehicles,
        "hours": sc.config.hours,
        "rate_hz": sc.config.rate_hz,
        "fixes_per_message": sc.config.fixes_per_message,
        "accel": args.accel,
        "mqtt_version": args.mqtt_version,
        "total_wall_s": round(total, 2),
        "setup_s": round(total - report.wall_s, 2),
        "total_cpu_s": round(time.process_time() - cpu0, 2),
        "peak_rss_mb": _peak_rss_mb(),
        **report.as_dict(),
    }
    out["publish_cpu_s"] = out.pop("cpu_s")
    out["publish_wall_s"] = round(out.pop("wall_s"), 2)
    out["publishes_per_s"] = round(report.publishes / max(report.wall_s, 1e-9))
    if args.duration is None:
        out["fixes_published"] = t["fixes_published"]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fleetsim bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="target", required=True)
    p = sub.add_parser("offline")
    add_fleet_options(p)
    p.add_argument("--out", type=Path, help="also write Parquet here and time it")
    p.add_argument("--stream", action="store_true", help="with --out: write vehicle by vehicle (month-long runs)")
    for name in ("accelerated", "realtime"):
        p = sub.add_parser(name)
        add_fleet_options(p)
        add_broker_options(p)
    args = parser.parse_args(argv)
    if args.target == "offline":
        result = bench_offline(args)
    else:
        if args.target == "accelerated" and args.accel == "1":
            args.accel = "max"
        result = bench_live(args, real_time=args.target == "realtime")
    print(json.dumps(result))
    return 0
