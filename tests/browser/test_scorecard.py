"""Issue 16: the pilot goals page, opened by a crew member on a phone and a supervisor on a
desktop, shows exactly the API's scorecard (withheld weeks said in words), and its button
downloads the pilot report as a PDF that poppler reads back with the same figures."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import httpx
import pytest
from browser.harness import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Watch,
    horizontal_overflow,
    open_page,
    screenshot,
    signed_in_context,
)

pytestmark = pytest.mark.browser


def _figure(value: float, unit: str) -> str:
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    return f"{text} %" if unit == "%" else f"{text} {unit}"


@pytest.fixture(scope="module")
def goals(pilot):
    """Three goals set by the data officer through the API (baseline: the pilot's first week)."""
    first = pilot.start
    headers = {"Authorization": f"Bearer {pilot.tokens['data_officer']}"}
    for goal_id, kpi, target, direction in (
        ("coverage", "coverage", 95.0, "at_least"),
        ("deadhead", "deadhead_share", 40.0, "at_most"),
        ("safety", "safety_per_100km", 0.01, "at_most"),
    ):
        body = {
            "kpi": kpi,
            "title": f"Goal on {kpi.replace('_', ' ')}",
            "definition": f"The pilot's goal on {kpi.replace('_', ' ')}, fleet-wide, per week.",
            "baseline_from": str(first),
            "baseline_to": str(first + timedelta(days=7)),
            "target": target,
            "direction": direction,
            "department": "Sanitation operations",
        }
        httpx.put(f"{pilot.base}/api/v1/goals/{goal_id}", json=body, headers=headers).raise_for_status()
    last = pilot.start + timedelta(days=pilot.days - 1)
    params = {"from": str(pilot.start), "to": str(last + timedelta(days=1))}
    card = httpx.get(
        f"{pilot.base}/api/v1/goals/scorecard",
        params=params,
        headers={"Authorization": f"Bearer {pilot.tokens['driver']}"},
    ).json()
    return card, f"scorecard.html?from={pilot.start}&to={last}"


@pytest.mark.parametrize(("role", "viewport"), [("driver", PHONE), ("supervisor", DESKTOP)])
def test_the_scorecard_shows_the_apis_goals_to_every_role(browser, pilot, goals, axe, role, viewport):
    card, path = goals
    context = signed_in_context(browser, pilot.base, pilot.tokens[role], viewport)
    page = context.new_page()
    page.watch = Watch().attach(page)
    try:
        open_page(page, path)
        rows = page.eval_on_selector_all(
            "#summary tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))"
        )
        assert [r[0] for r in rows] == [g["title"] for g in card["goals"]]
        for row, goal in zip(rows, card["goals"]):
            shown = "–" if goal["period"]["value"] is None else _figure(goal["period"]["value"], goal["unit"])
            assert row[3] == shown
            assert row[6] == ("withheld (k)" if goal["suppressed"] else goal["verdict"])
        # Every week is listed with its status; a withheld week says so instead of a number.
        for goal in card["goals"]:
            statuses = page.eval_on_selector_all(
                f"#weeks-{goal['goal_id']} tbody tr td:last-child", "cells => cells.map((c) => c.innerText.trim())"
            )
            assert statuses == [w["status"] for w in goal["weeks"]]
        words = page.inner_text("#summary-words")
        assert f"{card['withheld_cells']} of {card['cells']} route-weeks were withheld" in words
        assert horizontal_overflow(page) == 0
        assert axe.check(page, f"{role}-scorecard") == []
        assert page.watch.problems() == []
        screenshot(page, f"{role}-scorecard-{'phone' if viewport is PHONE else 'desktop'}")
    finally:
        context.close()


def test_the_report_button_downloads_the_pdf_with_the_pages_figures(browser, pilot, goals, tmp_path):
    card, path = goals
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    try:
        open_page(page, path)
        with page.expect_download(timeout=60_000) as caught:
            page.click("#report-pdf")
        pdf = tmp_path / caught.value.suggested_filename
        caught.value.save_as(pdf)
        assert pdf.name.startswith("fleetpilot-report-") and pdf.read_bytes().startswith(b"%PDF")
        page.wait_for_function("document.getElementById('report-status').textContent.startsWith('Downloaded')")
        assert page.watch.problems() == []
    finally:
        context.close()
    text = " ".join(
        subprocess.run(
            [shutil.which("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    for goal in card["goals"]:
        assert goal["title"] in text
        if goal["period"]["value"] is not None:
            assert _figure(goal["period"]["value"], goal["unit"]) in text
    assert f"Groups withheld: {card['withheld_cells']} of {card['cells']} route-weeks" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            shutil.which("pdftoppm"),
            "-png",
            "-r",
            "70",
            "-f",
            "1",
            "-l",
            "1",
            str(pdf),
            str(ARTIFACTS / "browser-pilot-report"),
        ],
        check=True,
    )
