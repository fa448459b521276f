"""fleetpilot demo: the whole pilot on one machine.

simulated history (offline, loaded directly) + yesterday's shifts published live by the
simulator → broker → ingest → database → rollups → API and dashboards. Uses the configured
servers, or embedded ones when no URL is set. Prints the URL and one login per role.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fleetpilot import localtime
from fleetpilot.broker import probe_broker, resolve_mqtt_url
from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.schema import prepare
from fleetpilot.errors import ServiceUnavailable
from fleetpilot.settings import Settings

HELP = "run the pilot: simulator -> MQTT -> ingest -> PostgreSQL -> rollups -> API/dashboards"
ROLES = ("driver", "supervisor", "data_officer", "admin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vehicles", type=int, default=12, help="trucks in the fleet (default 12)")
    parser.add_argument("--history-days", type=int, default=14, help="days of history before yesterday (default 14)")
    parser.add_argument("--seed", type=int, default=1, help="city and behaviour seed (default 1)")
    parser.add_argument("--accel", type=float, default=600, help="time acceleration of the live day (default 600)")
    parser.add_argument("--once", action="store_true", help="exit after the live day is stored and rolled up")
    parser.add_argument(
        "--streets",
        type=Path,
        metavar="FILE",
        help="dry-run on the city's own streets: an OSM extract (.osm.pbf) or GIS centre lines, imported as "
        "`fleetpilot import-streets` does; the trucks drive routes built on it (default: the synthetic city)",
    )
    parser.add_argument(
        "--city-style",
        choices=("irregular", "grid"),
        help="the synthetic city without --streets: irregular (the simulator's default: moved junctions, "
        "missing, curved and dead-end streets) or grid",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    db_url = resolve_database_url(settings)
    mqtt_url = resolve_mqtt_url(settings)
    probe = probe_broker(mqtt_url)
    if not probe.reachable:
        raise ServiceUnavailable(f"MQTT broker at {mqtt_url}: {probe.error}")
    run_dir = (settings.data_dir / "demo").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    # Collection starts at 06:00 in the city's local morning (FLEETPILOT_TIMEZONE), yesterday;
    # the history's days start at the same local time (the simulator steps local days).
    zone = localtime.zone(settings.timezone)
    yesterday = localtime.today(zone) - timedelta(days=1)
    first = yesterday - timedelta(days=args.history_days)
    live_start = datetime(yesterday.year, yesterday.month, yesterday.day, 6, tzinfo=zone)
    history_start = datetime(first.year, first.month, first.day, 6, tzinfo=zone)

    print(f"database: {db_url}\nbroker:   {mqtt_url} (MQTT {probe.protocol})", flush=True)
    args.layer = _street_layer(args.streets, run_dir) if getattr(args, "streets", None) else None
    asyncio.run(_prepare(db_url, settings, args, history_start))
    asyncio.run(_import_plan(db_url, args, live_start, settings.city, settings.timezone))
    logins = asyncio.run(_seed_users(db_url, run_dir))

    # SIGTERM (e.g. from a service manager) must stop the children too: exit through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = {
        **os.environ,
        "FLEETPILOT_DATABASE_URL": db_url,
        "FLEETPILOT_MQTT_URL": mqtt_url,
        "FLEETPILOT_DATA_DIR": str(settings.data_dir.resolve()),
    }
    cli = [sys.executable, "-m", "fleetpilot.cli"]
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    services = {
        "ingest": _spawn([*cli, "ingest"], env, logs / "ingest.log"),
        "api": _spawn([*cli, "api"], env, logs / "api.log"),
    }
    try:
        url = f"http://{settings.api_host}:{settings.api_port}/"
        _wait_for_api(url + "health", services["api"], logs / "api.log")
        print(f"\nfleetpilot is running: open {url}\n")
        for role, (username, password) in logins.items():
            print(f"  {role:<13} user {username:<14} password {password}")
        print(f"  (also saved in {run_dir / 'logins.json'})\n", flush=True)

        print(
            f"publishing yesterday's shifts of {args.vehicles} trucks at {args.accel:g}x "
            "(some units also send off-duty and private-mode positions: counted, never stored) …",
            flush=True,
        )
        sim = subprocess.run(
            [
                *cli,
                "sim",
                "run",
                "--vehicles",
                str(args.vehicles),
                "--seed",
                str(args.seed),
                "--city",
                settings.city,
                "--start",
                _iso(live_start),
                "--timezone",
                settings.timezone,
                *_sim_city_options(args),
                "--broker",
                mqtt_url,
                "--mqtt-version",
                probe.protocol,
                "--accel",
                f"{args.accel:g}",
                "--out",
                str(run_dir / "live"),
                # Every 4th unit publishes just outside its shift and flags its break private, so the
                # transparency page's "counted but not stored" shows the privacy filter at work.
                "--leak",
            ],
            env=env,
            stdout=open(logs / "sim.log", "w"),  # noqa: SIM115 (the simulator process holds it)
            stderr=subprocess.STDOUT,
        )
        if sim.returncode != 0:
            raise ServiceUnavailable(f"the simulator failed (exit {sim.returncode}); see {logs / 'sim.log'}")
        stored = asyncio.run(_settle_and_rollup(db_url, live_start, settings.timezone))
        print(f"stored {stored['fixes']} fixes of the live day; rollups: {stored['rollup']}", flush=True)
        shown = _show_the_promises(db_url, url, logins)
        print(
            f"the demo driver ({shown['person']}) has {shown['hotspot_events']} safety moment(s) at known hotspots; "
            f"a supervisor opened their shift {shown['opened_shift']} for: {shown['purpose']}",
            flush=True,
        )
        goals = asyncio.run(_demo_goals(db_url, logins["data_officer"][0], first))
        print(
            f"pilot goals: {goals} example goals set by the data officer (baseline: the first week of history); "
            f"the pilot report: fleetpilot report --from {first} --to {yesterday + timedelta(days=1)}",
            flush=True,
        )
        if args.once:
            return 0
        services["rollup"] = _spawn([*cli, "rollup", "--every", "60"], env, logs / "rollup.log")
        # Today's shifts in real time, so the live map has trucks on duty.
        now_start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=20)
        asyncio.run(_import_plan(db_url, args, now_start, settings.city, settings.timezone, real_time=True))
        services["sim"] = _spawn(
            [
                *cli,
                "sim",
                "run",
                "--vehicles",
                str(args.vehicles),
                "--seed",
                str(args.seed),
                "--city",
                settings.city,
                "--start",
                _iso(now_start),
                "--timezone",
                settings.timezone,
                *_sim_city_options(args),
                "--broker",
                mqtt_url,
                "--mqtt-version",
                probe.protocol,
                "--accel",
                "1",
            ],
            env,
            logs / "sim-live.log",
        )
        print("today's shifts are being driven in real time (live map)", flush=True)
        print(f"serving at {url} — Ctrl-C to stop (logs in {logs})", flush=True)
        while all(p.poll() is None for p in services.values()):
            time.sleep(1)
        failed = [name for name, p in services.items() if p.poll() is not None]
        raise ServiceUnavailable(f"{', '.join(failed)} stopped unexpectedly; see {logs}")
    finally:
        for proc in services.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in services.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _prepare(db_url, settings, args, history_start) -> None:
    """Schema, and the simulated history (loaded directly, then rolled up) on a new database."""
    from fleetpilot.rollup.job import run_rollup
    from fleetpilot.simload import load_run
    from fleetsim.offline import generate_fleet

    conn = await connect(db_url)
    try:
        await prepare(conn, settings)
        if getattr(args, "layer", None):
            await _import_streets(conn, args.streets)
        if args.history_days > 0 and not await conn.fetchval(
            "SELECT count(*) FROM shifts WHERE starts_at <= $1", history_start
        ):
            print(f"simulating {args.history_days} days of history for {args.vehicles} trucks …", flush=True)
            history = generate_fleet(
                n_vehicles=args.vehicles,
                days=args.history_days,
                seed=args.seed,
                start=_iso(history_start),
                city=settings.city,
                timezone=settings.timezone,
                **_sim_city(args),
            )
            print("  loaded:", await load_run(conn, history), flush=True)
            print("  rollups:", await run_rollup(conn, tz=settings.timezone), flush=True)
    finally:
        await conn.close()


def _sim_city(args) -> dict:
    """The simulator's city settings (SimConfig fields) of the demo's arguments: the street
    layer of --streets, else the synthetic city's style when --city-style is given."""
    if getattr(args, "layer", None):
        return {"streets": str(args.layer)}
    return {"city_style": args.city_style} if getattr(args, "city_style", None) else {}


