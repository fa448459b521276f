"""How fast each dashboard page gets its data over a month of a 50-truck fleet.

    fleetpilot bench api --keep                       # loads the month, prints "database": NAME
    fleetpilot bench pages --database NAME            # = python -m fleetpilot_bench.pages

The month is the one the API benchmark loads (`fleetpilot_bench.api`: the simulator's
50 trucks × 30 days at 1 Hz through `fleetpilot.simload` and the rollup job), so both
measurements describe the same data. This serves it with the real API on loopback and opens
every page each role is offered in Debian's headless Chromium, twice: `cold` in a fresh
browser context (plotly.js downloaded and compiled), `warm` the same page again (a returning
user). From the browser's Performance API: `data_ms` = first API request sent → last API
response received, `ready_ms` = navigation start → page drawn. Prints one JSON document;
nothing is asserted.

Accounts: the driver is the crew member with the most shifts (their existing account, or a
new one), plus a supervisor and a data officer; tokens are issued directly by this process,
which holds the signing key of the API it starts. A supervisor opens one of the driver's
shifts with a stated purpose first, so the driver's access log has an entry. With
`--read-only` (for a database that is not yours, e.g. a lead's benchmark month) nothing is
written: only existing accounts are used (a role without one is not measured) and no shift
is opened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import uvicorn
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.settings import Settings

CHROMIUM = "/usr/bin/chromium"  # Debian's build: Playwright's own browser downloads do not run here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN_KEY = "fleetpilot.token"  # where static/js/api.js keeps the token
ROLES = ("driver", "supervisor", "data_officer", "admin", None)
PURPOSE = "page-load measurement: example of an audited access"
BUSIEST_PERSON = """
SELECT c.person_id FROM shift_crew c JOIN shift_metrics m USING (shift_id)
GROUP BY c.person_id ORDER BY count(*) DESC, c.person_id LIMIT 1
"""
SECOND_LATEST_SHIFT = """
SELECT s.shift_id FROM shifts s JOIN shift_crew c USING (shift_id) JOIN shift_metrics m USING (shift_id)
WHERE c.person_id = $1 ORDER BY s.starts_at DESC OFFSET 1 LIMIT 1
"""


async def accounts(conn: asyncpg.Connection, create: bool = True) -> tuple[dict[str, tuple[int, str]], str]:
    """(role -> (user_id, role)) for the measured roles, and a shift of the driver to open.
    Without `create`, roles with no account are left out."""
    from fleetpilot.api.users import create_user

    person = await conn.fetchval(BUSIEST_PERSON)
    found: dict[str, tuple[int, str]] = {}
    driver = await conn.fetchval("SELECT user_id FROM users WHERE person_id = $1 AND NOT disabled", person)
    if driver is None and create:
        driver = await create_user(conn, f"measure-{person}", secrets.token_urlsafe(16), "driver", person)
    if driver is not None:
        found["driver"] = (driver, "driver")
    for role in ("supervisor", "data_officer", "admin"):
        user = await conn.fetchval("SELECT min(user_id) FROM users WHERE role = $1 AND NOT disabled", role)
        if user is None and create:
            user = await create_user(conn, f"measure-{role.replace('_', '-')}", secrets.token_urlsafe(16), role)
        if user is not None:
            found[role] = (user, role)
    return found, await conn.fetchval(SECOND_LATEST_SHIFT, person)


def _timing(page) -> dict:
    figures = page.evaluate("""() => {
      const api = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/v1/"));
      const ready = performance.getEntriesByName("fp:ready")[0];
      return {
        api_requests: api.length,
        data_ms: api.length ? Math.max(...api.map((e) => e.responseEnd)) - Math.min(...api.map((e) => e.startTime)) : 0,
        slowest_request_ms: api.length ? Math.max(...api.map((e) => e.duration)) : 0,
        api_kb: api.reduce((sum, e) => sum + e.encodedBodySize, 0) / 1024,
        ready_ms: ready ? ready.startTime : null,
        requests: Object.fromEntries(api.map((e) => [new URL(e.name).pathname.replace("/api/v1/", ""), Math.round(e.duration)])),
      };
    }""")
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}


def _context(browser, base: str, token: str | None):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC", base_url=base)
    if token:
        context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)});")
    return context


READY_TIMEOUT_MS = 120_000


def _open(page, path: str) -> dict:
    """Load a page and wait until it has drawn its data (or failed); its figures and any errors."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"/app/{path}", timeout=READY_TIMEOUT_MS)
    try:
        page.wait_for_function("() => document.body.dataset.ready", timeout=READY_TIMEOUT_MS)
    except PlaywrightTimeout:
        return {"state": "timeout", "errors": errors}
    return {
        "state": page.evaluate("document.body.dataset.ready"),
        **_timing(page),
        **({"errors": errors} if errors else {}),
    }


def measure_pages(base: str, tokens: dict[str, str]) -> dict:
    """Open every page each role is offered, cold (new browser context) then warm; their figures."""
    results: dict[str, dict] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for role in ROLES:
            if role and role not in tokens:
                continue
            token = tokens[role] if role else None
            context = _context(browser, base, token)
            page = context.new_page()
            _open(page, "index.html" if role else "transparency.html")
            offered = page.eval_on_selector_all(".site-nav a", "links => links.map((a) => a.getAttribute('href'))")
            context.close()
            for href in offered:
                context = _context(browser, base, token)
                page = context.new_page()
                name = f"{role or 'anonymous'}/{href}"
                results[name] = {"cold": _open(page, href), "warm": _open(page, href)}
                print(name, results[name]["warm"].get("data_ms"), results[name]["warm"]["state"], file=sys.stderr)
                context.close()
        browser.close()
    return results


class Server:
    """The API app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleetpilot bench pages", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database",
        required=True,
        metavar="NAME",
        help="a loaded month, e.g. the one `fleetpilot bench api --keep` printed",
    )
    parser.add_argument(
        "--database-url", help="URL of the server holding it (default: FLEETPILOT_DATABASE_URL or the embedded server)"
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="write nothing: existing accounts only (roles without one are skipped), no shift opened",
    )
    args = parser.parse_args(argv)

    from fleetpilot.api.app import create_app
    from fleetpilot.api.auth.tokens import TokenKeys, issue_access_token

    base_url = args.database_url or resolve_database_url(Settings())
    url = urlunsplit(urlsplit(base_url)._replace(path=f"/{args.database}"))
    settings = Settings(database_url=url, jwt_secret=secrets.token_hex(32), _env_file=None)

    async def setup():
        conn = await connect(url)
        try:
            return await accounts(conn, create=not args.read_only)
        finally:
            await conn.close()

    users, opened_shift = asyncio.run(setup())
    keys = TokenKeys.from_settings(settings)
    tokens = {role: issue_access_token(keys, user_id, role)[0] for role, (user_id, _) in users.items()}
    with Server(create_app(settings)) as base:
        if not args.read_only:
            urllib.request.urlopen(
                urllib.request.Request(  # raises on any refusal
                    f"{base}/api/v1/shifts/{opened_shift}/open",
                    data=json.dumps({"purpose": PURPOSE}).encode(),
                    method="POST",
                    headers={"Authorization": f"Bearer {tokens['supervisor']}", "Content-Type": "application/json"},
                ),
                timeout=60,
            )
        pages = measure_pages(base, tokens)
    skipped = [r for r in ROLES if r and r not in tokens]
    print(
        json.dumps(
            {"database": args.database, "read_only": args.read_only, "roles_without_account": skipped, "pages": pages},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
