"""The trackers' lean HTTP door (api/trackers/lean.py, decision 0026): ``POST
/api/v1/ingest/traccar|owntracks`` answered ahead of the app's router and middleware, with
every refusal and guarantee of the routed door. Real PostgreSQL, the real app; the last test
through a real uvicorn server on a loopback port with keep-alive, as Traccar connects.

Also through this door (create_app puts it in front): test_traccar.py / test_owntracks.py
(tokens, revocation, idempotence, privacy zone, chunked 413, 503), test_http_group_commit.py
(answered only after the commit that carried it; 503 to a failed batch),
test_dialect_dead_letters.py (refusals leave no position)."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
import warnings

import asyncpg
import httpx
import orjson
import pytest
from ingest_kit import HOUR_MS, door_post, free_port, read_answers, register, serve, sql
from support import run
from trackers_formats import owntracks_location, traccar_position, traccar_position_data

from fleetpilot.ingest.dialects import tokens
from fleetpilot.settings import Settings

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from fleetpilot.api.app import create_app  # noqa: E402

UNIQUE_ID = "864275071234567"
LAT, LON = 32.7767, -96.7970
TRACCAR = "/api/v1/ingest/traccar"
OWNTRACKS = "/api/v1/ingest/owntracks"


def _fleet(db_url: str, city: str) -> int:
    """truck-1 (Traccar UNIQUE_ID) and truck-2 (phone bob/phone) on duty from 2 h ago to 1 h
    ahead, truck-3 (phone ana/phone) too; returns the shift start."""
    now = int(time.time() * 1000)
    start = (now - 2 * HOUR_MS) // 1000 * 1000
    for vid in ("truck-1", "truck-2", "truck-3"):
        register(db_url, city, vid, [(start, now + HOUR_MS)])
    for device, vid, dialect, external in (
        ("trc-1", "truck-1", "traccar", UNIQUE_ID),
        ("ot-bob", "truck-2", "owntracks", "bob/phone"),
        ("ot-ana", "truck-3", "owntracks", "ana/phone"),
    ):
        sql(
            db_url,
            "INSERT INTO devices (device_id, vehicle_id, dialect, external_id) VALUES ($1, $2, $3, $4)",
            device,
            vid,
            dialect,
            external,
        )
    return start


def _issue(db_url: str, dialect: str, device_id: str | None = None) -> tuple[str, str]:
    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            return await tokens.issue(conn, dialect, "test", device_id)
        finally:
            await conn.close()

    return run(go())


def _app(db_url: str, city: str):
    settings = Settings(database_url=db_url, city=city, jwt_secret="t" * 32, _env_file=None)
    return create_app(settings, pool_size=2, warm_up=False)


def _basic(user: str, token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def _count(db_url: str, table: str) -> int:
    return sql(db_url, f"SELECT count(*) AS n FROM {table}")[0]["n"]


@pytest.mark.integration
def test_the_doors_answer_ahead_of_the_router_and_middleware(db_url, city):
    """Fails on the routed door: with FastAPI, the app's router and middleware stack broken
    behind them, the two doors still store and answer (and every other path does not)."""
    start = _fleet(db_url, city)
    _, token = _issue(db_url, "traccar")
    app = _app(db_url, city)

    async def broken(scope, receive, send):
        raise RuntimeError("the router was reached")

    with TestClient(app, raise_server_exceptions=False) as client:
        # Break everything behind the doors: FastAPI's own layers, routing and the
        # hardening/gzip/connection middleware.
        assert client.get("/health").status_code == 200
        real, app.doors.app = app.doors.app, broken
        body = traccar_position_data(UNIQUE_ID, traccar_position(start + 60_000, LAT, LON))
        answer = client.post(TRACCAR, json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json() == {"outcome": "stored"}
        # The answer still carries the hardening headers, though it never passed that middleware.
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert client.get("/health").status_code == 500  # everything else goes to the (broken) app
        assert client.get(TRACCAR).status_code == 500  # only POST is the door's
        app.doors.app = real  # for the lifespan's shutdown
    assert _count(db_url, "fixes") == 1


@pytest.mark.integration
def test_refusals_store_nothing_and_say_why(db_url, city):
    start = _fleet(db_url, city)
    _, token = _issue(db_url, "traccar")
    _, phone = _issue(db_url, "owntracks", "ot-bob")
    auth = {"Authorization": f"Bearer {token}"}
    body = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start + 60_000, LAT, LON)))
    with TestClient(_app(db_url, city)) as client:
        for headers in ({}, {"Authorization": "Bearer fpt_x_y"}, {"Authorization": "Basic !!"}, _basic("bob", phone)):
            answer = client.post(TRACCAR, content=body, headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
        # A declared body over 1 MiB: refused before anything is read or the token is looked up.
        big = client.post(TRACCAR, content=b"x" * (1024 * 1024 + 1), headers=auth)
        assert big.status_code == 413
        assert _count(db_url, "fixes") == 0 and _count(db_url, "rejects") == 0
        # Handled, dead-lettered with a reason, answered 200 (retrying cannot help): bad JSON,
        # NaN (the routed door answered 422 from the hardening middleware: Traccar retried it
        # and dropped it unrecorded), far-future time, over 256 KiB.
        bad = client.post(TRACCAR, content=b'{"position": {', headers=auth)
        assert bad.status_code == 200 and bad.json() == {"outcome": "bad_json"}
        nan = body.replace(str(LAT).encode(), b"NaN", 1)
        assert b"NaN" in nan
        assert client.post(TRACCAR, content=nan, headers={**auth, "Content-Type": "application/json"}).json() == {
            "outcome": "bad_json"
        }
        now_ms = int(time.time() * 1000)
        future = traccar_position_data(UNIQUE_ID, traccar_position(now_ms + 3_600_000, LAT, LON))
        future["position"]["serverTime"] = traccar_position(now_ms, LAT, LON)["serverTime"]  # sent now
        assert client.post(TRACCAR, json=future, headers=auth).json() == {"outcome": "future_time"}
        huge = traccar_position_data(UNIQUE_ID, traccar_position(start + 61_000, LAT, LON))
        huge["position"]["attributes"]["raw"] = "x" * 300_000
        assert client.post(TRACCAR, json=huge, headers=auth).json() == {"outcome": "too_large"}
        metrics = client.get("/api/v1/ingest/metrics").text
    reasons = sorted(r["reason"] for r in sql(db_url, "SELECT reason FROM rejects"))
    assert reasons == ["bad_json", "bad_json", "future_time", "too_large"]
    assert _count(db_url, "fixes") == 0
    # Dead letters keep no position: the refused coordinates are nowhere in them.
    text = " ".join(str(dict(r)) for r in sql(db_url, "SELECT * FROM rejects"))
    assert str(LON) not in text and str(LON)[1:] not in text
    assert 'fleetpilot_ingest_dialect_messages_total{dialect="traccar",outcome="rejected"} 4.0' in metrics


@pytest.mark.integration
def test_owntracks_http_mode_identity_comes_from_each_phones_token(db_url, city):
    start = _fleet(db_url, city)
    bob_id, bob = _issue(db_url, "owntracks", "ot-bob")
    _, ana = _issue(db_url, "owntracks", "ot-ana")
    t0 = (start + 10 * 60_000) // 1000
    with TestClient(_app(db_url, city)) as client:
        answer = client.post(OWNTRACKS, json=owntracks_location(t0, LAT, LON), headers=_basic("bob", bob))
        assert answer.status_code == 200 and answer.content == b"[]"
        assert answer.headers["content-type"] == "application/json"
        # Ana's phone claims to be bob in Basic's user name: the token decides, not the name.
        assert client.post(OWNTRACKS, json=owntracks_location(t0, LAT, LON), headers=_basic("bob", ana)).json() == []
        # Off duty: dropped and counted, never stored.
        off = owntracks_location((start - 60_000) // 1000, LAT, LON)
        assert client.post(OWNTRACKS, json=off, headers=_basic("bob", bob)).status_code == 200
        sql(db_url, "UPDATE ingest_tokens SET revoked_at = now() WHERE token_id = $1", bob_id)
        later = owntracks_location(t0 + 60, LAT, LON)
        assert client.post(OWNTRACKS, json=later, headers=_basic("bob", bob)).status_code == 401
    rows = sql(db_url, "SELECT vehicle_id FROM fixes ORDER BY vehicle_id")
    assert [r["vehicle_id"] for r in rows] == ["truck-2", "truck-3"]
    assert sql(db_url, "SELECT sum(fixes) AS n FROM privacy_drops WHERE reason = 'off_duty'")[0]["n"] == 1


@pytest.mark.integration
def test_a_real_server_keeps_the_connection_alive_across_answers(db_url, city):
    """uvicorn (httptools, as `fleetpilot api`), one keep-alive connection as Traccar holds it:
    every answer is framed right (the next request on the same connection is read), and each
    position is stored once; a refusal does not close the connection either."""
    import uvicorn

    start = _fleet(db_url, city)
    _, token = _issue(db_url, "traccar")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(db_url, city), host="127.0.0.1", port=port, log_level="warning", http="httptools")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started

        async def post_all() -> list[tuple[int, bytes]]:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            out = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
                for i in range(20):
                    body = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start + i * 1000, LAT, LON)))
                    token_used = token if i != 7 else "fpt_nobody_" + "x" * 30
                    answer = await client.post(TRACCAR, content=body, headers={"Authorization": f"Bearer {token_used}"})
                    out.append((answer.status_code, answer.content))
                connections = len(client._transport._pool.connections)  # one, reused throughout
            return out, connections

        answers, connections = asyncio.run(post_all())
    finally:
        server.should_exit = True
        thread.join(10)
    assert connections == 1
    assert [s for s, _ in answers] == [200] * 7 + [401] + [200] * 12
    assert answers[0][1] == b'{"outcome":"stored"}'
    assert _count(db_url, "fixes") == 19


@pytest.mark.integration
def test_a_token_revoked_while_its_request_waits_stores_nothing_and_spares_the_others(db_url, city):
    """Token rows are kept once read (ingest/http.py); revocation is read by each group commit
    before its transaction: a request whose token was revoked after the row was read (it
    waits in the open batch meanwhile) is answered 401 with nothing stored, and another
    phone's request from the same batch is stored in the next transaction."""
    from fleetpilot.ingest.http import HttpIngest

    start = _fleet(db_url, city)
    bob_id, bob = _issue(db_url, "owntracks", "ot-bob")
    _, ana = _issue(db_url, "owntracks", "ot-ana")
    t0 = (start + 10 * 60_000) // 1000
    app = _app(db_url, city)
    ingest = app.state.trackers = HttpIngest(db_url, city)
    real_write = ingest.writer.write
    hold, held = asyncio.Event(), asyncio.Event()
    hold.set()

    async def write(conn, batch):
        if not hold.is_set():
            held.set()
            await hold.wait()
        return await real_write(conn, batch)

    ingest.writer.write = write

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://door") as client:
                return await posts(client)
        finally:
            await ingest.close()

    async def posts(client):
        async def post(user, token, t):
            answer = await client.post(OWNTRACKS, json=owntracks_location(t, LAT, LON), headers=_basic(user, token))
            return answer.status_code

        assert [await post("bob", bob, t0), await post("ana", ana, t0)] == [200, 200]  # rows now held
        hold.clear()
        filler = asyncio.create_task(post("ana", ana, t0 + 1))  # its write is held
        await asyncio.wait_for(held.wait(), 30)
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute("UPDATE ingest_tokens SET revoked_at = now() WHERE token_id = $1", bob_id)
        finally:
            await conn.close()
        waiting = [asyncio.create_task(post("bob", bob, t0 + 2)), asyncio.create_task(post("ana", ana, t0 + 3))]
        for _ in range(3000):
            if len(ingest.commits._parts) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(ingest.commits._parts) == 2  # both in the one open batch
        hold.set()
        statuses = await asyncio.gather(filler, *waiting)
        after = await post("bob", bob, t0 + 4)  # known revoked now: refused before the pipeline
        return statuses, after

    statuses, after = run(scenario())
    assert statuses == [200, 401, 200] and after == 401
    rows = sql(db_url, "SELECT vehicle_id, count(*) AS n FROM fixes GROUP BY vehicle_id ORDER BY vehicle_id")
    assert [(r["vehicle_id"], r["n"]) for r in rows] == [("truck-2", 1), ("truck-3", 3)]
    assert _count(db_url, "rejects") == 0


