"""The transparency page as HTML, rendered from the same facts as its JSON twin."""

from __future__ import annotations

from html import escape

from fleetpilot.api.public.schemas import TransparencyOut

STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1d2733}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccd3da;padding:.4rem .6rem;
text-align:left;vertical-align:top}th{background:#eef2f5}code{background:#eef2f5;padding:0 .25rem}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(facts: TransparencyOut) -> str:
    drops = (
        _table(
            ["reason", "positions not stored", "events not stored"],
            [[d.reason.replace("_", " "), f"{d.fixes:,}", f"{d.events:,}"] for d in facts.not_stored_last_30_days],
        )
        if facts.not_stored_last_30_days
        else "<p>None in the last 30 days.</p>"
    )
    release = facts.latest_open_data
    open_data = (
        f"<p>Latest release: {escape(release.period_start)} to {escape(release.period_end)} (published "
        f"{escape(release.created_at)}), with the same rule of {release.k_min_shifts} shifts and "
        f'{release.k_min_people} people: <a href="{escape(release.datapackage)}">datapackage.json</a> '
        "lists every file (GeoParquet, GeoJSON, CSV) and describes every field.</p>"
        if release
        else "<p>No open-data release has been published yet.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fleetpilot — what we collect and who sees it</title><style>{STYLE}</style></head>
<body>
<h1>What this pilot collects, who sees it, and for how long</h1>
<p>This page is generated from the system's live settings (last changed {escape(facts.settings_updated_at)}).
The same facts as JSON: <code>/api/v1/transparency</code>.</p>
<h2>What is collected</h2>
{_table(["data", "when", "kept"], [[d.what, d.when, d.kept] for d in facts.collected])}
<h2>Who sees what</h2>
<p>Aggregates cover at least <strong>{facts.k_min_shifts} shifts</strong> and <strong>{facts.k_min_people}
different people</strong>; smaller groups are removed before anything leaves the server. No page ranks or
lists drivers. {facts.privacy_zones} privacy zone(s) are configured.</p>
{_table(["who", "may see"], [[", ".join(r.roles).replace("_", " "), r.meaning] for r in facts.access])}
<h2>Individual access</h2>
<p>In the last 30 days, someone other than the crew opened a shift {facts.individual_accesses_last_30_days}
time(s), each with a recorded purpose that the crew members can read in their own access log.</p>
<h2>Data not stored (last 30 days)</h2>
{drops}
<h2>Open data</h2>
{open_data}
</body></html>
"""
