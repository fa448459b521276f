"""The HTTP door's group commit (issue 17, item 7): concurrent Traccar POSTs share one
transaction, yet each is answered only after the commit that stored its own position; a
batch that fails answers 503 to every request in it, and their retries store each position
once. Real PostgreSQL, the real API app (in-process ASGI, concurrent requests); the writer
is wrapped only to hold a batch open and to see which requests each transaction carried."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import orjson
import pytest
from ingest_kit import HOUR_MS, register, sql
from support import run
from trackers_formats import traccar_position, traccar_position_data

from fleetpilot.api.app import create_app
from fleetpilot.ingest.dialects import tokens
from fleetpilot.ingest.dialects.common import epoch_ms
from fleetpilot.ingest.http import HttpIngest
from fleetpilot.settings import Settings

UNIQUE_ID = "864275071234567"
LAT, LON = 32.7767, -96.7970
URL = "/api/v1/ingest/traccar"
N = 12  # requests held in one batch


def _vehicle(db_url: str, city: str) -> int:
    now = int(time.time() * 1000)
    start = (now - 2 * HOUR_MS) // 1000 * 1000
    register(db_url, city, "truck-1", [(start, now + HOUR_MS)])
    sql(
        db_url,
        "INSERT INTO devices (device_id, vehicle_id, dialect, external_id) VALUES ('trc-1', 'truck-1', 'traccar', $1)",
        UNIQUE_ID,
    )
    return start


async def _token(db_url: str) -> str:
    conn = await asyncpg.connect(db_url)
    try:
        return (await tokens.issue(conn, "traccar", "test server"))[1]
    finally:
        await conn.close()


class Recorder:
    """Wraps the door's writer: holds the first batch until told, can break one batch's
    connection (pg_terminate_backend, a real lost connection), and notes what committed when."""

    def __init__(self, ingest: HttpIngest, db_url: str):
        self.real = ingest.writer.write
        self.db_url = db_url
        self.release_first = asyncio.Event()
        self.break_batch: int | None = None  # the index of the batch whose connection is cut
        self.batches: list[list[bytes]] = []  # payloads per transaction, in order
        self.committed: list[float] = []  # monotonic commit time per batch (inf: failed)
        ingest.writer.write = self.write

    async def write(self, conn, batch):
        index = len(self.batches)
        self.batches.append([m.payload for m in batch.messages])
        self.committed.append(float("inf"))
        if index == 0:
            await self.release_first.wait()
        if index == self.break_batch:
            side = await asyncpg.connect(self.db_url)
            try:
                await side.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            finally:
                await side.close()
        result = await self.real(conn, batch)
        self.committed[index] = time.monotonic()
        return result


async def _until(condition, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def _body(t_ms: int) -> bytes:
    return orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t_ms, LAT, LON)))


async def _scenario(db_url: str, city: str, token: str, t0: int, break_second: bool):
    settings = Settings(database_url=db_url, city=city, jwt_secret="t" * 32, _env_file=None)
    app = create_app(settings, pool_size=2, warm_up=False)
    ingest = app.state.trackers = HttpIngest(db_url, city)
    rec = Recorder(ingest, db_url)
    rec.break_batch = 1 if break_second else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Other connections, one per request in flight, to look for each row as its answer arrives.
    watcher = await asyncpg.create_pool(db_url, min_size=N + 1, max_size=N + 1)
    answers: list[tuple[bytes, int, float, bool]] = []  # body, status, answered at, row visible then

    async def post(client, body: bytes):
        answer = await client.post(URL, content=body, headers=headers)
        at = time.monotonic()
        t_ms = epoch_ms(orjson.loads(body)["position"]["fixTime"])
        seen = await watcher.fetchval(
            "SELECT count(*) FROM fixes WHERE ts = timestamptz 'epoch' + $1 * interval '1 millisecond'", t_ms
        )
        answers.append((body, answer.status_code, at, seen == 1))

    bodies = [_body(t0 + i * 1000) for i in range(N + 1)]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://door") as client:
            first = asyncio.create_task(post(client, bodies[0]))
            await _until(lambda: rec.batches)  # the first request alone is being written (and held)
            rest = [asyncio.create_task(post(client, b)) for b in bodies[1:]]
            await _until(lambda: len(ingest.commits._open.messages) == N)  # the others joined the next batch
            assert not first.done() and not any(task.done() for task in rest)  # nobody answered yet
            rec.release_first.set()
            await asyncio.gather(first, *rest)
            retries = []
            if break_second:
                answers_before = list(answers)
                answers.clear()
                retries = [asyncio.create_task(post(client, b)) for b in bodies[1:]]
                await asyncio.gather(*retries)
                return rec, answers_before, list(answers)
            return rec, list(answers), []
    finally:
        await watcher.close()
        await ingest.close()


@pytest.mark.integration
def test_concurrent_posts_share_a_commit_and_each_answer_follows_its_own(db_url, city):
    start = _vehicle(db_url, city)
    token = run(_token(db_url))
    rec, answers, _ = run(_scenario(db_url, city, token, start + 10 * 60_000, break_second=False))
    assert [len(b) for b in rec.batches] == [1, N]  # N requests, one transaction
    assert len(answers) == N + 1 and all(status == 200 for _, status, _, _ in answers)
    for body, _, at, seen in answers:
        batch = next(i for i, payloads in enumerate(rec.batches) if body in payloads)
        assert at >= rec.committed[batch]  # answered after the commit that carried it …
        assert seen  # … and its row was visible to another connection when answered
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == N + 1


@pytest.mark.integration
def test_a_failed_group_commit_answers_503_to_each_request_and_retries_store_once(db_url, city):
    start = _vehicle(db_url, city)
    token = run(_token(db_url))
    rec, answers, retried = run(_scenario(db_url, city, token, start + 10 * 60_000, break_second=True))
    assert [len(b) for b in rec.batches][:2] == [1, N]
    failed = set(rec.batches[1])
    statuses = {body: status for body, status, _, _ in answers}
    assert all(statuses[body] == 503 for body in failed)  # every request of the failed batch
    assert all(not seen for body, _, _, seen in answers if body in failed)  # and nothing of it stored
    assert len(retried) == N and all(status == 200 and seen for _, status, _, seen in retried)
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == N + 1  # each position once
    assert sql(db_url, "SELECT count(DISTINCT ts) AS n FROM fixes")[0]["n"] == N + 1


def test_merge_keeps_every_field_of_both_batches():
    """The shared batch is the union of the requests' own batches: a field merge left out
    would lose rows, dead letters, drops or device facts (and a new Batch field must be added
    to Batch.merge: this test lists them)."""
    import dataclasses

    from fleetpilot.ingest.batch import Batch
    from fleetpilot.ingest.buffer import Inbound

    def own(vid: str, t: int, seq: int) -> Batch:
        item = Inbound(f"http:/{vid}", b"{}", 0, 0, 0, t)
        b = Batch()
        b.take(item)
        b.add_fixes(vid, seq, t, [[t, 1.0, 2.0, 3.0, 4.0, 1.0, False]])
        b.add_events(vid, seq, t, [[t, "harsh_brake", 1.0, 2.0, None, 3.0, False]])
        b.add_reject(item, "schema", "x", vid)
        b.hold(vid, item, 60_000)
        b.drops[(vid, t // 86_400_000, "off_duty")] = [2, 1]
        b.saw_device(vid, seq, t, online=True, firmware=f"fw-{seq}")
        b.keys[(vid, "telemetry", (t,))] = b"{}"
        return b

    assert {f.name for f in dataclasses.fields(Batch)} == {
        "fixes", "events", "rejects", "held", "drops", "devices", "days", "lags", "messages", "keys", "started",
        "tokens",
    }  # fmt: skip
    shared = Batch()
    a, b, c = own("truck-1", 1_000, 0), own("truck-2", 2_000, 0), own("truck-1", 3_000, 0)
    c.drops = {("truck-1", 0, "off_duty"): [1, 0]}
    a.tokens, c.tokens = ("tok-b", "tok-a"), ("tok-a", "tok-c")
    for part in (a, b, c):
        shared.merge(part)
    assert [f[0] for f in shared.fixes] == [1_000, 2_000, 3_000]
    assert len(shared.events) == len(shared.rejects) == len(shared.held) == len(shared.messages) == 3
    assert shared.drops == {("truck-1", 0, "off_duty"): [3, 1], ("truck-2", 0, "off_duty"): [2, 1]}
    assert shared.devices["truck-1"].last_seen_ms == 3_000 and shared.devices["truck-2"].firmware == "fw-0"
    assert shared.days == {("truck-1", 0), ("truck-2", 0)}
    assert len(shared.lags) == 6 and len(shared.keys) == 3
    assert shared.started == min(a.started, b.started, c.started)
    assert shared.tokens == ("tok-a", "tok-b", "tok-c")


def test_a_second_commit_overlaps_the_first_only_for_a_batch_of_overlap_at_requests():
    """While one commit runs, the requests that arrive wait for it unless `overlap_at` of them
    are waiting: then a second transaction starts at once (at most `writers`). Small batches
    would each pay PostgreSQL the batch's side-table rows (decision 0032); each request is
    still answered only by the commit of the batch that carried it."""
    from fleetpilot.ingest.batch import Batch
    from fleetpilot.ingest.buffer import Inbound
    from fleetpilot.ingest.http import GroupCommit

    async def scenario():
        release = asyncio.Event()
        written: list[int] = []
        writing = [0, 0]  # now, most at once

        async def write(batch, token_ids):
            written.append(len(batch.messages))
            writing[0] += 1
            writing[1] = max(writing)
            await release.wait()
            writing[0] -= 1
            return len(batch.messages)

        commits = GroupCommit(write, lambda batch: None, writers=2, overlap_at=3)

        def join(i: int) -> asyncio.Future:
            own = Batch()
            own.take(Inbound(f"http:/{i}", b"{}", 0, 0, 0, i))
            return commits.join(own)

        first = join(0)
        await asyncio.sleep(0)  # the first writer holds request 0
        waiting = [join(1), join(2)]
        await asyncio.sleep(0.01)
        assert written == [1] and writing[1] == 1  # two waiting: no second transaction
        waiting.append(join(3))  # the third: a batch worth its own transaction
        await asyncio.sleep(0.01)
        assert written == [1, 3] and writing[1] == 2
        later = join(4)  # both writers busy: waits for either
        await asyncio.sleep(0.01)
        assert written == [1, 3] and not any(f.done() for f in (first, *waiting, later))
        release.set()
        assert await first == 1 and [await f for f in waiting] == [3, 3, 3] and await later == 1
        assert written == [1, 3, 1]
        await commits.close()

    asyncio.run(scenario())


def test_devices_last_seen_is_moved_at_most_once_a_second_per_vehicle(db_url, city):
    """A group commit writes a vehicle's ``devices`` row when it moves last_seen by a second
    or more past what this process committed, or carries online/firmware or a newer
    sequence number; not for every commit (decision 0032). Real PostgreSQL, the real writer."""
    from fleetpilot.ingest.batch import Batch
    from fleetpilot.ingest.buffer import Inbound
    from fleetpilot.ingest.http import LAST_SEEN_STEP_MS

    start = _vehicle(db_url, city)
    ingest = HttpIngest(db_url, city)

    def batch(received_ms: int, online: bool | None = None) -> Batch:
        own = Batch()
        own.take(Inbound("http:/x", b"{}", 0, 0, 0, received_ms))
        own.add_fixes("truck-1", None, received_ms, [[received_ms, LON, LAT, 1.0, 2.0, 1.0, False]])
        own.saw_device("truck-1", 0, received_ms, online=online)
        return own

    async def scenario():
        conn = await asyncpg.connect(db_url)

        async def last_seen() -> int:
            query = "SELECT (extract(epoch FROM last_seen) * 1000)::bigint FROM devices WHERE device_id = 'trc-1'"
            return await conn.fetchval(query)

        try:
            await ingest._write(batch(start), set())
            assert await last_seen() == start  # the first commit for the vehicle
            await ingest._write(batch(start + LAST_SEEN_STEP_MS - 1), set())
            assert await last_seen() == start  # less than a step later: the row is left alone
            await ingest._write(batch(start + LAST_SEEN_STEP_MS - 1 + 10, online=True), set())
            assert await last_seen() == start + LAST_SEEN_STEP_MS + 9  # online/offline is always written
            await ingest._write(batch(start + 3 * LAST_SEEN_STEP_MS), set())
            assert await last_seen() == start + 3 * LAST_SEEN_STEP_MS  # a step or more: written
        finally:
            await conn.close()
            await ingest.close()

    run(scenario())
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 4  # every position stored
