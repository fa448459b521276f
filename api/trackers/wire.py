"""The ingest doors at uvicorn's HTTP protocol: an ordinary request to them skips ASGI (decision 0036).

`lean.IngestDoors` already answers ``POST /api/v1/ingest/traccar|owntracks`` ahead of the
app, but every request still paid uvicorn's ASGI machinery: a scope dict, a request cycle
with its event, the receive/send coroutines and two writes per answer (status line and
headers, then the body: two syscalls and two segments the client wakes up for), each header
checked against two regular expressions. With one position per request that was a fifth of
the API's CPU per position. `DoorsProtocol` is uvicorn's own httptools protocol (same
parser, keep-alive timer, pipelining queue, graceful shutdown); for a request that is
exactly "POST to a door, HTTP/1.1 keep-alive, Content-Length up to 64 KiB, no query, no
Expect, no upgrade" (pipelined ones queued as uvicorn queues its own), it keeps the body itself and
runs `lean.receive_message` (the one implementation of the checks) in a task, then writes
status line, headers and body in one write. Every other request, those to the doors
included, goes to uvicorn's ASGI path unchanged, where `IngestDoors` serves the doors.

Answers are those of `IngestDoors` (same statuses, bodies, hardening headers, plus uvicorn's
date/server headers); a client that hangs up after sending gets no answer but its position
is stored, as through ASGI. `fleetpilot api` selects it (``http=PROTOCOL``).
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from fleetpilot.api.trackers.lean import DOORS, Refused, receive_message, trackers

PROTOCOL = "fleetpilot.api.trackers.wire:DoorsProtocol"  # uvicorn's `http` setting
DOOR_URLS = {path.encode(): (path, dialect) for path, dialect in DOORS.items()}
JSON_TYPE = b"content-type: application/json\r\n"


class _Event:
    """What uvicorn's protocol sets on a request's `message_event` when the connection drops."""

    def set(self) -> None:
        pass


class DoorRequest:
    """One request at a door, standing where uvicorn keeps its request cycle (`protocol.cycle`):
    the attributes the protocol reads or sets there are the ones below."""

    message_event = _Event()

    def __init__(self, path: str, dialect: str, length: str, authorization: str | None) -> None:
        self.path, self.dialect = path, dialect
        self.length, self.authorization = length, authorization
        self.body = b""
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = True  # shutdown() clears it: the connection is closed after the answer
        # the request before it on the connection, until this one's body is in
        self.ahead: RequestResponseCycle | DoorRequest | None = None


class DoorsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the ingest doors' ordinary requests answered in it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        app = self.app
        while getattr(app, "doors", None) is None and hasattr(app, "app"):  # under uvicorn's wrappers
            app = app.app
        self.doors_app = app if getattr(app, "doors", None) is not None else None
        hardening = self.doors_app.doors.hardening if self.doors_app is not None else []
        self.hardening = b"".join(name + b": " + value + b"\r\n" for name, value in hardening)

    def on_message_begin(self) -> None:
        # uvicorn's scope is built in on_headers_complete, for the requests that take ASGI only
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        request = self._door_request()
        if request is None:
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            super().on_headers_complete()
            return
        # Pipelined behind a request: queued once its body is in if that one is still being
        # answered *then* (its answer may go out while this body arrives).
        request.ahead = self.cycle
        self.cycle = request  # type: ignore[assignment]

    def _door_request(self) -> DoorRequest | None:
        door = DOOR_URLS.get(self.url)
        if (
            door is None
            or self.doors_app is None
            or self.parser.get_method() != b"POST"
            or self.parser.get_http_version() != "1.1"
            or not self.parser.should_keep_alive()
            or self.parser.should_upgrade()
            or self.expect_100_continue
        ):
            return None
        length = authorization = None
        for name, value in self.headers:
            if name == b"content-length":
                length = value
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"transfer-encoding":
                return None
        if length is None or not length.isdigit() or int(length) > HIGH_WATER_LIMIT:
            return None
        return DoorRequest(door[0], door[1], length.decode(), authorization)

    def on_body(self, body: bytes) -> None:
        if type(self.cycle) is DoorRequest:
            self.cycle.body += body
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        request = self.cycle
        if type(request) is not DoorRequest:
            super().on_message_complete()
            return
        ahead, request.ahead = request.ahead, None
        if ahead is not None and not ahead.response_complete:
            # as uvicorn queues a pipelined request: started by on_response_complete
            self.flow.pause_reading()
            self.pipeline.appendleft((request, None))
            return
        self._start_asgi_task(request, None)

    def _start_asgi_task(self, cycle, app) -> None:
        if type(cycle) is not DoorRequest:
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(self._serve(cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _serve(self, request: DoorRequest) -> None:
        body = request.body

        async def read_body(limit: int) -> bytes:
            return body  # ≤ 64 KiB, well under the door's limit

        app = self.doors_app
        try:
            outcome = await receive_message(
                trackers(app), request.dialect, request.path, request.length, request.authorization, read_body
            )
        except Refused as refused:
            self._answer(request, refused.status, orjson.dumps({"detail": refused.detail}), refused.headers)
            return
        except BaseException as exc:
            self.logger.error("Exception in the ingest door\n", exc_info=exc)
            request.keep_alive = False
            self._answer(request, 500, b"Internal Server Error", ((b"content-type", b"text/plain; charset=utf-8"),))
            if not isinstance(exc, Exception):
                raise
            return
        answer = b"[]" if request.dialect == "owntracks" else b'{"outcome":"' + outcome.encode() + b'"}'
        self._answer(request, 200, answer)

    def _answer(self, request: DoorRequest, status: int, body: bytes, extra: tuple = ()) -> None:
        """Status line, headers and body in one write (unless the client went away)."""
        if request.disconnected or self.transport.is_closing():
            request.response_complete = True
            return
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "-",
                "POST",
                request.path,
                "1.1",
                status,
            )
        parts = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            parts += (name, b": ", value, b"\r\n")
        if not extra or extra[0][0] != b"content-type":
            parts.append(JSON_TYPE)
        for name, value in extra:
            parts += (name, b": ", value, b"\r\n")
        parts += (self.hardening, b"content-length: ", str(len(body)).encode(), b"\r\n")
        if not request.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        self.transport.write(b"".join(parts))
        request.response_complete = True
        if not request.keep_alive:
            self.transport.close()
        self.on_response_complete()
