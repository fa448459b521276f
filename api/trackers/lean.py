"""The two ingest doors served ahead of the app's router and middleware (decision 0026).

Traccar's JSON forwarding and OwnTracks' HTTP mode send one position per request, so what a
request costs *is* what a position costs. Through FastAPI a request paid routing against
every route of the app, the dependency machinery, the middleware stack (hardening's second
JSON parse, gzip, the connection release) and Starlette's request/response objects: about
~88 % of the API's CPU per position (docs/benchmarks/ingest.md). `IngestDoors` is a pure
ASGI layer that answers ``POST /api/v1/ingest/traccar`` and ``…/owntracks`` itself and hands
everything else to FastAPI unchanged; `api.app.App` puts it in front of FastAPI's own
per-request layers too (telemetry, body limit, server errors). A middleware that should
apply to these doors (a request id, a rate limit) has to be added here as well.

It refuses what the routed door refused, in the same order and with the same statuses:
a declared body over 1 MiB 413 (nothing read), no or a bad token 401 (nothing read or
stored; a token revoked before its request's transaction: 401, nothing stored, see
ingest/http.py), a body streamed past 1 MiB 413, the database away 503 (Traccar retries); anything
else goes through `HttpIngest.ingest` (validation with a reason to dead letters, privacy,
idempotent keys, group commit) and is answered 200 only after its commit. One difference,
on purpose: a body with NaN/Infinity is dead-lettered as ``bad_json`` (as over MQTT) instead
of the hardening middleware's 422, which Traccar would retry and then drop unrecorded.
Answers carry the hardening headers (a fixed list: nothing to compute).

The FastAPI routes in router.py stay: they document the doors in OpenAPI, carry the policy
gate the access-matrix test checks, and serve the same `receive_message` if this layer is
absent.
"""

from __future__ import annotations

import base64
import binascii

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetpilot.api.security import Hardening
from fleetpilot.ingest.http import OVERLAP_AT, UNAVAILABLE, WRITERS, HttpIngest, TokensRevoked

MAX_BODY_BYTES = 1024 * 1024  # far above any one position; the pipeline dead-letters > 256 KiB
DOORS = {"/api/v1/ingest/traccar": "traccar", "/api/v1/ingest/owntracks": "owntracks"}


class Refused(Exception):
    def __init__(self, status: int, detail: str, headers: tuple = ()):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


TOO_LARGE = Refused(413, "body over 1 MiB")
NO_TOKEN = Refused(401, "a valid token is needed", ((b"www-authenticate", b"Bearer"),))
UNAVAILABLE_503 = Refused(503, "database unavailable; retry")


CREDENTIALS_KEPT = 4096  # Authorization values whose token text is kept (an OwnTracks fleet's phones)
# Longest value kept: a token is at most 137 characters (tokens.TOKEN), Basic's base64 of
# "<user>:<token>" ~ 4/3 of that plus the user name. A header can be megabytes, and is read
# before any check: longer values are decoded each time, never kept.
CREDENTIAL_KEPT_CHARS = 512
_credentials: dict[str, str | None] = {}


def credential_of(authorization: str) -> str | None:
    """`credential`, kept per header value: a phone sends the same Basic value with every
    position, and decoding it was ~3 % of the API's CPU per OwnTracks position (decision
    0036). Only the text is kept; the token is still checked per request (`HttpIngest.holder`)."""
    try:
        return _credentials[authorization]
    except KeyError:
        pass
    if len(authorization) > CREDENTIAL_KEPT_CHARS:
        return credential(authorization)
    if len(_credentials) >= CREDENTIALS_KEPT:
        _credentials.clear()
    token = _credentials[authorization] = credential(authorization)
    return token


def credential(authorization: str) -> str | None:
    """The token from ``Bearer <token>`` or Basic auth's password (OwnTracks' HTTP mode has
    username/password fields and sends Basic)."""
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


def trackers(app) -> HttpIngest:
    """The app's HTTP ingest, made on first use (one per API process)."""
    ingest = app.state._state.get("trackers")  # State's own dict: its __getattr__ costs per request
    if ingest is None:
        from fleetpilot.db.connect import resolve_database_url

        settings = app.state.settings
        ingest = app.state.trackers = HttpIngest(
            resolve_database_url(settings), settings.city, writers=WRITERS, overlap_at=OVERLAP_AT
        )
    return ingest


async def receive_message(
    ingest: HttpIngest,
    dialect: str,
    path: str,
    declared_length: str | None,
    authorization: str | None,
    read_body,
) -> str:
    """One request at either door: the outcome once committed, or `Refused`. `read_body(limit)`
    returns the body or raises `TOO_LARGE` once it passes `limit` bytes."""
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > MAX_BODY_BYTES:
        raise TOO_LARGE
    token = credential_of(authorization) if authorization else None
    try:
        holder = await ingest.holder(token, dialect) if token else None
    except UNAVAILABLE:
        raise UNAVAILABLE_503 from None
    if holder is None:
        raise NO_TOKEN
    payload = await read_body(MAX_BODY_BYTES)
    try:
        return await ingest.ingest(dialect, holder.external_id, payload, f"http:{path}", holder.token_id)
    except TokensRevoked:  # revoked while this request was on its way: nothing of it stored
        raise NO_TOKEN from None
    except UNAVAILABLE:
        raise UNAVAILABLE_503 from None


class IngestDoors:
    """ASGI: the ingest doors answered here, every other request passed to `app`."""

    def __init__(self, app: ASGIApp, hardening: list[tuple[bytes, bytes]] | None = None) -> None:
        self.app = app
        self.hardening = hardening if hardening is not None else Hardening(app, "default-src 'none'").headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            dialect = DOORS.get(scope["path"])
            if dialect is not None:
                await self._serve(scope, receive, send, dialect)
                return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, dialect: str) -> None:
        length = authorization = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value.decode("latin-1")
            elif key == b"authorization":
                authorization = value.decode("latin-1")

        async def read_body(limit: int) -> bytes:
            parts, size = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    raise ConnectionAbortedError("client disconnected")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise TOO_LARGE
                parts.append(chunk)
                if not message.get("more_body", False):
                    return parts[0] if len(parts) == 1 else b"".join(parts)

        try:
            outcome = await receive_message(
                trackers(scope["app"]), dialect, scope["path"], length, authorization, read_body
            )
        except Refused as refused:
            await self._answer(send, refused.status, orjson.dumps({"detail": refused.detail}), refused.headers)
            return
        except ConnectionAbortedError:
            return  # nobody to answer; nothing was stored for this request
        body = b"[]" if dialect == "owntracks" else b'{"outcome":"' + outcome.encode() + b'"}'
        await self._answer(send, 200, body)

    async def _answer(self, send: Send, status: int, body: bytes, extra: tuple = ()) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
            *self.hardening,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