def _sim_city_options(args) -> list[str]:
    """The same as `fleetsim run` options."""
    return [f"--{k.replace('_', '-')}={v}" for k, v in _sim_city(args).items()]


def _street_layer(path: Path, run_dir: Path) -> Path:
    """The city's street file as the GeoJSON street layer the simulator drives on (run_dir/streets.geojson)."""
    from fleetpilot.streets.network import layer_geojson, split
    from fleetpilot.streets.read import read_lines
    from fleetpilot.streets.restrictions import file_turns

    segments = split(read_lines(path))
    layer = run_dir / "streets.geojson"
    layer.write_text(json.dumps(layer_geojson(segments, file_turns(path, segments).turns)))  # the simulator obeys them
    print(f"streets: {len(segments)} segments from {path}", flush=True)
    return layer


async def _import_streets(conn, path: Path) -> None:
    """import-streets, keeping what the database holds besides (the simulator's access roads)."""
    from fleetpilot.streets.network import split
    from fleetpilot.streets.read import read_lines
    from fleetpilot.streets.restrictions import file_turns
    from fleetpilot.streets.store import store_streets

    segments = split(read_lines(path))
    turns = file_turns(path, segments).turns
    report = await store_streets(conn, segments, keep_missing=True, turns=turns)
    print(
        f"  imported: {report.added} added, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.turn_restrictions} forbidden turns",
        flush=True,
    )


