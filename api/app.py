"""The FastAPI application: routers per domain under /api/v1, public pages, dashboards.

``create_app(settings)`` builds the app; its lifespan opens the asyncpg pool (migrations
are the CLI's job: `fleetpilot migrate`, or `fleetpilot api` at start).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

import fleetpilot
from fleetpilot.api.admin.router import router as admin_router
from fleetpilot.api.api_keys.router import router as api_keys_router
from fleetpilot.api.auth.router import router as auth_router
from fleetpilot.api.auth.tokens import TokenKeys
from fleetpilot.api.causes.router import router as causes_router
from fleetpilot.api.city.router import router as city_router
from fleetpilot.api.complaints.router import router as complaints_router
from fleetpilot.api.compression import GZIP_LEVEL, GZIP_MIN_BYTES
from fleetpilot.api.db import FairTurns, ReleaseConnection, open_pool
from fleetpilot.api.deps import UNREADABLE_BODY
from fleetpilot.api.efficiency.router import router as efficiency_router
from fleetpilot.api.errors import UNSTORABLE_TEXT, unstorable_text
from fleetpilot.api.exports.router import router as exports_router
from fleetpilot.api.goals.router import router as goals_router
from fleetpilot.api.hazards.router import router as hazards_router
from fleetpilot.api.hotspots.router import router as hotspots_router
from fleetpilot.api.hotspots.warmup import warm_up as hotspots_warm_up
from fleetpilot.api.live.router import router as live_router
from fleetpilot.api.me.router import router as me_router
from fleetpilot.api.ogc.router import router as ogc_router
from fleetpilot.api.public.router import router as public_router
from fleetpilot.api.release.router import router as open_data_router
from fleetpilot.api.route_plans.router import router as route_plans_router
from fleetpilot.api.security import Hardening, content_security_policy
from fleetpilot.api.shifts.router import router as shifts_router
from fleetpilot.api.trackers.lean import IngestDoors
from fleetpilot.api.trackers.router import router as trackers_router
from fleetpilot.api.whatif.router import router as whatif_router
from fleetpilot.db.connect import service_database_url
from fleetpilot.settings import Settings

API_PREFIX = "/api/v1"
DESCRIPTION = """\
Sanitation-fleet telemetry pilot. Every data access passes one policy layer:
drivers see only their own shifts; supervisors and data officers see route, segment,
cell and time aggregates from which any group under k shifts or k people is removed;
opening one person's shift needs a stated purpose and is recorded in an audit log the
person can read. The transparency page (`/transparency`) says what is collected and who
sees what, from the live settings.
"""


# Routes are matched in this order: the pages' reads first, small routers ahead, and the
# public, OGC, open-data and complaints routers after them (create_app). FastAPI tries every
# route of every router before the one that matches, twice per request, with scope
# bookkeeping per route tried: who-am-I, behind those 15 routes and the shift routes, spent
# ~1.02 ms of CPU per request in the app, ~0.85 ms with this order (in-process ASGI calls
# on the bench's small fleet, 6 Dec; cProfile: FastAPI's route matching 7.5 s -> 1.7 s).
DOMAINS = (
    auth_router,
    city_router,
    shifts_router,
    me_router,
    efficiency_router,
    live_router,
    hazards_router,
    route_plans_router,
    hotspots_router,
    causes_router,
    exports_router,
    admin_router,
    trackers_router,
    api_keys_router,
)


def _include_api(app: FastAPI) -> None:
    """All JSON endpoints under API_PREFIX, one router per domain (included directly: one
    level of router nesting less to match per request)."""
    for domain in DOMAINS:
        app.include_router(domain, prefix=API_PREFIX)
    # The what-if router (its own folder) takes bodies on POST; document FastAPI's 400 for them.
    app.include_router(whatif_router, prefix=API_PREFIX, responses=UNREADABLE_BODY)
    app.include_router(goals_router, prefix=API_PREFIX, responses=UNREADABLE_BODY)


class App(FastAPI):
    """FastAPI whose every request meets `doors` first (the trackers' ingest doors, which
    hand everything else to FastAPI as it is)."""

    doors: IngestDoors | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.doors is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await self.doors(scope, receive, send)


def create_app(settings: Settings, *, pool_size: int = 20, warm_up: bool = True) -> FastAPI:
    """The app for `settings`; the database URL is resolved (embedded server started) at startup.
    `warm_up`: compute the hotspot page's default answer in the background at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(await service_database_url(settings, "api"), max_size=pool_size)
        app.state.pool_turns = FairTurns(pool_size)
        # In the background: the server answers at once; a request for the same answer
        # meanwhile waits for it (service.hotspots_json) instead of computing it again.
        app.state.warming = warming = (
            asyncio.create_task(hotspots_warm_up(app.state.pool, app.state.pool_turns, settings.timezone))
            if warm_up
            else None
        )
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
                await asyncio.gather(warming, return_exceptions=True)
            await app.state.pool.close()
            if getattr(app.state, "trackers", None) is not None:
                await app.state.trackers.close()

    app = App(title="fleetpilot", version=fleetpilot.__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    # Large JSON (the city layer, hotspot cells) shrinks ~15x; level 5 costs a fraction of
    # the default 9's CPU for nearly the same size. Small bodies are sent as they are.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(ReleaseConnection)
    # Outermost: headers on every answer (413s and errors included), limits before any read.
    csp = content_security_policy(settings.map_tile_url)
    app.add_middleware(Hardening, csp=csp)
    # Ahead of all of it, FastAPI's own per-request layers included: the trackers' POSTs (one
    # position each) skip routing and middleware (decision 0026); their answers still carry
    # the hardening headers.
    app.doors = IngestDoors(partial(FastAPI.__call__, app), hardening=Hardening(app, csp=csp).headers)
    app.state.token_keys = TokenKeys.from_settings(settings)
    for error in UNSTORABLE_TEXT:
        app.add_exception_handler(error, unstorable_text)
    _include_api(app)  # first: the pages' reads (see DOMAINS)
    app.include_router(complaints_router)  # 311 complaints answered by the record
    app.include_router(public_router)
    app.include_router(ogc_router)  # OGC API – Features at /ogc, for the city's GIS
    app.include_router(open_data_router)  # the latest open-data release's files
    _mount_dashboards(app, settings)
    return app


def app_from_environment() -> FastAPI:
    """The app configured from FLEETPILOT_* (uvicorn's factory for `fleetpilot api --workers N`)."""
    settings = Settings()
    return frozen(create_app(settings, pool_size=settings.api_pool_size))


# Container allocations (net of frees) between young collections in the server process
# (CPython's default: 700). Decision 0038: at 700, under the ingest doors' load, each young
# collection walked again every object of the ~128 requests in flight, and every hundredth
# was a full one (~23 ms): in one API worker during `./fp bench ingest --dialect
# traccar-http`, 5 693 young, 517 middle and 47 full collections took 1.9 s of its 18.3 s of
# CPU (gc.callbacks, thread time); at 20 000: 22, 1 and 0 took 0.1 s of 13.1 s.
GC_YOUNG_ALLOCATIONS = 20_000


def frozen(app: FastAPI) -> FastAPI:
    """`app`, with everything loaded by now (the app, its routes and models, the libraries)
    moved out of the garbage collector's sight for the life of the server process: a full
    collection then walks only what was made since, not ~150 000 objects more (~0.1 s of CPU
    each, and the ingest doors' load brings one every few thousand requests: decision 0032);
    and young collections made rarer (GC_YOUNG_ALLOCATIONS). For the server's process only
    (tests build many apps in one process)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_ALLOCATIONS)
    return app


def _mount_dashboards(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboards' static pages at /app when that package ships them."""
    try:
        from fleetpilot.dashboards.assets import STATIC_DIR, assets_router
    except ImportError:
        return
    if Path(STATIC_DIR).is_dir():
        app.include_router(
            assets_router(
                tile_url=settings.map_tile_url,
                tile_attribution=settings.map_tile_attribution,
                timezone=settings.timezone,
            )
        )
        app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="dashboards")
