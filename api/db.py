"""The API's connection pool and the per-request connection dependency."""

from __future__ import annotations

import asyncio
from collections import deque

import asyncpg
import orjson
from fastapi import HTTPException, Request, status
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetpilot.db.connect import create_pool

# How long a request waits for a pooled connection before answering 503.
ACQUIRE_TIMEOUT_S = 10.0
# How long returning a connection may take (asyncpg resets its session state). Given
# explicitly: by default asyncpg spends only what is left of the acquire timeout, which a
# long request has used up.
RELEASE_TIMEOUT_S = 30.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb as Python objects (orjson is several times faster than json on rollup payloads).
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )
    await conn.set_type_codec(
        "json", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL): a round trip per request for session state the API never creates (settings
    are changed only with set_config(..., true), which ends with the transaction). asyncpg
    still rolls back a transaction left open before calling this."""


async def open_pool(url: str, max_size: int) -> asyncpg.Pool:
    """A pool whose connections decode json/jsonb to Python objects."""
    return await create_pool(url, min_size=1, max_size=max_size, init=_init_connection, reset=_keep_session)


class FairTurns:
    """At most `size` requests hold a connection; the others wait strictly first come, first
    served. asyncpg's pool queue is not fair under saturation (a newcomer may take the
    connection a woken waiter was handed, and the waiter queues again at the back), so with
    more requests in flight than connections a few of them starved for seconds."""

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future] = deque()

    def take_now(self) -> bool:
        """Take a turn if one is free and nobody is waiting (no task, no timer)."""
        if self.free and not self.waiters:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        if self.take_now():
            return
        turn = asyncio.get_running_loop().create_future()
        self.waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give_back()  # handed a turn just as we were cancelled: pass it on
            raise

    def give_back(self) -> None:
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():  # a cancelled waiter's turn is skipped
                turn.set_result(None)
                return
        self.free += 1


# Where a request's connection is kept in its ASGI scope (see ReleaseConnection).
CONN_KEY = "fleetpilot.conn"


async def get_conn(request: Request) -> asyncpg.Connection:
    """One pooled connection for the whole request (shared by the gate and the endpoint).

    A plain dependency, released by the ReleaseConnection middleware when the request is
    done: a generator dependency costs an AsyncExitStack and a shielded cancel scope per
    request, about a sixth of a small request's CPU."""
    conn = request.scope.get(CONN_KEY)
    if conn is not None:
        return conn
    state = request.app.state
    if not state.pool_turns.take_now():
        try:
            await asyncio.wait_for(state.pool_turns.take(), ACQUIRE_TIMEOUT_S)
        except TimeoutError:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database busy") from None
    try:
        # A turn means a connection is free: no acquire timeout (asyncpg would start a timer
        # task per request); connecting a new one has its own timeout.
        conn = await state.pool.acquire()
    except BaseException as exc:
        state.pool_turns.give_back()
        if isinstance(exc, (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable") from None
        raise
    request.scope[CONN_KEY] = conn
    return conn


class ReleaseConnection:
    """ASGI middleware returning the connection get_conn took to the pool once the request
    (its response and background tasks included) is over, whatever happened."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            conn = scope.pop(CONN_KEY, None)
            if conn is not None:
                state = scope["app"].state
                try:
                    await state.pool.release(conn, timeout=RELEASE_TIMEOUT_S)
                finally:
                    state.pool_turns.give_back()