async def _import_plan(
    db_url: str, args, start: datetime, city: str, tz: str = localtime.DEFAULT_TIMEZONE, real_time: bool = False
) -> None:
    """The plan of a simulated day, imported before publishing so the ingest knows the shifts."""
    from fleetpilot.db.importer import import_city, import_roster, import_routes
    from fleetsim.offline import make_config
    from fleetsim.scenario import build_scenario

    # Must match what `fleetsim run` drives: real-time runs start every shift at once.
    scenario = build_scenario(
        make_config(
            n_vehicles=args.vehicles,
            days=1,
            seed=args.seed,
            start=_iso(start),
            city=city,
            timezone=tz,
            **_sim_city(args),
            **({"stagger_minutes": 0.0} if real_time else {}),
        )
    )
    conn = await connect(db_url)
    try:
        await import_city(conn, scenario.city_geojson())
        await import_routes(conn, scenario.routes_geojson(), created_by="demo")
        await import_roster(conn, scenario.roster.to_json())
    finally:
        await conn.close()


async def _seed_users(db_url: str, run_dir: Path) -> dict[str, tuple[str, str]]:
    conn = await connect(db_url)
    try:
        return await _seed_users_on(conn, run_dir)
    finally:
        await conn.close()


async def _seed_users_on(conn, run_dir: Path) -> dict[str, tuple[str, str]]:
    """One account per role (the driver is a crew member of the first shift); new passwords each run."""
    from fleetpilot.api.auth.passwords import hash_password
    from fleetpilot.api.users import create_user

    person = await conn.fetchval("SELECT person_id FROM shift_crew ORDER BY shift_id, person_id LIMIT 1")
    logins = {}
    for role in ROLES:
        username = f"demo-{role.replace('_', '-')}"
        password = secrets.token_urlsafe(9)
        exists = await conn.fetchval("SELECT user_id FROM users WHERE username = $1", username)
        if exists:
            await conn.execute(
                "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE user_id = $1",
                exists,
                await hash_password(password),
            )
        else:
            await create_user(conn, username, password, role, person if role == "driver" else None)
        logins[role] = (username, password)
    path = run_dir / "logins.json"
    path.write_text(json.dumps({r: {"username": u, "password": p} for r, (u, p) in logins.items()}, indent=2))
    path.chmod(0o600)
    return logins


# The demo driver: the crew member with the most safety moments at known hotspots on finished,
# rolled-up shifts (then the latest), so their page shows a hotspot the city knows.
DEMO_DRIVER = """
SELECT c.person_id, count(h.segment_id) AS hotspot_events, max(s.ends_at) AS last_end
FROM shift_crew c
JOIN shifts s USING (shift_id)
JOIN shift_metrics m USING (shift_id)
LEFT JOIN shift_events ev ON ev.shift_id = s.shift_id
LEFT JOIN known_hotspots h ON h.segment_id = ev.context ->> 'segment_id' AND h.kind = ev.kind
WHERE s.ends_at <= now()
GROUP BY c.person_id
ORDER BY hotspot_events DESC, last_end DESC, c.person_id
LIMIT 1
"""
LATEST_FINISHED = """
SELECT s.shift_id FROM shifts s JOIN shift_crew c USING (shift_id) JOIN shift_metrics m USING (shift_id)
WHERE c.person_id = $1 AND s.ends_at <= now() ORDER BY s.ends_at DESC LIMIT 1
"""
DEMO_PURPOSE = "incident 2026-0042: a resident reported a damaged bin on this route (demo)"


