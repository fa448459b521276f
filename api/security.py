"""HTTP hardening that every response and request passes: security headers and body limits.

One pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware):

- Headers on every answer, pages and API alike: a Content-Security-Policy without
  ``unsafe-inline`` scripts (the dashboards load only their own files; styles may be inline
  because plotly sets them), ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``,
  ``nosniff``, ``Referrer-Policy: no-referrer``. The API description pages (``/docs``,
  ``/redoc``) are FastAPI's: they load their bundle from a CDN and start it with one inline
  script, which their policy allows by hash, on those paths only.
- Request bodies are limited per route *before* anything reads them: a declared
  Content-Length over the limit is answered 413 at once, and a body streamed without one
  is cut off with 413 as soon as it passes the limit, so a 32 MB upload is never parsed.
- JSON bodies may not hold ``NaN`` or ``Infinity`` (Python's json reads them, JSON does not
  have them): 422 here, once for every route, instead of a NaN reaching a computation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urlsplit

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bytes a request body may have, by path prefix (longest prefix wins); route plans carry
# street geometry, everything else is a small form or JSON object.
DEFAULT_BODY_LIMIT = 64 * 1024
BODY_LIMITS = {
    "/api/v1/routes": 8 * 1024 * 1024,  # plan imports and edits: street geometry
    "/api/v1/whatif": 256 * 1024,  # a scenario may carry a zone polygon
    "/api/v1/ingest": 1024 * 1024,  # tracker positions (api/trackers: the pipeline dead-letters more)
}
DOC_PATHS = ("/docs", "/redoc")
DOC_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def content_security_policy(tile_url: str | None = None) -> str:
    """The pages' policy: own scripts only; images, and map tiles from the configured host."""
    tiles = ""
    if tile_url:
        parts = urlsplit(tile_url.replace("{", "").replace("}", ""))
        tiles = f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; "
        "script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{tiles}; "
        f"connect-src 'self'{tiles}; "
        "worker-src 'self' blob:; "
        "font-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _docs_policy(body: bytes) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return (
        f"default-src 'self'; script-src 'self' {DOC_CDN} {hashes}; style-src 'self' 'unsafe-inline' {DOC_CDN}; "
        "img-src 'self' data: https://fastapi.tiangolo.com; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


def _not_json(constant: str) -> None:
    raise ValueError(constant)


def non_finite_constant(body: bytes) -> str | None:
    """'NaN', 'Infinity' or '-Infinity' if the JSON body holds one (None also for bodies that
    are not JSON at all: the app answers those)."""
    try:
        orjson.loads(body)  # strict JSON (no NaN/Infinity): 4 µs, not 24, for a Traccar position
        return None
    except orjson.JSONDecodeError:
        pass  # a constant, or not JSON, or beyond orjson (e.g. > 64-bit integers): ask json
    try:
        json.loads(body, parse_constant=_not_json)
    except ValueError as exc:
        if exc.args and exc.args[0] in ("NaN", "Infinity", "-Infinity"):
            return exc.args[0]
    return None


def _is_json(scope: Scope) -> bool:
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def body_limit(path: str) -> int:
    best, limit = -1, DEFAULT_BODY_LIMIT
    for prefix, bytes_ in BODY_LIMITS.items():
        if path.startswith(prefix) and len(prefix) > best:
            best, limit = len(prefix), bytes_
    return limit


class BodyTooLarge(HTTPException):
    """Raised while the app reads the body; an HTTPException so FastAPI's body parsing passes
    it on (it turns other errors into 400) and the app answers 413 with its usual headers."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (at most {limit} bytes here)")


class Hardening:
    """The middleware; `csp` is the pages' Content-Security-Policy."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = body_limit(path)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, 413, f"request body too large (at most {limit} bytes here)")
            return
        docs = path in DOC_PATHS
        started = False
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        held: Message | None = None

        async def send_hardened(message: Message) -> None:
            nonlocal started, held
            if message["type"] == "http.response.start":
                started = True
                if docs:  # its policy needs the body's inline script (small, sent whole)
                    held = message
                    return
                message["headers"] = [*message.get("headers", []), *self.headers]
            elif held is not None and message["type"] == "http.response.body":
                own = [(k, v) for k, v in self.headers if k != b"content-security-policy"]
                csp = (b"content-security-policy", _docs_policy(message.get("body", b"")).encode())
                held["headers"] = [*held.get("headers", []), *own, csp]
                await send(held)
                held = None
            await send(message)

        if scope["method"] in ("POST", "PUT", "PATCH") and _is_json(scope):
            # Read the (limited) body first to refuse non-finite numbers, then hand it on.
            messages: list[Message] = []
            try:
                while True:
                    message = await limited_receive()
                    messages.append(message)
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        break
            except BodyTooLarge:
                await self._refuse(send, 413, f"request body too large (at most {limit} bytes here)")
                return
            constant = non_finite_constant(b"".join(m.get("body", b"") for m in messages))
            if constant is not None:
                await self._refuse(send, 422, f"numbers must be finite; {constant} is not accepted")
                return
            receive = _replay(messages, receive)
            seen = 0
        try:
            await self.app(scope, limited_receive, send_hardened)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send, 413, f"request body too large (at most {limit} bytes here)")

    async def _refuse(self, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out the messages already read, then the real ones (disconnect)."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
