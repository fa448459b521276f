"""fleetpilot devices: register units, trackers and phones; tokens; the broker's ACL files."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import time
from pathlib import Path

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.errors import ConfigError
from fleetpilot.settings import Settings

HELP = (
    "register devices with their credentials (devices add / traccar-server), list them, revoke HTTP "
    "tokens, write Mosquitto's password and ACL files (devices broker-files), see and replay messages held for "
    "clock skew (devices held / replay-skew); see docs/trackers.md"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="bind a device to a vehicle; prints its generated credentials once")
    add.add_argument("device_id")
    add.add_argument("--vehicle", required=True, help="the vehicle it rides in (registered already)")
    add.add_argument("--dialect", default="v1", choices=("v1", "traccar", "owntracks"))
    add.add_argument("--external-id", help="Traccar: the device's uniqueId; OwnTracks: <user>/<device>")
    add.add_argument("--http-token", action="store_true", help="OwnTracks: also a token for the app's HTTP mode")
    server = sub.add_parser("traccar-server", help="credentials for a Traccar server: an HTTP token (+ MQTT login)")
    server.add_argument("name", help="its name, also its MQTT username")
    server.add_argument("--mqtt", action="store_true", help="also an MQTT login (forward.type=mqtt)")
    revoke = sub.add_parser("revoke", help="revoke an HTTP token: its next request gets 401")
    revoke.add_argument("token_id")
    sub.add_parser("list", help="devices, their dialect, identity, vehicle, MQTT login and live tokens")
    sub.add_parser("held", help="vehicles with messages held for clock skew: count, measured skew (decision 0015)")
    replay = sub.add_parser(
        "replay-skew",
        help="replay a vehicle's held clock-skew messages through the ingest (privacy applied, audited)",
    )
    replay.add_argument("vehicle")
    replay.add_argument(
        "--offset-s",
        type=float,
        help="how far the unit's clock was ahead, in s (default: the skew measured on the held messages)",
    )
    files = sub.add_parser("broker-files", help="write Mosquitto's passwd and acl files from the devices table")
    files.add_argument("--out", type=Path, required=True, help="folder to write passwd and acl into")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings, resolve_database_url(settings)))


async def _run(args: argparse.Namespace, settings: Settings, url: str) -> int:
    from fleetpilot import devices
    from fleetpilot.ingest import replay
    from fleetpilot.ingest.dialects import tokens

    conn = await connect(url)
    try:
        if args.action == "add":
            issued = await devices.add_device(
                conn, args.device_id, args.vehicle, args.dialect, args.external_id, http_token=args.http_token
            )
            print(f"added {args.dialect} device {issued.device_id} on vehicle {args.vehicle}")
            _print_secrets(issued)
        elif args.action == "traccar-server":
            issued = await devices.add_traccar_server(conn, args.name, mqtt=args.mqtt)
            print(f"added Traccar server {issued.device_id}")
            _print_secrets(issued)
        elif args.action == "revoke":
            if not await tokens.revoke(conn, args.token_id):
                raise ConfigError(f"no live token {args.token_id!r}")
            print(f"revoked token {args.token_id}")
        elif args.action == "list":
            for d in await devices.list_devices(conn):
                print(
                    f"{d['device_id']}\t{d['dialect']}\t{d['external_id'] or '-'}\t{d['vehicle_id'] or '-'}\t"
                    f"mqtt:{d['mqtt_username'] or '-'}\ttokens:{d['tokens']}"
                )
        elif args.action == "held":
            _print_held(await replay.held(conn, settings.city), settings.timezone)
        elif args.action == "replay-skew":
            result = await replay.replay_held(
                conn, args.vehicle, offset_s=args.offset_s, audit=_audit_replay, now_ms=_now_ms()
            )
            print(_replay_words(result))
        else:
            await _broker_files(conn, settings, args.out)
    finally:
        await conn.close()
    return 0


def _now_ms() -> int:
    return int(time.time() * 1000)


def _print_held(rows: list[dict], tz: str) -> None:
    from fleetpilot.localtime import zone

    city_zone = zone(tz)  # people read the city's time (decision 0013)
    if not rows:
        print("no messages held for clock skew")
    for r in rows:
        now = "-" if r["clock_skew_s"] is None else f"{r['clock_skew_s']:+.0f} s"
        print(
            f"{r['vehicle_id']}\theld:{r['held']}\tskew when held:{r['held_skew_s']:+.0f} s\tskew now:{now}\t"
            f"received {r['oldest'].astimezone(city_zone):%Y-%m-%d %H:%M}..{r['newest'].astimezone(city_zone):%H:%M %Z}"
        )


async def _audit_replay(conn, result) -> None:
    # The command line is the database owner's; its audit rows name no user account.
    await conn.execute(
        "INSERT INTO audit_log (actor_role, action, detail) VALUES ('cli', 'replay_skew_held', $1::text::jsonb)",
        json.dumps({**result.as_detail(), "os_user": getpass.getuser()}),
    )


def _replay_words(r) -> str:
    how = "nothing to correct" if r.offset_s is None else f"moved back {r.offset_s:+g} s"
    how += " (measured)" if r.measured else " (stated)"
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(r.not_stored.items())) or "none"
    rejected = ", ".join(f"{n} {why}" for why, n in sorted(r.rejected.items())) or "none"
    return (
        f"{r.vehicle_id}: {r.replayed} of {r.messages} held messages replayed ({how}); stored {r.fixes_stored} fixes "
        f"and {r.events_stored} events, {r.duplicates} already stored; not stored (privacy): {dropped}; "
        f"rejected: {rejected}; still skewed, left held: {r.still_skewed}"
    )


def _print_secrets(issued) -> None:
    if issued.mqtt_password:
        print(f"mqtt username: {issued.mqtt_username}")
        print(f"mqtt password: {issued.mqtt_password}")
    if issued.token:
        print(f"http token id: {issued.token_id}")
        print(f"http token: {issued.token}")
    if issued.mqtt_password or issued.token:
        print("(shown once; only hashes are stored — run `devices broker-files` and SIGHUP Mosquitto)")


async def _broker_files(conn, settings: Settings, out: Path) -> None:
    from fleetpilot import devices
    from fleetpilot.urls import parse_mqtt_url

    if not settings.mqtt_url:
        raise ConfigError("FLEETPILOT_MQTT_URL must name the ingest's login (mqtt://user:password@host:port)")
    target = parse_mqtt_url(settings.mqtt_url)
    if not target.username or not target.password:
        raise ConfigError("FLEETPILOT_MQTT_URL has no user:password: the ingest's login goes into the files")
    passwd, acl = await devices.broker_files(
        conn,
        city=settings.city,
        traccar_topic=settings.traccar_topic,
        owntracks_topic=settings.owntracks_topic,
        ingest_username=target.username,
        ingest_password=target.password,
    )
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, at the command's end)
    for name, text in (("passwd", passwd), ("acl", acl)):
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # hashes: owner only
        with os.fdopen(fd, "w") as f:
            f.write(text)
    print(f"wrote {out / 'passwd'} and {out / 'acl'}: point Mosquitto's password_file / acl_file at them, SIGHUP")
