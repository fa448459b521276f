"""What a real PostgreSQL does to a running and to a starting worker.

A private cluster of the test's own (initdb + pg_ctl on a free port) is stopped, restarted and
starved while the simulator publishes a fleet through the real broker to `fleetpilot ingest`
running as a process; afterwards ground truth is compared row by row (0 lost, 0 duplicated)
and the process must still be running. A TCP proxy cut (test_faults.py) never produces what
these do: an admin_shutdown error arriving mid-COPY, a server refusing connections while it
starts or stops, `too many connections`, a statement timeout.

Each scenario writes its figures (expected / stored / lost / duplicated, recovery time) to
test-artifacts/fault-scenarios.jsonl and prints them (`-s`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
from ingest_kit import assert_exactly_once, build_fleet, ground_truth_counts, sql, wait_until
from private_servers import PrivatePostgres
from support import run

from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.broker]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def private_pg():
    pg = PrivatePostgres()
    pg.start()

    async def template() -> None:
        admin = await asyncpg.connect(pg.admin_url)
        await admin.execute('CREATE DATABASE "tmpl"')
        await admin.close()
        conn = await asyncpg.connect(pg.url("tmpl"))
        try:
            await prepare(conn, Settings(database_url=pg.url("tmpl"), storage_mode="native", _env_file=None))
        finally:
            await conn.close()

    run(template())
    yield pg
    pg.close()


@pytest.fixture
def db_url(private_pg):
    """This test's database in the private cluster (overrides the shared one of conftest)."""
    if not private_pg.running():  # a failed test may have left it down
        private_pg.start()
    name = f"fpt_{uuid.uuid4().hex[:10]}"
    sql(private_pg.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "tmpl"')
    yield private_pg.url(name)
    if not private_pg.running():
        private_pg.start()
    sql(private_pg.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Publishing:
    def __init__(self, fleet, mqtt_url: str, accel: float):
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fleet, mqtt_url, accel), daemon=True)
        self._thread.start()

    def _run(self, fleet, mqtt_url, accel) -> None:
        try:
            fleet.publish(mqtt_url, accel)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 90) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the simulator did not finish"
        if self.error:
            raise self.error


def stored(db_url: str) -> int:
    try:
        return sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"]
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return -1  # the server is down


def report(name: str, counts: dict, **timing) -> None:
    line = {"scenario": name, **counts, **{k: round(v, 2) for k, v in timing.items()}}
    print("FAULT", json.dumps(line))
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "fault-scenarios.jsonl", "a") as out:
        out.write(json.dumps(line) + "\n")


def finish(name: str, db_url: str, fleet, proc, sim: Publishing, back_at: float, before_back: int) -> None:
    """Wait for the rows, record the figures, then assert: still running, exactly once."""
    first_commit = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.proc.poll() is None:
        if stored(db_url) > before_back:
            first_commit = time.monotonic() - back_at
            break
        time.sleep(0.05)
    sim.join()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stored(db_url) < len(fleet.fixes) and proc.proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.3)  # a worker that died: let the figures settle; one that is done: nothing more comes
    counts = ground_truth_counts(db_url, fleet)
    report(
        name,
        counts,
        first_commit_after_recovery_s=first_commit if first_commit is not None else -1,
        caught_up_after_s=time.monotonic() - back_at,
        worker_exit_code=proc.proc.poll() if proc.proc.poll() is not None else -1,
    )
    assert proc.proc.poll() is None, f"the worker exited:\n{proc.log.read_text()[-3000:]}"
    assert_exactly_once(db_url, fleet)
    assert proc.terminate() == 0


@pytest.mark.timeout(120)
def test_fast_restart_during_copy_is_retried(private_pg, db_url):
    """`pg_ctl restart -m fast` while COPYs are in flight: asyncpg may then raise
    InternalClientError ("cannot switch to state 15; another operation (2) is in progress")
    instead of a connection error. Every operation must still complete."""
    from fleetpilot.ingest.dblink import DbLink
    from fleetpilot.ingest.metrics import IngestMetrics

    metrics = IngestMetrics()
    rows = [(i, "x" * 40) for i in range(20_000)]
    sql(db_url, "CREATE TABLE copied (batch int, a int, b text)")

    async def copy(conn, batch: int) -> None:
        async with conn.transaction():
            await conn.copy_records_to_table("copied", records=[(batch, a, b) for a, b in rows])

    async def writer(link: DbLink, first: int, done: list) -> None:
        for batch in range(first, first + 1000):
            if stop.is_set():
                return
            await link.run(lambda conn, b=batch: copy(conn, b))
            done.append(batch)

    async def copy_in_flight(admin_url: str) -> None:
        while True:
            try:
                conn = await asyncpg.connect(admin_url)
                try:
                    if await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state = 'active'"
                    ):
                        return
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError):
                pass
            await asyncio.sleep(0.01)

    async def scenario() -> list:
        done: list = []
        links = [DbLink(db_url, f"w{i}", metrics) for i in range(4)]
        tasks = [asyncio.create_task(writer(link, i * 1000, done)) for i, link in enumerate(links)]
        for _ in range(5):
            await asyncio.wait_for(copy_in_flight(private_pg.admin_url), 30)
            await asyncio.to_thread(private_pg.restart, "fast")
        stop.set()
        await asyncio.gather(*tasks)  # an error that was not retried surfaces here
        for link in links:
            await link.close()
        return done

    stop = asyncio.Event()
    done = run(scenario())
    assert metrics.registry.get_sample_value("fleetpilot_ingest_db_errors_total") > 0
    got = sql(db_url, "SELECT count(DISTINCT batch) AS batches, count(*) AS n FROM copied")[0]
    assert got["batches"] == len(done) and got["n"] == len(done) * len(rows)  # each committed once


