"""Embedded PostgreSQL (pgserver) and MQTT broker (amqtt) for a laptop with Python alone.

Used only when no URL is configured. Both keep running after the CLI exits (state in
``data_dir``) so `fleetpilot ingest`, `api` and `sim` started later find the same servers;
`fleetpilot demo --stop` (or `stop_embedded`) shuts them down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

from fleetpilot.errors import ServiceUnavailable
from fleetpilot.settings import Settings

BROKER_STATE = "broker.json"


def embedded_database_url(settings: Settings) -> str:
    """Start (or reuse) the pgserver cluster under data_dir/pg and return its URL."""
    try:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir it does not need (XDG_RUNTIME_DIR unset).
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a pinned dependency
        raise ServiceUnavailable(f"no database URL configured and pgserver is not installed: {exc}") from None
    pgdata = (settings.data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(str(pgdata), cleanup_mode=None)
    except Exception as exc:  # pgserver raises plain exceptions with postgres' log text
        raise ServiceUnavailable(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from None
    return server.get_uri()


def embedded_broker_url(settings: Settings) -> str:
    """Start (or reuse) an amqtt broker on a free loopback port and return its URL."""
    state_file = (settings.data_dir / BROKER_STATE).resolve()
    state = _read_state(state_file)
    if state and _pid_alive(state["pid"]) and _port_open("127.0.0.1", state["port"]):
        return f"mqtt://127.0.0.1:{state['port']}"
    state_file.parent.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = state_file.parent / "amqtt.yaml"
    config.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    amqtt = Path(sys.executable).with_name("amqtt")
    log = open(state_file.parent / "amqtt.log", "ab")  # noqa: SIM115 (the detached broker holds it)
    proc = subprocess.Popen(
        [str(amqtt), "-c", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"the embedded MQTT broker exited at start; see {log.name}")
        if _port_open("127.0.0.1", port):
            state_file.write_text(json.dumps({"pid": proc.pid, "port": port}))
            return f"mqtt://127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise ServiceUnavailable(f"the embedded MQTT broker did not open port {port} within 20 s; see {log.name}")


def stop_embedded(settings: Settings) -> list[str]:
    """Stop the embedded broker and database if they run; return what was stopped."""
    stopped = []
    state_file = settings.data_dir / BROKER_STATE
    state = _read_state(state_file)
    if state and _pid_alive(state["pid"]):
        os.kill(state["pid"], signal.SIGTERM)
        stopped.append(f"MQTT broker (pid {state['pid']})")
    state_file.unlink(missing_ok=True)
    pgdata = (settings.data_dir / "pg").resolve()
    if (pgdata / "postmaster.pid").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # see embedded_database_url
            from pgserver import pg_ctl

        # pgserver runs postgres as the 'pgserver' system user when we are root.
        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        stopped.append(f"PostgreSQL ({pgdata})")
    return stopped


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
