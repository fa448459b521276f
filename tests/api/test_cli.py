"""`fleetpilot users` and `fleetpilot api` as a user runs them: real processes, real database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from fleetpilot import cli

CLI = [sys.executable, "-m", "fleetpilot.cli"]


def fleetpilot(*args: str, env: dict[str, str], stdin: str | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")}
    return subprocess.run([*CLI, *args], env={**clean, **env}, input=stdin, capture_output=True, text=True, timeout=120)


def test_users_add_and_list(api, tmp_path):
    env = {"FLEETPILOT_DATABASE_URL": api.database_url, "FLEETPILOT_DATA_DIR": str(tmp_path)}
    added = fleetpilot(
        "users",
        "add",
        "--username",
        "cai",
        "--role",
        "driver",
        "--person",
        "p-zz-cai",
        "--password-stdin",
        env=env,
        stdin="cai's chosen password\n",
    )
    assert added.returncode == 0, added.stderr
    assert "created user cai" in added.stdout and "password" not in added.stdout
    generated = fleetpilot("users", "add", "--username", "olga", "--role", "data_officer", env=env)
    password = generated.stdout.split("password: ")[1].strip()
    assert len(password) >= 16
    for username, secret in (("cai", "cai's chosen password"), ("olga", password)):
        token = api.client.post("/api/v1/auth/token", data={"username": username, "password": secret})
        assert token.status_code == 200, username
    listed = fleetpilot("users", "list", env=env).stdout
    assert "cai" in listed and "p-zz-cai" in listed and "olga" in listed and password not in listed


@pytest.mark.parametrize(
    "args, message",
    [
        (["--username", "x1y", "--role", "driver"], "exactly one person"),
        (["--username", "x1y", "--role", "driver", "--person", "p-nobody"], "does not exist"),
        (["--username", "ana", "--role", "admin"], "taken"),
    ],
)
def test_users_add_errors_are_one_clear_line(shared_api, tmp_path, monkeypatch, capsys, args, message):
    # In-process (the CLI's own entry point): the subprocess path is covered above.
    monkeypatch.setenv("FLEETPILOT_DATABASE_URL", shared_api.database_url)
    monkeypatch.setenv("FLEETPILOT_DATA_DIR", str(tmp_path))
    assert cli.main(["users", "add", *args]) == 2
    stderr = capsys.readouterr().err
    assert message in stderr and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_fleetpilot_api_serves_health_and_generates_its_signing_key_once(fresh_db, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")},
        "FLEETPILOT_DATABASE_URL": fresh_db,
        "FLEETPILOT_DATA_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [*CLI, "api", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        for _ in range(300):  # the first start applies the migrations
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.load(response)
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.2)
        assert health is not None and health["database"]["schema_version"] >= 4
        secret = tmp_path / "jwt_secret"
        assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text()) >= 40
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_fleetpilot_api_workers_each_take_a_share_of_a_burst_of_connections(fresh_db, tmp_path):
    """`--workers 2`: a burst of keep-alive connections (as the bench's 50 clients, or many
    browsers at once) lands on both worker processes, not on whichever woke first
    (commands/_listeners.py: one SO_REUSEPORT socket per worker)."""
    import http.client

    import psutil

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")},
        "FLEETPILOT_DATABASE_URL": fresh_db,
        "FLEETPILOT_DATA_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [*CLI, "api", "--port", str(port), "--workers", "2", "--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    clients: list[http.client.HTTPConnection] = []
    try:
        deadline = time.monotonic() + 240  # the first start applies the migrations; then both workers start
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    pass
                workers = [
                    p for p in psutil.Process(server.pid).children() if "resource_tracker" not in " ".join(p.cmdline())
                ]
                if len(workers) == 2:
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
            time.sleep(0.2)
        time.sleep(2)  # both workers serving
        # The burst: 40 connections opened at once, then one request on each (kept open).
        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(40)]
        for client in clients:
            client.connect()
        for client in clients:
            client.request("GET", "/health")
            assert client.getresponse().read()
        held = {
            worker.pid: sum(
                1 for c in worker.net_connections("tcp") if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
            )
            for worker in psutil.Process(server.pid).children()
        }
        shares = sorted(n for n in held.values() if n)
        # Spread by the kernel's hash, each worker's share is Binomial(40, 1/2): under 8 with
        # probability ~3e-5. One shared socket gave one worker nearly all of such a burst.
        assert len(shares) == 2 and sum(shares) == 40 and shares[0] >= 8, held
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=20)
