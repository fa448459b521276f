"""The HTTP benches' load generator (traccar-http, owntracks-http): one request in flight per
connection, the send time stamped (Traccar's serverTime, OwnTracks' created_at), each phone's
own credentials, every answer counted with its status (a hang-up as lost)."""

from __future__ import annotations

import asyncio
import queue
import threading

import orjson

from fleetpilot_bench import httppost


def _serve(statuses: list[int], received: list[bytes]) -> tuple[int, threading.Event]:
    """A keep-alive HTTP/1.1 server on a loopback port answering statuses in turn."""
    ready, port = threading.Event(), [0]
    turn = iter(statuses)

    async def handle(reader, writer):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            received.append(await reader.readexactly(length))
            status = next(turn)
            writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\n{}" % status)
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port[0] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.sleep(30)

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    ready.wait(10)
    return port[0], ready


def test_every_position_is_posted_once_stamped_and_its_answer_counted():
    bodies = [
        orjson.dumps({"position": {"id": i, "serverTime": "2000-01-01T00:00:00.000+00:00"}, "device": {}})
        for i in range(7)
    ]
    received: list[bytes] = []
    port, _ = _serve([200, 200, 503, 200, 200, 200, 200], received)
    start, stop, out = threading.Event(), threading.Event(), queue.Queue()
    start.set()
    httppost.run("127.0.0.1", port, "/api/v1/ingest/traccar", "fpt_x", bodies, 2, start, stop, out)
    sent, rows = out.get(timeout=10)
    assert sent == 7 and len(rows) == 7
    assert int(rows[:, 2].sum()) == 6  # the 503 is not counted as delivered
    assert (rows[:, 1] >= 0).all()
    assert sorted(orjson.loads(b)["position"]["id"] for b in received) == list(range(7))
    assert all(not orjson.loads(b)["position"]["serverTime"].startswith("2000") for b in received)
    assert len({len(b) for b in received} | {len(bodies[0])}) == 1  # stamped in place, same length


def test_each_phone_posts_with_its_own_credentials_and_created_at_is_stamped():
    phones = {"a/phone": httppost.basic("a", "fpt_a"), "b/phone": httppost.basic("b", "fpt_b")}
    messages = [
        (
            "a/phone" if i % 2 == 0 else "b/phone",
            orjson.dumps({"_type": "location", "tst": 1000 + i, "created_at": 1000000000}),
        )
        for i in range(6)
    ]
    received: list[bytes] = []
    heads: list[bytes] = []
    port, _ = _serve_heads([200] * 6, received, heads)
    start, stop, out = threading.Event(), threading.Event(), queue.Queue()
    start.set()
    httppost.run("127.0.0.1", port, "/api/v1/ingest/owntracks", phones, messages, 3, start, stop, out)
    sent, rows = out.get(timeout=10)
    assert sent == 6 and int(rows[:, 2].sum()) == 6
    by_tst = {orjson.loads(b)["tst"]: h for b, h in zip(received, heads, strict=True)}
    for i in range(6):
        user = "a" if i % 2 == 0 else "b"
        assert f"authorization: {httppost.basic(user, 'fpt_' + user)}".lower().encode() in by_tst[1000 + i].lower()
    assert all(orjson.loads(b)["created_at"] > 1_700_000_000 for b in received)


def _serve_heads(statuses: list[int], received: list[bytes], heads: list[bytes]) -> tuple[int, threading.Event]:
    """As _serve, keeping each request's head too."""
    ready, port = threading.Event(), [0]
    turn = iter(statuses)

    async def handle(reader, writer):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            received.append(await reader.readexactly(length))
            heads.append(head)
            writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\n[]" % next(turn))
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port[0] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.sleep(30)

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    ready.wait(10)
    return port[0], ready


def test_a_request_the_server_hangs_up_on_is_counted_lost_and_the_client_goes_on():
    bodies = [orjson.dumps({"position": {"id": i}}) for i in range(5)]
    seen: list[int] = []
    ready, port = threading.Event(), [0]

    async def handle(reader, writer):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            i = orjson.loads(await reader.readexactly(length))["position"]["id"]
            seen.append(i)
            if i == 2:  # hang up without answering
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port[0] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.sleep(30)

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    ready.wait(10)
    start, stop, out = threading.Event(), threading.Event(), queue.Queue()
    start.set()
    httppost.run("127.0.0.1", port[0], "/x", "fpt_x", bodies, 1, start, stop, out)
    sent, rows = out.get(timeout=10)
    assert sent == 5 and len(rows) == 5 and int(rows[:, 2].sum()) == 4
    assert sorted(seen) == [0, 1, 2, 3, 4]
