"""Helpers of the browser tests: the API on loopback, a watched page, accessibility checks,
load timings and screenshots. Chromium is Debian's (/usr/bin/chromium): Playwright's own
browser downloads do not run here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
TOKEN_KEY = "fleetpilot.token"  # dashboards/static/js/api.js keeps the token here
READY_TIMEOUT_MS = 30_000


def run_async(coro):
    """Run a coroutine to completion from a test. Playwright's sync API keeps an event loop
    running in the test thread, so asyncio.run needs a thread of its own."""
    result: list = []

    def target() -> None:
        result.append(asyncio.run(coro))

    worker = threading.Thread(target=target, name="async-work")
    worker.start()
    worker.join()
    if not result:
        raise RuntimeError("the coroutine failed (see the traceback above)")
    return result[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiServer:
    """The real API app under uvicorn in a background thread, on a free loopback port."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name="api-under-test", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ApiServer:
        self.thread.start()
        # Startup opens the database pool: wait for it rather than for a fixed time.
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the API server stopped during startup (see the log above)")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Watch:
    """What went wrong on a page: console errors, uncaught exceptions, failed or refused requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page) -> Watch:
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed_requests.append(f"{r.url} {r.failure}"))
        page.on("response", lambda r: self.bad_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("request", lambda r: self.requests.append(r.url))
        return self

    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_requests + self.bad_responses

    def clear(self) -> None:
        for items in (self.console_errors, self.page_errors, self.failed_requests, self.bad_responses, self.requests):
            items.clear()


def signed_in_context(browser, base: str, token: str | None, viewport: dict):
    """A browser context whose tab already holds `token` (as after signing in on login.html)."""
    context = browser.new_context(
        viewport=viewport, timezone_id="UTC", locale="en-GB", accept_downloads=True, base_url=base
    )
    if token:
        context.add_init_script(f"window.sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)});")
    return context


def open_page(page, path: str) -> str:
    """Go to a dashboard page and wait until it has drawn its data; returns body[data-ready]."""
    page.goto(f"/app/{path}")
    page.wait_for_selector("body[data-ready]", timeout=READY_TIMEOUT_MS)
    return page.get_attribute("body", "data-ready")


TIMING_JS = """() => {
  const api = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/v1/"));
  const ready = performance.getEntriesByName("fp:ready")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    api_requests: api.length,
    data_ms: api.length ? Math.max(...api.map((e) => e.responseEnd)) - Math.min(...api.map((e) => e.startTime)) : 0,
    slowest_request_ms: api.length ? Math.max(...api.map((e) => e.duration)) : 0,
    api_bytes: api.reduce((sum, e) => sum + e.encodedBodySize, 0),
    ready_ms: ready ? ready.startTime : null,
    dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
  };
}"""


def page_timing(page) -> dict:
    """Load figures from the browser's Performance API (milliseconds since navigation start):
    data_ms = first API request sent → last API response received; ready_ms = page drawn."""
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in page.evaluate(TIMING_JS).items()}


def wait_for_rows(pilot, query: str, count: int, timeout_s: float = 10.0) -> list:
    """The rows of `query` once there are at least `count` (or whatever there are at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = pilot.sql(query)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# axe-core from the pinned PyPI package axe-playwright-python (it ships axe.min.js; no CDN,
# no npm): see docs/decisions/0005-axe-core-from-pypi.md.
AXE_SERIOUS = ("serious", "critical")


class AxeFindings:
    """axe-core's violations per page, written to test-artifacts/axe.json for the record."""

    def __init__(self) -> None:
        self.pages: dict[str, dict] = {}

    def check(self, page, name: str) -> list[str]:
        """Run axe-core on the page as it is now; returns the serious or critical violations."""
        from axe_playwright_python.base import AXE_SCRIPT

        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(AXE_SCRIPT)
        result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
        found = [
            {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]), "first": v["nodes"][0]["html"][:160]}
            for v in result["violations"]
        ]
        self.pages[name] = {
            "axe_core": result["testEngine"]["version"],
            "serious_or_critical": sum(1 for v in found if v["impact"] in AXE_SERIOUS),
            "violations": found,
        }
        return [f"{v['id']} ({v['impact']}, {v['nodes']}×): {v['first']}" for v in found if v["impact"] in AXE_SERIOUS]

    def write(self, path: Path = ARTIFACTS / "axe.json") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(self.pages.items())), indent=2) + "\n")
        return path


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


UNLABELLED_JS = """() => {
  const controls = [...document.querySelectorAll("input, select, textarea, button, a[href], [tabindex]")]
    .filter((el) => el.type !== "hidden" && el.getAttribute("tabindex") !== "-1" && el.getClientRects().length);
  const name = (el) => (el.getAttribute("aria-label") || "").trim()
    || (el.getAttribute("aria-labelledby") || "").split(" ").map((id) => document.getElementById(id)?.textContent || "").join("").trim()
    || [...(el.labels || [])].map((l) => l.textContent).join("").trim()
    || (["BUTTON", "A"].includes(el.tagName) ? el.textContent.trim() : "")
    || (el.getAttribute("title") || "").trim();
  return controls.filter((el) => !name(el)).map((el) => el.outerHTML.slice(0, 160));
}"""


def unlabelled_controls(page) -> list[str]:
    """Interactive elements a screen reader could not name."""
    return page.evaluate(UNLABELLED_JS)


FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName, id: el.id, text: (el.textContent || el.value || "").trim().slice(0, 60),
    href: el.getAttribute("href"),
    visible_focus: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none",
  };
}"""


def tab_through(page, presses: int) -> list[dict]:
    """Press Tab `presses` times from the top of the page; what got focus each time."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    focused = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused.append(page.evaluate(FOCUSED_JS))
    return focused


class Timings:
    """Collects per-page load figures and writes test-artifacts/page-timings.json."""

    def __init__(self, dataset: dict) -> None:
        self.dataset = dataset
        self.pages: dict[str, dict] = {}

    def record(self, name: str, figures: dict) -> None:
        self.pages[name] = figures

    def write(self, path: Path = ARTIFACTS / "page-timings.json") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"dataset": self.dataset, "pages": self.pages}, indent=2) + "\n")
        return path


def png(width: int = 256, height: int = 256, grey: int = 200) -> bytes:
    """A plain grey PNG (a stand-in base-map tile), built with the standard library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([grey]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class TileServer:
    """A local XYZ tile server on loopback that answers every /tiles/{z}/{x}/{y}.png with a PNG
    and records which tiles were asked for."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        tile, requested = png(), []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                requested.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.send_header("Access-Control-Allow-Origin", "*")  # MapLibre fetches tiles with CORS
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, *args) -> None:
                pass

        self.requested = requested
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="tile-server", daemon=True)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/tiles/{{z}}/{{x}}/{{y}}.png"

    def __enter__(self) -> TileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
