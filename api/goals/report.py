"""The pilot report: goals against targets, the privacy record, method and limits — HTML, and
PDF from the same HTML (WeasyPrint). For a council or another city: it holds fleet-wide
figures of released groups only and no personal data (no person, user name, shift or truck).
Charts are inline SVG drawn here, so the HTML and the PDF show the same picture with no
plotting library and nothing fetched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import asyncpg
import jinja2
from markupsafe import Markup, escape

from fleetpilot import localtime
from fleetpilot.analytics.goals import FACTORS
from fleetpilot.api import policy
from fleetpilot.api.goals import service

Format = Literal["html", "pdf"]
TEMPLATE = Path(__file__).with_name("report.html")

DROPS = """
SELECT reason, sum(fixes)::bigint AS fixes, sum(events)::bigint AS events
FROM privacy_drops WHERE day >= $1 AND day < $2 GROUP BY reason ORDER BY reason
"""
# Individual accesses by stated purpose: one access is one opening of one shift (the log has a
# row per crew member of it). Neither who opened it nor whose it was leaves.
ACCESSES = """
SELECT purpose, count(DISTINCT (shift_id, at)) AS accesses
FROM audit_log WHERE action = 'open_shift' AND at >= $1 AND at < $2
GROUP BY purpose ORDER BY accesses DESC, purpose
"""
RETENTION_RUNS = """
SELECT run_at, cutoff, partitions_dropped, positions_expired, rejects_purged
FROM retention_runs WHERE run_at >= $1 AND run_at < $2 ORDER BY run_at
"""
SETTINGS = "SELECT retention_days, deadletter_days, k_min_shifts, k_min_people FROM privacy_settings"
# The shifts the figures are computed from: those of released route-weeks ($1, policy.release)
# only. Counted over every shift, a range minus its weeks gave a withheld week's shifts,
# trucks and routes (issue 13).
SOURCES = """
SELECT count(*) AS shifts, count(DISTINCT vehicle_id) AS vehicles, count(DISTINCT route_id) AS routes
FROM shift_metrics WHERE shift_id = ANY($1::text[]) AND day >= $2 AND day < $3
"""


@dataclass(frozen=True)
class Report:
    html: str
    card: service.Scorecard


def _fmt(value: float | None, unit: str = "") -> str:
    """A figure with its unit (none: the bare number, for an interval after its value)."""
    if value is None:
        return "–"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    return f"{text} %" if unit == "%" else f"{text} {unit}".strip()


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _last(day: date) -> str:
    """The last day of a [start, end) range, in words."""
    return _day(date.fromordinal(day.toordinal() - 1))


def _tick(value: float) -> str:
    """An axis label that fits 50 user units: 21.6k rather than 2.16e+04."""
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}"


def chart(goal: dict) -> str:
    """Weekly values with their 95 % intervals, the target (dashed) and the baseline (dotted),
    as an SVG of 640 × 200 user units."""
    weeks = [w for w in goal["weeks"] if w["value"] is not None]
    if not goal["weeks"]:
        return ""
    w, h, left, right, top, bottom = 640, 200, 56, 12, 12, 34
    values = [goal["target"]] + [v for x in weeks for v in (x["lo"], x["hi"], x["value"])]
    if goal.get("baseline") and goal["baseline"]["value"] is not None:
        values.append(goal["baseline"]["value"])
    lo, hi = min(0.0, *values), max(values)
    hi = hi if hi > lo else lo + 1
    hi += (hi - lo) * 0.08

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - (v - lo) / (hi - lo))

    n = len(goal["weeks"])
    step = (w - left - right) / max(n, 1)

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{escape(goal["title"])}: weekly values with 95 % intervals against the target" class="chart">',
        f'<line x1="{left}" y1="{y(lo):.1f}" x2="{w - right}" y2="{y(lo):.1f}" stroke="#555"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(lo):.1f}" stroke="#555"/>',
    ]
    for tick in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{_tick(tick)}</text>'
        )
    parts += [
        f'<line x1="{left}" y1="{y(goal["target"]):.1f}" x2="{w - right}" y2="{y(goal["target"]):.1f}" '
        'stroke="#0b6e4f" stroke-width="2" stroke-dasharray="6 4"/>',
        f'<text x="{w - right}" y="{y(goal["target"]) - 4:.1f}" font-size="10" text-anchor="end" fill="#0b6e4f">'
        "target</text>",
    ]
    base = goal.get("baseline")
    if base and base["value"] is not None:
        parts += [
            f'<line x1="{left}" y1="{y(base["value"]):.1f}" x2="{w - right}" y2="{y(base["value"]):.1f}" '
            'stroke="#8a4b00" stroke-width="1.5" stroke-dasharray="2 3"/>',
            f'<text x="{w - right}" y="{y(base["value"]) + 12:.1f}" font-size="10" text-anchor="end" fill="#8a4b00">'
            "baseline</text>",
        ]
    for i, week in enumerate(goal["weeks"]):
        if i % max(1, n // 8) == 0:
            label = week["week"].strftime("%d %b")
            parts.append(f'<text x="{x(i):.1f}" y="{h - 14}" font-size="11" text-anchor="middle">{label}</text>')
        if week["value"] is None:
            mark = "k" if week["status"].startswith("withheld") else "–"
            parts.append(f'<text x="{x(i):.1f}" y="{y(lo) - 4:.1f}" font-size="10" text-anchor="middle">{mark}</text>')
            continue
        parts.append(
            f'<line x1="{x(i):.1f}" y1="{y(week["lo"]):.1f}" x2="{x(i):.1f}" y2="{y(week["hi"]):.1f}" '
            'stroke="#14365d" stroke-width="2"/>'
        )
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(week["value"]):.1f}" r="4" fill="#14365d"/>')
    parts.append("</svg>")
    return "".join(parts)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["fmt"] = _fmt
    env.filters["day"] = _day
    env.filters["last"] = _last
    env.globals["chart"] = lambda goal: Markup(chart(goal))  # noqa: S704 - every value in it is a number or escaped
    return env


async def build(conn: asyncpg.Connection, scope: policy.AggregateScope, tz: str) -> Report:
    card = await service.scorecard(conn, scope, tz)
    released = await policy.release(conn, scope, tz)
    lo, hi = localtime.day_bounds(scope.start, scope.end, tz)
    settings = await conn.fetchrow(SETTINGS)
    goals = card.goals
    html = (
        _environment()
        .get_template(TEMPLATE.name)
        .render(
            card=card,
            goals=goals,
            met=[g for g in goals if g["verdict"] == "met"],
            missed=[g for g in goals if g["verdict"] == "missed"],
            unclear=[g for g in goals if g["verdict"] in ("too close to call", "no data")],
            drops=await conn.fetch(DROPS, scope.start, scope.end),
            accesses=await conn.fetch(ACCESSES, lo, hi),
            retention=[
                {**dict(r), "run_at": r["run_at"].astimezone(localtime.zone(tz)).strftime("%Y-%m-%d %H:%M %Z")}
                for r in await conn.fetch(RETENTION_RUNS, lo, hi)
            ],
            settings=settings,
            sources=await conn.fetchrow(SOURCES, list(released.shifts), scope.start, scope.end),
            factors=FACTORS,
            generated=datetime.now(localtime.zone(tz)).strftime("%d %b %Y %H:%M %Z"),
        )
    )
    return Report(html, card)


def render_pdf(html: str) -> tuple[bytes, int]:
    """The same HTML as PDF, and its number of pages (WeasyPrint)."""
    import weasyprint  # imported on use: it loads pango, which the rest of the API never needs

    document = weasyprint.HTML(string=html).render()
    return document.write_pdf(), len(document.pages)


async def to_pdf(html: str) -> bytes:
    """render_pdf off the event loop (CPU-bound: about a second for a few pages)."""
    return (await asyncio.to_thread(render_pdf, html))[0]
