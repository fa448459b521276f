"""Issue 16, item 4: the data officer runs a question session on the page — opens it, records a
question, triages it as needing data, and downloads the session as one document that holds
the question, its department and its triage; phone and desktop screenshots."""

from __future__ import annotations

import pytest
from browser.harness import DESKTOP, PHONE, Watch, horizontal_overflow, open_page, screenshot, signed_in_context

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_session_is_recorded_triaged_and_exported_on_the_page(browser, pilot, axe, viewport, tmp_path):
    name = "desktop" if viewport is DESKTOP else "phone"
    context = signed_in_context(browser, pilot.base, pilot.tokens["data_officer"], viewport)
    page = context.new_page()
    page.watch = Watch().attach(page)
    try:
        open_page(page, "sessions.html")
        page.fill("#session-title", f"Agency heads ({name})")
        with page.expect_navigation():
            page.click("#session-form button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        assert f"Agency heads ({name})" in page.inner_text("#session-pick")
        page.fill("#q-text", "Which streets are missed most after a holiday?")
        page.fill("#q-dept", "Public Works")
        page.click("#question-form button[type=submit]")
        page.wait_for_selector("#session-questions form.triage")
        page.select_option("form.triage select[name=triage]", "needs_data")
        page.fill("form.triage input[name=needs_data]", "the holiday calendar of past years")
        page.click("form.triage button[type=submit]")
        page.wait_for_function(
            "document.querySelector('#session-questions').innerText.includes(\"needs data we don't have\")"
        )
        assert horizontal_overflow(page) == 0
        assert axe.check(page, f"data_officer-sessions-{name}") == []
        screenshot(page, f"data_officer-sessions-{name}")
        with page.expect_download() as caught:
            page.click("#export")
        saved = tmp_path / caught.value.suggested_filename
        caught.value.save_as(saved)
        doc = " ".join(saved.read_text().split())
        assert "Which streets are missed most after a holiday?" in doc and "Public Works" in doc
        assert "needs: the holiday calendar of past years" in doc
        assert page.watch.problems() == []
    finally:
        context.close()