# Example goals for the demo's pilot (issue 16): what a city might set, some met and some not.
# (goal id, KPI, title, target, direction, department)
DEMO_GOALS = (
    ("coverage", "coverage", "Every planned street collected", 97.0, "at_least", "Sanitation operations"),
    ("missed", "missed_per_1000", "Fewer missed collections", 20.0, "at_most", "Sanitation operations"),
    ("deadhead", "deadhead_share", "Less driving without collecting", 35.0, "at_most", "Fleet management"),
    ("overtime", "overtime_hours", "Overtime kept down", 10.0, "at_most", "Human resources"),
    ("safety", "safety_per_100km", "Safer driving on every street", 5.0, "at_most", "Road safety office"),
    ("co2", "co2_kg", "Lower fleet emissions", 20_000.0, "at_most", "Climate office"),
)


async def _demo_goals(db_url: str, officer: str, first) -> int:
    """Set the example goals as the demo's data officer (versioned and audited as any change),
    unless goals exist already (a second run of the demo keeps the city's own)."""
    from fleetpilot.analytics.goals import KPIS
    from fleetpilot.api import policy
    from fleetpilot.api.goals import service

    conn = await connect(db_url)
    try:
        if await conn.fetchval("SELECT count(*) FROM goals"):
            return int(await conn.fetchval("SELECT count(DISTINCT goal_id) FROM goals"))
        user = await conn.fetchrow("SELECT user_id, username, role, person_id FROM users WHERE username = $1", officer)
        for goal_id, kpi, title, target, direction, department in DEMO_GOALS:
            goal = service.GoalIn(
                goal_id=goal_id,
                kpi=kpi,
                title=title,
                definition=f"{KPIS[kpi].title}, fleet-wide, against the first week of the pilot (a demo example).",
                baseline_from=first,
                baseline_to=first + timedelta(days=7),
                target=target,
                direction=direction,
                department=department,
            )
            await service.save_goal(conn, goal, policy.Principal(**dict(user)))
        return len(DEMO_GOALS)
    finally:
        await conn.close()


def _show_the_promises(db_url: str, url: str, logins: dict) -> dict:
    """Make the privacy promises visible from the first minute: the driver account belongs to
    a crew member with a known hotspot on a finished shift, and a supervisor opens one of
    their shifts through the API with a stated purpose (audited; in the driver's access log)."""
    import urllib.parse
    import urllib.request

    async def choose() -> dict:
        conn = await connect(db_url)
        try:
            driver = await conn.fetchrow(DEMO_DRIVER)
            await conn.execute(
                "UPDATE users SET person_id = $1 WHERE username = $2", driver["person_id"], logins["driver"][0]
            )
            shift = await conn.fetchval(LATEST_FINISHED, driver["person_id"])
            return {"person": driver["person_id"], "hotspot_events": driver["hotspot_events"], "shift": shift}
        finally:
            await conn.close()

    chosen = asyncio.run(choose())
    username, password = logins["supervisor"]
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(url + "api/v1/auth/token", data=form, timeout=30) as answer:
        token = json.loads(answer.read())["access_token"]
    request = urllib.request.Request(
        url + f"api/v1/shifts/{urllib.parse.quote(chosen['shift'])}/open",
        data=json.dumps({"purpose": DEMO_PURPOSE}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
    return {**chosen, "opened_shift": chosen["shift"], "purpose": DEMO_PURPOSE}


async def _settle_and_rollup(db_url: str, live_start: datetime, tz: str) -> dict:
    """Wait until the ingest has stored everything it received, then roll up."""
    from fleetpilot.rollup.job import run_rollup

    conn = await connect(db_url)
    try:
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 5:
            count = await conn.fetchval("SELECT count(*) FROM fixes WHERE ts >= $1", live_start)
            if count != last:
                last, stable_since = count, time.monotonic()
            await asyncio.sleep(1)
        result = await run_rollup(conn, tz=tz)
        return {"fixes": last, "rollup": result}
    finally:
        await conn.close()


def _spawn(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_api(url: str, proc: subprocess.Popen, log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"the API exited at start; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise ServiceUnavailable(f"the API did not answer {url} within 60 s; see {log}")


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