def begin(db_url, city, mqtt_url, start_process, clean_retained, accel: float = 120):
    fleet = build_fleet(db_url, city, vehicles=3, hours=0.3)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    proc = start_process("--worker-id", "k", cli=False)
    proc.wait_subscribed()
    sim = Publishing(fleet, mqtt_url, accel)  # 18 simulated minutes in ~9 s
    wait_until(lambda: stored(db_url) > 300, 30, "the first batches to be stored")
    return fleet, proc, sim


def terminate_sessions(admin_url: str, database: str) -> int:
    rows = sql(
        admin_url,
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )
    return rows[0]["n"]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_mid_stream(mode, private_pg, db_url, city, mqtt_url, start_process, clean_retained):
    """`pg_ctl restart -m fast` (a service manager's restart) and `-m immediate` (a crash), twice."""
    fleet, proc, sim = begin(db_url, city, mqtt_url, start_process, clean_retained)
    for _ in range(2):
        private_pg.restart(mode)
        back_at, before_back = time.monotonic(), stored(db_url)
        wait_until(lambda n=before_back: stored(db_url) > n, 30, "a commit after the restart")
    finish(f"restart -m {mode} (x2)", db_url, fleet, proc, sim, back_at, before_back)


@pytest.mark.timeout(150)
def test_stopped_for_a_while_then_started(private_pg, db_url, city, mqtt_url, start_process, clean_retained):
    fleet, proc, sim = begin(db_url, city, mqtt_url, start_process, clean_retained)
    private_pg.stop("fast")
    time.sleep(3)  # the worker retries against a refused port
    assert proc.proc.poll() is None, proc.log.read_text()[-3000:]
    private_pg.start()
    finish("stop -m fast, 3 s down, start", db_url, fleet, proc, sim, time.monotonic(), stored(db_url))


@pytest.mark.timeout(150)
def test_smart_shutdown_then_fast(private_pg, db_url, city, mqtt_url, start_process, clean_retained):
    """Smart shutdown refuses new sessions and waits for the old ones; the service manager then
    escalates to fast. The worker keeps writing on its sessions, then retries."""
    fleet, proc, sim = begin(db_url, city, mqtt_url, start_process, clean_retained)
    private_pg.stop("smart", wait=False)
    time.sleep(1.5)
    private_pg.stop("fast")
    private_pg.start()
    finish("stop -m smart, then -m fast, start", db_url, fleet, proc, sim, time.monotonic(), stored(db_url))


@pytest.mark.timeout(150)
def test_too_many_connections(private_pg, db_url, city, mqtt_url, start_process, clean_retained):
    """Every slot taken by others while the worker's sessions are ended: it reconnects into
    `too many connections` (53300) until slots free up."""
    fleet, proc, sim = begin(db_url, city, mqtt_url, start_process, clean_retained)
    hogs: list = []

    async def hog() -> None:
        while True:
            try:
                hogs.append(await asyncpg.connect(private_pg.admin_url))
            except asyncpg.TooManyConnectionsError:
                return

    async def scenario() -> float:
        await hog()
        admin = hogs.pop()  # one slot for the admin's own work, then full again
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", db_url.rsplit("/", 1)[1]
        )
        await hog()
        await asyncio.sleep(2.5)
        for conn in hogs:
            await conn.close()
        await admin.close()
        return time.monotonic()

    back_at = run(scenario())
    before_back = stored(db_url)
    finish("too many connections, 2.5 s", db_url, fleet, proc, sim, back_at, before_back)
    assert "TooManyConnectionsError" in proc.log.read_text()


@pytest.mark.timeout(150)
def test_statement_timeout(private_pg, db_url, city, mqtt_url, start_process, clean_retained):
    """A statement timeout (57014) while a table lock holds the writes: cancelled, retried."""
    database = db_url.rsplit("/", 1)[1]
    sql(private_pg.admin_url, f"ALTER DATABASE \"{database}\" SET statement_timeout = '300ms'")
    fleet, proc, sim = begin(db_url, city, mqtt_url, start_process, clean_retained)

    async def lock() -> float:
        conn = await asyncpg.connect(db_url, server_settings={"statement_timeout": "0"})
        async with conn.transaction():
            await conn.execute("LOCK TABLE fixes IN ACCESS EXCLUSIVE MODE")
            await asyncio.sleep(2.5)
        await conn.close()
        return time.monotonic()

    back_at = run(lock())
    before_back = stored(db_url)
    finish("statement timeout under a 2.5 s table lock", db_url, fleet, proc, sim, back_at, before_back)
    assert "QueryCanceledError" in proc.log.read_text()


@pytest.mark.timeout(150)
def test_worker_starts_while_the_database_is_down(private_pg, db_url, city, mqtt_url, start_process, clean_retained):
    """A service manager starts the worker before PostgreSQL is back: it waits, never exits."""
    fleet = build_fleet(db_url, city, vehicles=3, hours=0.3)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    first = start_process("--worker-id", "k", cli=False)  # the session exists from an earlier run
    first.wait_subscribed()
    assert first.terminate() == 0
    private_pg.stop("fast")
    proc = start_process("--worker-id", "k", cli=False)
    sim = Publishing(fleet, mqtt_url, 120)  # queued at the broker for the worker's session
    wait_until(
        lambda: "database unreachable at start" in proc.log.read_text() or proc.proc.poll() is not None,
        30,
        "the worker to report the database unreachable",
    )
    time.sleep(3)
    assert proc.proc.poll() is None, proc.log.read_text()[-3000:]
    private_pg.start()
    back_at = time.monotonic()
    proc.wait_subscribed(count=2)
    finish("worker started while PostgreSQL is down", db_url, fleet, proc, sim, back_at, 0)
