"""`fleetsim` (also `fleetpilot sim`): simulate sanitation trucks.

fleetsim run --vehicles 50 --accel 2000 --out runs/a      # publish to MQTT, accelerated
fleetsim run --vehicles 500 --accel 1 --duration 600        # real time, 10 minutes
fleetsim offline --vehicles 200 --out data/day              # Parquet, no broker
fleetsim plan --vehicles 20 --out plan/                     # city, routes, roster only
fleetsim bench offline|accelerated|realtime …               # scale figures as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import orjson

from fleetsim.config import Connectivity, Faults, GpsRealism, HazardFix, SimConfig, no_noise
from fleetsim.device import PROFILES
from fleetsim.mqtt import Broker, BrokerError
from fleetsim.roster import parse_time
from fleetsim.scenario import build_scenario


def _fixes_per_message(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 1 and 3600")
    return value


def _hazard_fix(text: str) -> HazardFix:
    """LON,LAT@YYYY-MM-DD → HazardFix (the day is checked when the scenario is built)."""
    where, _, day = text.partition("@")
    try:
        lon, lat = (float(v) for v in where.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LON,LAT@YYYY-MM-DD") from None
    if not day:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LON,LAT@YYYY-MM-DD")
    return HazardFix(lon, lat, day)


def add_fleet_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fleet")
    g.add_argument("--vehicles", type=int, default=10, help="number of trucks (default 10)")
    g.add_argument("--seed", type=int, default=1, help="city and behaviour seed (default 1)")
    g.add_argument("--city", default="metro", help="city name, used in topics (default metro)")
    g.add_argument("--days", type=int, default=1, help="consecutive days (default 1)")
    g.add_argument("--hours", type=float, default=10.0, help="shift length in hours (default 10)")
    g.add_argument(
        "--start",
        help="first shift start, ISO 8601 with Z or an offset (default: 06:00 local time yesterday; "
        "with --accel 1: now, plus the seconds the simulation takes)",
    )
    g.add_argument(
        "--timezone",
        default=SimConfig.timezone,
        help="the city's IANA time zone: later days start at the same local time (default %(default)s)",
    )
    g.add_argument("--stagger-minutes", type=float, help="spread of shift starts (default 20; 0 with --accel 1)")
    g.add_argument("--rate-hz", type=float, default=1.0, help="GPS sampling rate (default 1)")
    g.add_argument(
        "--fixes-per-message",
        type=_fixes_per_message,
        default=10,
        help="sampling periods per telemetry message, 1–3600 (the protocol's limit)",
    )
    g.add_argument("--vehicle-prefix", default="truck", help="vehicle ids are <prefix>-001… (default truck)")
    g.add_argument(
        "--city-style",
        choices=("irregular", "grid"),
        default=SimConfig.city_style,
        help="the synthetic city: irregular (default: moved junctions, missing, curved and dead-end streets; "
        "built as an imported network is) or grid (a regular grid of blocks)",
    )
    g.add_argument(
        "--streets",
        help="drive on this street network instead of the synthetic city: a GeoJSON layer of street "
        "segments (segment_id, road_class, speed_limit_kmh, one_way), as `fleetpilot import-streets FILE "
        "--geojson OUT` writes it; one route per vehicle, facilities placed on the network",
    )
    g.add_argument(
        "--fix-hazard",
        type=_hazard_fix,
        action="append",
        default=[],
        metavar="LON,LAT@DATE",
        help="the city fixes the dangerous intersection nearest LON,LAT (within 60 m) on DATE (local, "
        "YYYY-MM-DD): from that day trucks brake there no more than anywhere else; repeatable; "
        "write --fix-hazard=LON,LAT@DATE when LON is negative",
    )
    f = p.add_argument_group("realism and faults (all seeded)")
    f.add_argument("--no-noise", action="store_true", help="perfect GPS and link (overrides the next options)")
    f.add_argument("--gps-noise-m", type=float, default=GpsRealism.noise_m, help="σ of position noise, m")
    f.add_argument("--multipath-per-fix", type=float, default=GpsRealism.multipath_per_fix)
    f.add_argument("--dropouts-per-hour", type=float, default=GpsRealism.dropouts_per_hour)
    f.add_argument(
        "--device-profile",
        choices=PROFILES,
        default="v1",
        help="the kind of unit (fleetsim.device): v1 (default: speed always), tracker (speed only "
        "while moving and intermittent, 5–15 m, 1–3 s), phone (no speed, 5–50 m, 1–5 s)",
    )
    f.add_argument(
        "--offline-per-hour",
        type=float,
        default=Connectivity.offline_per_hour,
        help="link outages per hour (store-and-forward)",
    )
    f.add_argument("--buffer-messages", type=int, default=Connectivity.buffer_messages)
    f.add_argument("--duplicate-rate", type=float, default=Connectivity.duplicate_rate)
    f.add_argument("--clock-skew-s", type=float, default=Connectivity.clock_skew_s)
    f.add_argument(
        "--leak",
        action="store_true",
        help="every 4th unit publishes just outside its shift and flags its break private",
    )
    f.add_argument("--leak-seconds", type=int, default=Faults.leak_seconds)
    f.add_argument("--hostile", action="store_true", help="every 3rd unit also sends malformed/hostile payloads")
    f.add_argument("--hostile-per-vehicle", type=int, default=Faults.hostile_per_vehicle)


def add_broker_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("broker")
    g.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://[user:pass@]host:port or mqtts://…")
    g.add_argument("--username", help="MQTT user name; {device} and {vehicle} are replaced per unit")
    g.add_argument("--password", help="MQTT password; {device} and {vehicle} are replaced per unit")
    g.add_argument("--mqtt-version", choices=("5", "3.1.1"), default="5")
    g.add_argument(
        "--accel",
        default="1",
        help="time acceleration: 1 = real time (default), N = N× faster, max = as fast as the broker acknowledges",
    )
    g.add_argument("--duration", type=float, help="stop after this many simulated seconds")


def parse_accel(text: str) -> float:
    """--accel value → factor (0 = as fast as possible)."""
    return 0.0 if text == "max" else float(text)


def config_from_args(args: argparse.Namespace, real_time: bool = False) -> SimConfig:
    if args.start:
        start_ms = parse_time(args.start)
    elif real_time:
        # Shifts start once the fleet is simulated and scheduled (0.06 s per vehicle-day on an idle
        # core here, twice that on a busy one), so the first fixes are not published late.
        start_ms = int(time.time() + 5 + 0.12 * args.vehicles * args.days + 1) * 1000
    else:
        start_ms = None
    stagger = args.stagger_minutes if args.stagger_minutes is not None else (0.0 if real_time else 20.0)
    cfg = SimConfig(
        seed=args.seed,
        city=args.city,
        n_vehicles=args.vehicles,
        days=args.days,
        start_ms=start_ms,
        timezone=args.timezone,
        hours=args.hours,
        stagger_minutes=stagger,
        rate_hz=args.rate_hz,
        fixes_per_message=args.fixes_per_message,
        vehicle_prefix=args.vehicle_prefix,
        gps=GpsRealism(args.gps_noise_m, args.multipath_per_fix, args.dropouts_per_hour),
        link=replace(
            Connectivity(),
            offline_per_hour=args.offline_per_hour,
            buffer_messages=args.buffer_messages,
            duplicate_rate=args.duplicate_rate,
            clock_skew_s=args.clock_skew_s,
        ),
        faults=Faults(
            leak=args.leak,
            leak_seconds=args.leak_seconds,
            hostile=args.hostile,
            hostile_per_vehicle=args.hostile_per_vehicle,
        ),
        device=getattr(args, "device_profile", "v1"),
        streets=args.streets,
        city_style=args.city_style,
        hazard_fixes=tuple(args.fix_hazard),
    )
    return no_noise(cfg) if args.no_noise else cfg


def _write_plan(sc, out: Path, truth: dict | None) -> None:
    from fleetsim.offline import write_documents

    out.mkdir(parents=True, exist_ok=True)
    write_documents(out, sc.city_geojson(), sc.routes_geojson(), sc.roster.to_json(), truth)


def cmd_plan(args) -> int:
    sc = build_scenario(config_from_args(args))
    _write_plan(sc, args.out, None)
    print(f"wrote city.geojson, routes.geojson, roster.json to {args.out}", file=sys.stderr)
    return 0


def cmd_offline(args) -> int:
    from fleetsim.offline import write_fleet

    t0 = time.perf_counter()
    truth = write_fleet(config_from_args(args), args.out, args.format)
    if args.truth:
        args.truth.write_bytes(orjson.dumps(truth))
    print(
        json.dumps(
            {
                "out": str(args.out),
                "format": args.format,
                "fixes": truth["totals"]["fixes_published"],
                "events": truth["totals"]["events_published"],
                "wall_s": round(time.perf_counter() - t0, 2),
            }
        )
    )
    return 0


def cmd_run(args) -> int:
    if args.dialect != "v1":
        return cmd_run_dialect(args)
    from fleetsim.live import run_live

    accel = parse_accel(args.accel)
    sc = build_scenario(config_from_args(args, real_time=accel == 1.0))
    broker = Broker.from_url(args.broker, args.username, args.password, args.mqtt_version)

    def progress(done, total, sim_s):
        print(f"fleetsim: {done}/{total} actions, {sim_s / 3600:.2f} simulated h", file=sys.stderr)

    def ready(truth: dict) -> None:
        if args.out:
            _write_plan(sc, args.out, truth)
        if args.truth:
            args.truth.write_bytes(orjson.dumps(truth))

    truth, report = run_live(sc, broker, accel, args.duration, progress=progress, on_ready=ready)
    if args.out:
        (args.out / "report.json").write_bytes(orjson.dumps(report.as_dict()))
    print(json.dumps(report.as_dict()))
    return 0 if report.failed == 0 and report.acked == report.publishes else 1


def cmd_run_dialect(args) -> int:
    """The fleet as Traccar (HTTP or MQTT forwarding) or OwnTracks phones report it (fleetsim.dialects)."""
    from fleetsim import dialects
    from fleetsim.offline import generate_fleet

    accel = parse_accel(args.accel)
    cfg = config_from_args(args, real_time=accel == 1.0)
    fleet = generate_fleet(config=cfg)
    if args.out:
        _write_plan(fleet.scenario, args.out, fleet.truth)
    if args.truth:
        args.truth.write_bytes(orjson.dumps(fleet.truth))
    city = cfg.city
    if args.dialect == "traccar-http":
        if not args.url or not args.token:
            raise ValueError("--dialect traccar-http needs --url (fleetpilot's /api/v1/ingest/traccar) and --token")
        report = dialects.send_http(dialects.traccar_messages(fleet), args.url, f"Bearer {args.token}", accel)
    else:
        broker = Broker.from_url(args.broker, args.username, args.password, args.mqtt_version)
        if args.dialect == "traccar-mqtt":
            base = (args.topic or "traccar/{city}").replace("{city}", city)
            report = dialects.send_mqtt(
                dialects.traccar_messages(fleet), broker, lambda m: f"{base}/{m.channel}", accel
            )
        else:
            base = args.topic or "owntracks"
            report = dialects.send_mqtt(
                dialects.owntracks_messages(fleet),
                broker,
                lambda m: "/".join((base, *dialects.owntracks_identity(m.vehicle))),
                accel,
            )
    if args.out:
        (args.out / "report.json").write_bytes(orjson.dumps(report.as_dict()))
    print(json.dumps({"dialect": args.dialect, **report.as_dict()}))
    return 0 if report.failed == 0 else 1


def cmd_bench(args) -> int:
    # The benchmarks live outside the simulator (bench/, `fleetpilot bench sim`), not in the wheel.
    try:
        from fleetpilot_bench.sim import main as bench
    except ModuleNotFoundError as exc:
        if exc.name != "fleetpilot_bench":
            raise
        print(
            "fleetsim: the benchmarks are not installed (bench/ of the source tree: pip install -e bench)",
            file=sys.stderr,
        )
        return 2
    return bench([args.target, *args.options])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fleetsim",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="publish the fleet to an MQTT broker (real time or accelerated)")
    add_fleet_options(p)
    add_broker_options(p)
    p.add_argument(
        "--out",
        type=Path,
        help="write city.geojson, routes.geojson, roster.json, truth.json "
        "(before publishing) and report.json (after) here",
    )
    p.add_argument("--truth", type=Path, help="also write the ground truth to this file (before publishing)")
    p.add_argument(
        "--dialect",
        choices=("v1", "traccar-http", "traccar-mqtt", "owntracks"),
        default="v1",
        help="v1: fleetpilot's units (default); traccar-http/-mqtt: as a Traccar server forwards them; "
        "owntracks: as phones running OwnTracks publish (one position per message)",
    )
    p.add_argument("--url", help="traccar-http: where Traccar's forward.url points")
    p.add_argument("--token", help="traccar-http: the token sent as forward.header 'Authorization: Bearer …'")
    p.add_argument(
        "--topic",
        help="traccar-mqtt: topic base, /positions and /events appended (default traccar/{city}); "
        "owntracks: base before /<user>/<device> (default owntracks)",
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("offline", help="write the fleet's data to files, no broker")
    add_fleet_options(p)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--format",
        choices=("parquet", "ndjson"),
        default="parquet",
        help="parquet: fixes/events columns; ndjson: every publish as {send, topic, payload}",
    )
    p.add_argument("--truth", type=Path, help="also write the ground truth to this file")
    p.set_defaults(func=cmd_offline)
    p = sub.add_parser("plan", help="write city.geojson, routes.geojson and roster.json only")
    add_fleet_options(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("bench", help="measure scale figures; prints JSON")
    p.add_argument("target", choices=("offline", "accelerated", "realtime"))
    p.add_argument("options", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (BrokerError, OSError, ValueError) as exc:
        print(f"fleetsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
