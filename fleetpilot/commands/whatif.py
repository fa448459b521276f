"""fleetpilot whatif: prepare legs, list, ask questions, run scenarios, show stored answers."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import date, timedelta

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.localtime import today
from fleetpilot.settings import Settings

HELP = "what-if over history: prepare legs, ask library questions, run scenarios, show stored answers"
DEFAULT_DAYS = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="scenarios and questions with their parameters")
    listing.add_argument(
        "--markdown", action="store_true", help="the question library as the tables of docs/whatif.md (by topic)"
    )
    prep = sub.add_parser("prepare", help="compute legs for finished shifts (after ingest and rollup)")
    _period(prep)
    prep.add_argument("--recompute", action="store_true", help="redo shifts that already have legs (late data)")
    for name, what in (("ask", "a library question"), ("scenario", "a scenario")):
        cmd = sub.add_parser(name, help=f"answer {what} (stored; asking again returns the stored answer)")
        cmd.add_argument("name", help="question or scenario id (see `fleetpilot whatif list`)")
        cmd.add_argument(
            "-p",
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a parameter; VALUE is JSON when it parses as JSON (numbers, lists, a GeoJSON polygon)",
        )
        _period(cmd)
        cmd.add_argument("--json", action="store_true", help="print the whole stored answer as JSON")
    show = sub.add_parser("show", help="print a stored answer by its id")
    show.add_argument("result_id")
    show.add_argument("--json", action="store_true")


def _period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="start",
        type=date.fromisoformat,
        help="first local day of the city (default: 30 days before --to)",
    )
    parser.add_argument(
        "--to", dest="end", type=date.fromisoformat, help="local day after the last one (default: the city's tomorrow)"
    )


def _days(args: argparse.Namespace, tz: str) -> tuple[date, date]:
    end = args.end or today(tz) + timedelta(days=1)
    return args.start or end - timedelta(days=DEFAULT_DAYS), end


def parse_params(pairs: list[str]) -> dict:
    from fleetpilot.api.whatif.service import WhatIfError

    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise WhatIfError(f"parameters are NAME=VALUE, got {pair!r}")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def run(args: argparse.Namespace, settings: Settings) -> int:
    from fleetpilot.api.whatif import service

    if args.action == "list":
        if args.markdown:
            print(questions_markdown(), end="")
        else:
            _print_catalog(service.catalog())
        return 0
    return asyncio.run(_run(args, resolve_database_url(settings), settings.timezone))


async def _run(args: argparse.Namespace, url: str, tz: str) -> int:
    from fleetpilot.analytics.whatif.privacy import Privacy
    from fleetpilot.api.policy import AggregateScope, released_shifts, whole_weeks
    from fleetpilot.api.whatif import service
    from fleetpilot.rollup.whatif.prepare import prepare

    conn = await connect(url)
    try:
        if args.action == "prepare":
            start, end = _days(args, tz)
            report = await prepare(conn, start, end, recompute=args.recompute, tz=tz)
            print(
                f"prepared {report.shifts} shifts ({report.legs} legs from {report.fixes} fixes) in "
                f"{report.seconds:.1f} s; purged {report.purged} expired shifts"
            )
            return 0
        if args.action == "show":
            stored = await service.get(conn, args.result_id)
            if stored is None:
                raise service.WhatIfError(f"no stored answer {args.result_id}")
        else:
            start, end = _days(args, tz)
            row = await conn.fetchrow("SELECT k_min_shifts, k_min_people FROM privacy_settings")
            if row is None:
                raise service.WhatIfError("privacy settings missing; run `fleetpilot migrate`")
            kind = "question" if args.action == "ask" else "scenario"
            # The API's release rule (decision 0004): whole weeks, released (route, week) cells only.
            scope = AggregateScope(*whole_weeks((start, end)), row["k_min_shifts"], row["k_min_people"])
            stored = await service.answer(
                conn,
                kind,
                args.name,
                parse_params(args.param),
                scope.start,
                scope.end,
                Privacy(scope.k_shifts, scope.k_people),
                tz,  # hours of day and days are the city's (FLEETPILOT_TIMEZONE)
                released=await released_shifts(conn, scope, tz),
            )
    finally:
        await conn.close()
    if args.json:
        print(json.dumps({**stored.__dict__, "created_at": stored.created_at.isoformat()}, indent=2))
    else:
        _print_answer(stored)
    return 0


def questions_markdown() -> str:
    """The library by topic, one table each: id, question, parameters, how it is built, method."""
    from fleetpilot.analytics.whatif.questions import QUESTIONS
    from fleetpilot.analytics.whatif.questions.library import TOPICS

    by_topic: dict[str, list[str]] = {t: [] for t in TOPICS}
    for q in QUESTIONS.values():
        params = "; ".join(
            f"`{p.name}` ({p.default!r})" + (f" ∈ {', '.join(map(str, p.choices))}" if p.choices else "")
            for p in q.params
        )
        if q.spec is not None:
            s = q.spec
            built = f"{s.source} by {s.group}" + (f", {' & '.join(s.filters)}" if s.filters else "")
            built += f"; {s.chart.kind}; k over {s.privacy}"
        else:
            built = f"code (`questions/{q.fn.__module__.rsplit('.', 1)[-1]}.py`)"
        cell = q.method.replace("|", "\\|")
        by_topic[q.topic].append(f"| `{q.id}` | {q.title} | {params or '—'} | {built} | {cell} |")
    out = []
    for topic, lines in by_topic.items():
        out += [f"### {topic} ({len(lines)})", "", "| id | question | parameters (default) | built as | method |"]
        out += ["|---|---|---|---|---|", *lines, ""]
    return "\n".join(out)


def _print_catalog(catalog: dict) -> None:
    for group in ("scenarios", "questions"):
        print(f"{group}:")
        for item in catalog[group]:
            params = ", ".join(
                f"{p['name']}={p['default']!r}"
                for p in item["params"]
                if p["name"]
                not in (
                    "seed",
                    "replicates",
                    "paid_hours",
                    "fuel_l_per_km",
                    "fuel_l_per_engine_h",
                    "co2_kg_per_l",
                    "hotspot_top",
                    "hotspots",
                )
            )
            print(f"  {item['id']:34s} {item['title']}")
            if params:
                print(f"  {'':34s}   ({params})")


def _print_answer(stored) -> None:
    a = stored.answer
    print(
        f"{a['title']}   [{stored.kind} {stored.name}, id {stored.result_id}{', stored earlier' if stored.cached else ''}]"
    )
    if stored.kind == "question":
        n = a["number"]
        print(f"  {n['label']}: {_fmt(n['value'])} {n['unit']}")
        table = a["table"]
        print("  " + " | ".join(table["columns"]))
        for row in table["rows"][:15]:
            print("  " + " | ".join(_fmt(v) for v in row))
        if len(table["rows"]) > 15:
            print(f"  … {len(table['rows']) - 15} more rows (--json for all)")
        if a["suppressed"]:
            print(f"  {a['suppressed']} group(s) suppressed (k)")
    else:
        p = a["period"]
        print(f"  period {p['first_day']} … {p['last_day']}: {p['days']} days, {p['shifts']} shifts")
        for k in a["kpis"]:
            mark = "" if k["modelled"] else f"   (held: {k['note']})"
            print(
                f"  {k['name']:16s} {_fmt(k['baseline']):>12} → {_fmt(k['scenario']):>12} {k['unit']:7s} "
                f"Δ {_fmt(k['delta'])} [{_fmt(k['delta_lo'])}, {_fmt(k['delta_hi'])}]{mark}"
            )
    print("  assumptions:")
    for line in a["assumptions"]:
        print(f"    - {line}")
    for note in a["notes"]:
        print(f"  note: {note}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "—" if value is None else str(value)
