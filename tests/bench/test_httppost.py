"""The traccar-http bench's load generator: one request in flight per connection, the
position's serverTime stamped at send time, every answer counted with its status."""

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
