"""The data officer's what-if page in headless Chromium, on the real API and a pilot database:
it offers every question and scenario of the catalogue, shows the API's answer with its
assumptions and interval, and a shared link shows the same stored answer."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    ApiServer,
    AxeFindings,
    Watch,
    open_page,
    screenshot,
    signed_in_context,
)
from playwright.sync_api import sync_playwright
from whatif.whatif_pilot import PERIOD

from fleetpilot.api.app import create_app
from fleetpilot.api.auth.tokens import issue_access_token

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(prepared, pilot_settings, pilot_users):
    app = create_app(pilot_settings)
    with ApiServer(app) as served:
        served.token = issue_access_token(app.state.token_keys, pilot_users["data_officer"], "data_officer")[0]
        yield served


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def officer(browser, server):
    context = signed_in_context(browser, server.base, server.token, DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    yield page
    context.close()


def no_serious_axe(page, name: str) -> None:
    """axe-core on the answer as drawn, at desktop and phone widths (the page test sees it empty)."""
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        assert AxeFindings().check(page, f"{name}-{width}") == [], f"{name} ({width}): axe-core"
    page.set_viewport_size(DESKTOP)


def period_query() -> str:
    last = PERIOD[1] - timedelta(days=1)  # the page shows inclusive days
    return f"from={PERIOD[0].isoformat()}&to={last.isoformat()}"


def api(server, method: str, path: str, **kwargs):
    response = httpx.request(
        method,
        f"{server.base}/api/v1/{path}",
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=60,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()


def test_the_page_offers_the_catalogue_and_shows_a_questions_answer(officer, server):
    assert open_page(officer, f"whatif.html?{period_query()}") == "true"
    catalog = api(server, "GET", "whatif")
    offered = officer.eval_on_selector_all("#item option", "options => options.map((o) => o.value)")
    topics = list(dict.fromkeys(q["topic"] for q in catalog["questions"]))
    assert offered == [q["id"] for t in topics for q in catalog["questions"] if q["topic"] == t]
    groups = officer.eval_on_selector_all("#item optgroup", "groups => groups.map((g) => g.label)")
    assert groups == topics and len(offered) >= 100
    labels = officer.eval_on_selector_all("#item option", "options => options.map((o) => o.textContent)")
    assert not [t for t in labels if "{" in t], "a question's parameter placeholder shows raw"
    assert any("‹facility type›" in t for t in labels)
    assert officer.is_visible("a[href='whatif.html']")  # the navigation's hidden slot appeared
    officer.select_option("#item", "tip_trips_per_shift")
    officer.click("#ask-button")
    officer.wait_for_selector("#answer-number")
    expected = api(
        server,
        "POST",
        "whatif/questions/tip_trips_per_shift",
        json={},
        params={"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()},
    )
    # Hours of day are the city's (FLEETPILOT_TIMEZONE): no free-text zone, the page names it.
    assert officer.query_selector("#tz") is None
    assert "the city's local time (America/Chicago" in officer.inner_text("#tz-note")
    assert officer.inner_text("#answer-id") == expected["result_id"]
    assert float(officer.inner_text("#answer-number")) == pytest.approx(expected["answer"]["number"]["value"], abs=0.01)
    # Counts show as whole numbers ("12", not "12.00"); the table's units say which columns count.
    table = expected["answer"]["table"]
    count = table["units"].index("shifts")
    cells = officer.eval_on_selector_all(
        "#table-0 tbody tr", f"rows => rows.map((r) => r.cells[{count}].innerText.trim())"
    )
    whole = {i: row[count] for i, row in enumerate(table["rows"]) if isinstance(row[count], int)}
    assert whole and len(cells) == len(table["rows"])
    assert {i: cells[i] for i in whole} == {i: f"{n:,}" for i, n in whole.items()}
    assert not [c for c in cells if "." in c]
    assumptions = officer.eval_on_selector_all("#assumptions li", "items => items.map((i) => i.innerText)")
    assert assumptions == expected["answer"]["assumptions"]
    assert officer.query_selector("#chart-0 svg") is not None
    assert f"result={expected['result_id']}" in officer.url
    no_serious_axe(officer, "whatif-question")
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        officer.set_viewport_size(viewport)
        # The chart redraws for the new width (bars on their side on a phone) before the picture.
        officer.wait_for_function(
            "(w) => { const el = document.getElementById('chart-0'); return el._fullLayout.width <= w"
            " && el.dataset.sideways === String(w < 560); }",
            arg=viewport["width"],
        )
        screenshot(officer, f"whatif-question-{width}")
    officer.set_viewport_size(DESKTOP)
    assert officer.watch.problems() == []


def test_a_scenario_shows_every_kpi_with_its_interval_and_its_link_shows_it_again(officer, server):
    assert open_page(officer, f"whatif.html?{period_query()}") == "true"
    officer.select_option("#kind", "scenario")
    officer.select_option("#item", "start_time")
    officer.fill("#p-minutes", "-45")
    officer.click("#common-box summary")  # the factors and bootstrap settings are folded away
    officer.fill("#p-replicates", "100")
    officer.click("#ask-button")
    officer.wait_for_selector("#kpi-table")
    rows = officer.eval_on_selector_all(
        "#kpi-table tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.innerText))"
    )
    assert len(rows) == 9 and rows[0][0] == "truck hours"
    assert " to " in rows[0][5]  # the interval of a modelled KPI
    assert rows[1][6].startswith("held:")  # km: the same streets in the same order
    no_serious_axe(officer, "whatif-scenario")
    result_id = officer.inner_text("#answer-id")
    stored = api(server, "GET", f"whatif/results/{result_id}")
    assert stored["inputs"]["params"]["minutes"] == -45 and stored["inputs"]["params"]["replicates"] == 100
    link = officer.get_attribute("#answer-link", "href")

    officer.goto(link)
    officer.wait_for_selector("body[data-ready]")
    officer.wait_for_selector("#kpi-table")
    assert officer.inner_text("#answer-id") == result_id
    assert "stored answer" in officer.inner_text("#answer")
    assert officer.inner_text("#answer-title") == stored["answer"]["title"]
    assert officer.watch.problems() == []


# Each bar of an answer's chart as drawn: inside the chart's box with a size, and the category
# labels shown whole inside the box too.
BARS_JS = """(id) => {
  const el = document.getElementById(id);
  const box = el.getBoundingClientRect();
  const inside = (r) => r.width > 0 && r.height > 0 && r.left >= box.left - 1 && r.right <= box.right + 1;
  const bars = [...el.querySelectorAll(".barlayer .point path")].map((p) => p.getBoundingClientRect());
  const axis = el.dataset.sideways === "true" ? ".ytick text" : ".xtick text";
  const labels = [...el.querySelectorAll(axis)].filter((t) => inside(t.getBoundingClientRect())).map((t) => t.textContent);
  return { bars: bars.length, shown: bars.filter(inside).length, labels, sideways: el.dataset.sideways === "true" };
}"""


def test_every_bar_of_an_answer_is_drawn_and_labelled_on_a_phone(browser, server):
    """The shared link of a by-route answer opened on a 375 px phone: one bar per route, each
    inside the chart and labelled with its route (upright, the phone showed the first bar only),
    and the same when the window widens to a desktop's."""
    expected = api(
        server,
        "POST",
        "whatif/questions/tip_trips_per_shift",
        json={},
        params={"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()},
    )
    routes = [str(r[0]) for r in expected["answer"]["table"]["rows"]]
    assert len(routes) >= 2, "the pilot answers for one route only: nothing to test"
    context = signed_in_context(browser, server.base, server.token, PHONE)
    page = context.new_page()
    page.watch = Watch().attach(page)
    try:
        assert open_page(page, f"whatif.html?result={expected['result_id']}") == "true"
        page.wait_for_selector("#chart-0 .barlayer")
        drawn = page.evaluate(BARS_JS, "chart-0")
        assert sorted(drawn.pop("labels")) == sorted(routes), drawn
        assert drawn == {"bars": len(routes), "shown": len(routes), "sideways": True}, drawn
        screenshot(page, "whatif-bars-phone")
        no_serious_axe(page, "whatif-bars")  # ends at the desktop's width: the bars stand up again
        page.wait_for_function("() => document.getElementById('chart-0').dataset.sideways === 'false'")
        page.wait_for_function(f"() => ({BARS_JS})('chart-0').shown === {len(routes)}")
        assert sorted(page.evaluate(BARS_JS, "chart-0")["labels"]) == sorted(routes)
        screenshot(page, "whatif-bars-desktop")
        # Narrowed back to a phone: on their side again, the value axis reaching the longest bar.
        page.set_viewport_size(PHONE)
        most = max(r[-1] for r in expected["answer"]["table"]["rows"])
        page.wait_for_function(
            f"""() => {{ const el = document.getElementById('chart-0'); return el.dataset.sideways === 'true'
              && ({BARS_JS})('chart-0').shown === {len(routes)} && el._fullLayout.xaxis.range[1] >= {most}; }}"""
        )
        screenshot(page, "whatif-bars-phone-again")
        assert page.watch.problems() == []
    finally:
        context.close()