@pytest.mark.integration
def test_several_group_commits_overlap_and_each_answer_follows_its_own(db_url, city):
    """With writers=2, a second request is written while the first batch's commit is held;
    requests arriving while both writers are busy share the next transaction; none is
    answered before the commit that carried it (the API's HttpIngest uses http.WRITERS)."""
    from fleetpilot.ingest.http import HttpIngest

    start = _fleet(db_url, city)
    _, token = _issue(db_url, "traccar")
    app = _app(db_url, city)
    ingest = app.state.trackers = HttpIngest(db_url, city, writers=2)
    real_write = ingest.writer.write
    release = asyncio.Event()
    batches: list[int] = []
    committed: list[float] = []

    async def write(conn, batch):
        index = len(batches)
        batches.append(len(batch.messages))
        committed.append(float("inf"))
        if index < 2:
            await release.wait()
        result = await real_write(conn, batch)
        committed[index] = time.monotonic()
        return result

    ingest.writer.write = write
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        answered: list[tuple[int, float]] = []
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://door") as client:

                async def post(i):
                    body = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start + i * 1000, LAT, LON)))
                    answer = await client.post(TRACCAR, content=body, headers=headers)
                    answered.append((answer.status_code, time.monotonic()))

                first = [asyncio.create_task(post(0))]
                for _ in range(3000):
                    if len(batches) == 1:
                        break
                    await asyncio.sleep(0.01)
                first.append(asyncio.create_task(post(1)))
                for _ in range(3000):
                    if len(batches) == 2:
                        break
                    await asyncio.sleep(0.01)
                rest = [asyncio.create_task(post(i)) for i in range(2, 12)]
                for _ in range(3000):
                    if len(ingest.commits._parts) == 10:
                        break
                    await asyncio.sleep(0.01)
                assert len(batches) == 2 and not answered  # two transactions held, nobody answered
                release.set()
                await asyncio.gather(*first, *rest)
        finally:
            await ingest.close()
        return answered

    answered = run(scenario())
    assert batches == [1, 1, 10]
    assert all(status == 200 for status, _ in answered)
    assert min(at for _, at in answered) >= min(committed[:2])
    assert _count(db_url, "fixes") == 12


