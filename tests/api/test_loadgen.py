"""The benchmark's load generator against the real app: every request answered and counted."""

from __future__ import annotations

from urllib.parse import urlsplit

from support import run

from fleetpilot_bench.loadgen import request_bytes, run_load


def test_load_generator_counts_statuses_and_reads_every_body(served):
    url = urlsplit(served.url)
    ana = served.token("ana", "driver")
    own, other = served.world.track_shift, sorted(served.world.others_shifts)[0]
    requests = (
        [request_bytes("/health", None)] * 5
        + [request_bytes(f"/api/v1/me/shifts/{own}", ana)] * 7  # a body of several kB
        + [request_bytes(f"/api/v1/me/shifts/{other}", ana)] * 3  # not hers: 404
        + [request_bytes(f"/api/v1/me/shifts/{own}", None)] * 2
    )  # not signed in: 401
    outcome = run(run_load(url.hostname, url.port, requests, clients=3))
    summary = outcome.summary()
    assert summary["statuses"] == {"200": 12, "401": 2, "404": 3}
    assert summary["requests"] == 17 and summary["errors"] == 5
    assert summary["p50_ms"] > 0 and summary["loadgen_cpu_ms_per_request"] > 0


def test_every_request_returns_its_connection_to_the_pool(api):
    """Answers of every kind (data, refusal, not found, invalid, file download) release the
    connection the request took, so the pool never drains."""
    shift = api.world.track_shift
    for _ in range(3):
        assert api.get(f"/api/v1/me/shifts/{shift}", "driver").status_code == 200
        assert api.get(f"/api/v1/me/shifts/{shift}", None).status_code == 401
        assert api.get(f"/api/v1/me/shifts/{shift}", "supervisor").status_code == 403
        assert api.get("/api/v1/me/shifts/nope", "driver").status_code == 404
        assert api.get("/api/v1/routes/r-north/efficiency", "supervisor", params={"from": "x"}).status_code == 422
        assert api.get("/api/v1/me/export", "driver").status_code == 200
    pool = api.client.app.state.pool
    assert pool.get_size() > 0 and pool.get_idle_size() == pool.get_size()


def test_connection_turns_are_first_come_first_served_and_survive_cancellation():
    import asyncio

    from fleetpilot.api.db import FairTurns

    async def scenario():
        turns, order = FairTurns(1), []
        await turns.take()  # the one turn is held

        async def wait(name: str):
            await turns.take()
            order.append(name)

        waiters = {name: asyncio.create_task(wait(name)) for name in "abcd"}
        await asyncio.sleep(0)
        waiters["b"].cancel()  # gives up while waiting: its place is skipped
        await asyncio.sleep(0)
        for _ in range(3):
            turns.give_back()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        turns.give_back()
        return order, turns.free, waiters["b"].cancelled()

    order, free, cancelled = run(scenario())
    assert order == ["a", "c", "d"] and cancelled and free == 1


def test_load_generator_can_ask_for_gzip(served):
    url = urlsplit(served.url)
    shift = served.world.track_shift
    request = request_bytes(f"/api/v1/me/shifts/{shift}/track", served.token("ana", "driver"), gzip=True)
    assert b"Accept-Encoding: gzip\r\n" in request
    outcome = run(run_load(url.hostname, url.port, [request] * 4, clients=2))
    assert outcome.summary()["statuses"] == {"200": 4}
