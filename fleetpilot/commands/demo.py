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


def run(args: argparse.Namespace, settings: Settings) -> int:
    db_url = resolve_database_url(settings)
    mqtt_url = resolve_mqtt_url(settings)
    probe = probe_broker(mqtt_url)
    if not probe.reachable:
        raise ServiceUnavailable(f"MQTT broker at {mqtt_url}: {probe.error}")
    run_dir = (settings.data_dir / "demo").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    live_start = today - timedelta(days=1) + timedelta(hours=6)
    history_start = live_start - timedelta(days=args.history_days)

    print(f"database: {db_url}\nbroker:   {mqtt_url} (MQTT {probe.protocol})", flush=True)
    asyncio.run(_prepare(db_url, settings, args, history_start))
    asyncio.run(_import_plan(db_url, args, live_start, settings.city))
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

        print(f"publishing yesterday's shifts of {args.vehicles} trucks at {args.accel:g}x …", flush=True)
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
                "--broker",
                mqtt_url,
                "--mqtt-version",
                probe.protocol,
                "--accel",
                f"{args.accel:g}",
                "--out",
                str(run_dir / "live"),
            ],
            env=env,
            stdout=open(logs / "sim.log", "w"),  # noqa: SIM115 (the simulator process holds it)
            stderr=subprocess.STDOUT,
        )
        if sim.returncode != 0:
            raise ServiceUnavailable(f"the simulator failed (exit {sim.returncode}); see {logs / 'sim.log'}")
        stored = asyncio.run(_settle_and_rollup(db_url, live_start))
        print(f"stored {stored['fixes']} fixes of the live day; rollups: {stored['rollup']}", flush=True)
        if args.once:
            return 0
        services["rollup"] = _spawn([*cli, "rollup", "--every", "60"], env, logs / "rollup.log")
        # Today's shifts in real time, so the live map has trucks on duty.
        now_start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=20)
        asyncio.run(_import_plan(db_url, args, now_start, settings.city, real_time=True))
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
            )
            print("  loaded:", await load_run(conn, history), flush=True)
            print("  rollups:", await run_rollup(conn), flush=True)
    finally:
        await conn.close()


async def _import_plan(db_url: str, args, start: datetime, city: str, real_time: bool = False) -> None:
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


async def _settle_and_rollup(db_url: str, live_start: datetime) -> dict:
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
        result = await run_rollup(conn)
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
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