@pytest.mark.integration
def test_the_protocol_level_doors_answer_as_the_asgi_ones(db_url, city):
    """`fleetpilot api`'s protocol (api/trackers/wire.py, decision 0036) on a real uvicorn: the
    doors' ordinary requests are answered in the protocol, in one write, with the ASGI door's
    statuses, bodies and hardening headers; pipelined requests (one door request, one with a
    query string, which takes the ASGI path, a 401, a dead letter, an OwnTracks phone, the
    health page) are answered in order on one keep-alive connection; each position once."""
    from fleetpilot.api.trackers.wire import PROTOCOL

    start = _fleet(db_url, city)
    _, token = _issue(db_url, "traccar")
    _, bob = _issue(db_url, "owntracks", "ot-bob")
    port = free_port()
    app = _app(db_url, city)
    through_asgi = []
    asgi_door = app.doors._serve

    async def counted(scope, receive, send, dialect):
        through_asgi.append(scope["query_string"])
        await asgi_door(scope, receive, send, dialect)

    app.doors._serve = counted
    server, thread = serve(app, port, http=PROTOCOL)

    def post(path: str, body: bytes, authorization: str) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def position(i: int) -> bytes:
        return orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start + i * 1000, LAT, LON)))

    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(post(TRACCAR, position(0), f"Bearer {token}"))  # alone: the protocol's path
            (first,) = read_answers(sock, 1)
            sock.sendall(
                post(TRACCAR, position(1), f"Bearer {token}")
                + post(TRACCAR + "?id=1", position(2), f"Bearer {token}")  # the ASGI door
                + post(TRACCAR, position(3), "Bearer fpt_nobody_" + "x" * 30)
                + post(TRACCAR, b'{"position": {"latitude": NaN}}', f"Bearer {token}")
                + post(
                    OWNTRACKS,
                    orjson.dumps(owntracks_location(start // 1000 + 60, LAT, LON)),
                    _basic("bob", bob)["Authorization"],
                )
                + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                + post(TRACCAR, position(1), f"Bearer {token}")  # a retry: stored once
            )
            answers = read_answers(sock, 7)
    finally:
        server.should_exit = True
        thread.join(10)
    assert first[0] == 200 and first[2] == b'{"outcome":"stored"}'
    for header in ("x-content-type-options", "content-security-policy", "x-frame-options", "date", "server"):
        assert header in first[1], header
    assert first[1]["content-type"] == "application/json"
    assert [status for status, _, _ in answers] == [200, 200, 401, 200, 200, 200, 200]
    assert answers[0][2] == b'{"outcome":"stored"}' and answers[1][2] == b'{"outcome":"stored"}'
    assert orjson.loads(answers[2][2]) == {"detail": "a valid token is needed"}
    assert answers[2][1]["www-authenticate"] == "Bearer"
    assert answers[3][2] == b'{"outcome":"bad_json"}'
    assert answers[4][2] == b"[]"
    assert answers[6][2] == b'{"outcome":"duplicate"}'
    assert through_asgi == [b"id=1"]  # the others were answered in the protocol
    assert _count(db_url, "fixes") == 4
    assert _count(db_url, "rejects") == 1


def test_credentials_kept_per_header_value_are_those_decoded_and_stay_bounded():
    """lean.credential_of (decision 0036) answers as credential does, for good, bad and
    odd values, from its keep as from a first decoding, and keeps at most CREDENTIALS_KEPT."""
    from fleetpilot.api.trackers import lean

    values = [
        "Bearer fpt_abc",
        "bearer  fpt_abc ",
        _basic("bob", "fpt_secret")["Authorization"],
        "Basic !!notbase64",
        "Basic " + base64.b64encode(b"nopassword").decode(),
        "Digest x",
        "Bearer ",
    ]
    for _ in range(2):  # first decoded, then kept
        assert [lean.credential_of(v) for v in values] == [lean.credential(v) for v in values]
    assert lean.credential_of(values[2]) == "fpt_secret"
    for i in range(lean.CREDENTIALS_KEPT + 10):
        lean.credential_of(f"Bearer fpt_{i}")
    assert len(lean._credentials) <= lean.CREDENTIALS_KEPT


@pytest.mark.integration
def test_a_pipelined_request_whose_body_comes_after_the_answer_ahead_is_served(db_url, city):
    """A client pipelines a second door request whose headers arrive while the first is being
    answered and whose body arrives after that answer (a slow or segmenting client): the
    protocol decided "queued" at the headers and queued it at the body's end, after the only
    moment that starts a queued request; so it hung with reading paused, unanswered and unstored.
    Also behind a request on the ASGI path (a query string)."""
    from fleetpilot.api.trackers.wire import PROTOCOL

    start = _fleet(db_url, city)
    _, token = _issue(db_url, "traccar")
    port = free_port()
    server, thread = serve(_app(db_url, city), port, http=PROTOCOL)

    def position(i: int) -> bytes:
        return orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start + i * 1000, LAT, LON)))

    auth = f"Bearer {token}"
    answers = []
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for ahead, i in ((TRACCAR, 0), (TRACCAR + "?id=1", 2)):
                second = door_post(TRACCAR, position(i + 1), auth)
                split = second.index(b"\r\n\r\n") + 4
                sock.sendall(door_post(ahead, position(i), auth) + second[:split])
                answers += read_answers(sock, 1)  # the first answered; the second's body not sent yet
                sock.sendall(second[split:])
                answers += read_answers(sock, 1, timeout=10)
    finally:
        server.should_exit = True
        thread.join(10)
    assert [(status, body) for status, _, body in answers] == [(200, b'{"outcome":"stored"}')] * 4
    assert _count(db_url, "fixes") == 4


def test_credentials_kept_are_bounded_in_size_not_only_in_number():
    """An Authorization header can be megabytes (httptools takes a 4 MiB one), and the protocol
    path reads it before any token check: kept per value, CREDENTIALS_KEPT of them held
    gigabytes for an anonymous client. Values longer than any token's header are decoded
    every time, never kept."""
    from fleetpilot.api.trackers import lean

    lean._credentials.clear()
    for i in range(20):
        huge = f"Bearer fpt_{i:08d}_" + "x" * (1024 * 1024)
        assert lean.credential_of(huge) == lean.credential(huge)
    basic = _basic("a-rather-long-phone-user-name/with-its-device", "fpt_" + "a" * 32 + "_" + "b" * 100)
    assert lean.credential_of(basic["Authorization"]) == "fpt_" + "a" * 32 + "_" + "b" * 100
    assert basic["Authorization"] in lean._credentials  # the longest real value is still kept
    assert sum(len(value) for value in lean._credentials) < 1024
