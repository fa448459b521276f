"""Issue 21: a supervisor edits plans on the map — box-selects a block of segments, moves it to
another route, sees the predicted effect on both routes, asks for a balance (and discards it),
has the optimiser re-sequence, saves (a new version of each route, with the reason)."""

from __future__ import annotations

import pytest
from browser.harness import DESKTOP, PHONE, Watch, open_page, screenshot, signed_in_context

pytestmark = pytest.mark.browser

# The screen box (page pixels) around the driving-direction arrows of the first `n` service
# segments of the route being edited, from plotly's own axes.
BLOCK_BOX = """(n) => {
  const el = document.getElementById("plan-map");
  const trace = el.data.find((t) => t.name.startsWith("Driving direction"));
  const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, box = el.getBoundingClientRect();
  const xs = trace.x.slice(0, n).map((x) => box.left + xa._offset + xa.l2p(x));
  const ys = trace.y.slice(0, n).map((y) => box.top + ya._offset + ya.l2p(y));
  const ids = trace.customdata.slice(0, n);
  return { x0: Math.min(...xs) - 4, x1: Math.max(...xs) + 4, y0: Math.min(...ys) - 4, y1: Math.max(...ys) + 4, ids };
}"""


# The map has re-framed itself to the new viewport (plotly resizes after a ResizeObserver tick).
MAP_FITS = """() => {
  const el = document.getElementById("plan-map");
  return el._fullLayout && Math.abs(el._fullLayout.width - el.clientWidth) < 2;
}"""


def _shots(page, name: str) -> None:
    """Desktop and phone screenshots of the page as it is now."""
    screenshot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_function(MAP_FITS)
    page.wait_for_timeout(300)  # the framing relayout after the resize
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)
    page.wait_for_function(MAP_FITS)


@pytest.fixture
def supervisor(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    yield page
    context.close()


def _versions(pilot) -> dict[str, int]:
    return {r["route_id"]: r["current_version"] for r in pilot.sql("SELECT route_id, current_version FROM routes")}


def _service(pilot, route_id: str, version: int) -> list[str]:
    rows = pilot.sql(
        "SELECT segment_id FROM route_segments WHERE route_id = $1 AND version = $2 AND service ORDER BY seq",
        route_id,
        version,
    )
    return [r["segment_id"] for r in rows]


def test_a_block_moved_on_the_map_is_predicted_resequenced_and_saved(supervisor, pilot):
    before = _versions(pilot)
    source, target = sorted(before)[-2], sorted(before)[-1]
    source_before = _service(pilot, source, before[source])
    open_page(supervisor, f"plans.html?route={source}")
    supervisor.wait_for_selector(f'.prediction[data-route="{source}"]')

    # Box-select the first segments of the route on the map (dragging draws a box by default).
    box = supervisor.evaluate(BLOCK_BOX, 3)
    supervisor.mouse.move(box["x0"], box["y0"])
    supervisor.mouse.down()
    supervisor.mouse.move((box["x0"] + box["x1"]) / 2, (box["y0"] + box["y1"]) / 2, steps=4)
    supervisor.mouse.move(box["x1"], box["y1"], steps=4)
    supervisor.mouse.up()
    supervisor.wait_for_selector("#selection >> text=/[0-9]+ of [0-9]+ segments selected/")
    picked = supervisor.eval_on_selector_all(
        "#segments input[data-pick]:checked", "els => els.map((e) => e.dataset.pick)"
    )
    assert set(box["ids"]) <= set(picked), "every segment inside the box is selected"
    assert len(picked) >= 2

    # Move the block to the other route: the prediction shows both routes, today and edited.
    supervisor.get_by_label("To route").select_option(target)
    supervisor.get_by_role("button", name=f"Move {len(picked)} selected segment(s)").click()
    supervisor.wait_for_selector(f'.prediction[data-route="{target}"]')
    supervisor.wait_for_selector("#prediction-status >> text=Predicted for your edits")
    source_rows = supervisor.locator(f'.prediction[data-route="{source}"] tbody tr')
    segments_row = source_rows.filter(has_text="Service segments").inner_text()
    assert f"−{len(picked)}" in segments_row, segments_row
    target_row = supervisor.locator(f'.prediction[data-route="{target}"] tbody tr').filter(has_text="Service segments")
    assert f"+{len(picked)}" in target_row.inner_text()
    shift_row = source_rows.filter(has_text="Shift length").inner_text()
    assert " h" in shift_row  # the route's own history is released in the pilot
    _shots(supervisor, "plan-edit-moved")

    # Undo and redo the move.
    supervisor.get_by_role("button", name=f"Undo move to {target}").click()
    supervisor.wait_for_selector(f"#redo >> text=Redo move to {target}")
    supervisor.get_by_role("button", name=f"Redo move to {target}").click()
    supervisor.wait_for_selector(f"#undo >> text=Undo move to {target}")

    # Balancing the two routes (the target is now much longer) proposes moves back; discarded here.
    supervisor.get_by_role("button", name="Balance these routes").click()
    supervisor.wait_for_selector("#proposal:not([hidden])")
    supervisor.wait_for_selector("#prediction-status >> text=Predicted for the proposal")
    assert "(basis: history)" in supervisor.inner_text("#proposal-text")
    supervisor.get_by_role("button", name="Discard proposal").click()
    supervisor.wait_for_selector("#proposal[hidden]", state="attached")

    # The optimiser proposes a driving order; its prediction shows before it is accepted.
    supervisor.get_by_role("button", name="Improve sequence").click()
    supervisor.wait_for_selector("#proposal:not([hidden])", timeout=30_000)
    supervisor.wait_for_selector("#prediction-status >> text=Predicted for the proposal")
    proposal = supervisor.inner_text("#proposal-text")
    assert "OR-Tools" in proposal and "deadhead" in proposal
    _shots(supervisor, "plan-edit-proposal")
    supervisor.get_by_role("button", name="Accept proposal").click()
    supervisor.wait_for_selector("#proposal[hidden]", state="attached")

    supervisor.get_by_label("What changed and why").fill("browser test: block moved on the map, re-sequenced")
    supervisor.get_by_role("button", name="Save 2 changed route(s) as new versions").click()
    supervisor.wait_for_selector("#plan-message .alert.ok, .alert.error")
    assert supervisor.locator(".alert.error").count() == 0, supervisor.locator(".alert.error").all_inner_texts()
    after = _versions(pilot)
    assert after[source] == before[source] + 1 and after[target] == before[target] + 1
    source_after = _service(pilot, source, after[source])
    assert sorted(source_after) == sorted(set(source_before) - set(picked))
    assert set(picked) <= set(_service(pilot, target, after[target]))
    note = pilot.sql("SELECT note FROM route_versions WHERE route_id = $1 AND version = $2", source, after[source])[0][
        "note"
    ]
    assert note == "browser test: block moved on the map, re-sequenced"
    assert supervisor.watch.problems() == []
