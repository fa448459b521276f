"""Private servers for fault tests: a PostgreSQL cluster and a Mosquitto broker of the test's
own, on free loopback ports, that the test may stop, kill and start (the shared servers on
5432/1883 must never be touched). Importable as `private_servers`.

PostgreSQL comes from Debian's binaries (/usr/lib/postgresql/<major>/bin, or the directory in
FLEETPILOT_TEST_PG_BIN); `initdb` refuses to run as root, so as root the cluster belongs to
the `postgres` system user (`runuser`).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if (sock.connect_ex(("127.0.0.1", port)) == 0) == up:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'} within {timeout} s")


def pg_bin() -> Path:
    configured = os.environ.get("FLEETPILOT_TEST_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail("fault tests need PostgreSQL's server binaries (Debian: postgresql-15); none found")
    return Path(found[-1]).parent


class PrivatePostgres:
    """One PostgreSQL cluster in `root`, trust auth for `postgres`, on a free port."""

    def __init__(self, *settings: str):
        self.bin = pg_bin()
        # Its own directory under /tmp: pytest's tmp dirs are private to root, and the server
        # runs as `postgres` when the tests run as root.
        root = self.root = Path(tempfile.mkdtemp(prefix="fleetpilot-pg-"))
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{root}'",
            "fsync = off",  # a test cluster: crash safety of the OS is not what is tested
            "max_connections = 30",
            *settings,
        ]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n".join(options) + "\n")

    def _run(self, tool: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        out = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed: {out.stdout}{out.stderr}{self.tail()}")
        return out

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-20:])
        except OSError:
            return ""

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast", wait: bool = True) -> None:
        """pg_ctl stop -m smart|fast|immediate; `wait=False` returns at once (smart waits for clients)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w" if wait else "-W", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """What a service manager's restart does: pg_ctl restart -m <mode>."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "-t", "60", "restart")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def close(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateMosquitto:
    """A Mosquitto process with a configuration the test writes (listener added on a free port)."""

    def __init__(self, config: str = "", port: int | None = None):
        # Its own directory under /tmp, owned by the broker's user: started as root, Mosquitto
        # drops to `mosquitto` and must still read its files and write its persistence.
        root = self.root = Path(tempfile.mkdtemp(prefix="fleetpilot-mqtt-"))
        self.port = port or free_port()
        self.conf = root / "mosquitto.conf"
        self.log = root / "mosquitto.log"
        self.conf.write_text(f"{config}\nlistener {self.port} 127.0.0.1\n")
        self.proc: subprocess.Popen | None = None

    def own(self) -> None:
        """Hand every file of the root to the broker's user (call after writing them)."""
        if os.geteuid() == 0 and _user_exists("mosquitto"):
            for path in [self.root, *self.root.rglob("*")]:
                shutil.chown(path, "mosquitto", "mosquitto")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.own()
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._log_file = open(self.log, "ab")
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=self._log_file, stderr=subprocess.STDOUT)
        wait_port(self.port, True, 10)

    def kill(self) -> None:
        """SIGKILL: what a crash, an OOM kill or a power cut looks like to the broker."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log_file.close()
        wait_port(self.port, False, 10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
            self._log_file.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
