"""Plotly figure specs (plain JSON) for answers; the dashboard renders them with plotly.js."""

from __future__ import annotations

from collections.abc import Sequence


def _layout(title: str, x_title: str, y_title: str) -> dict:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
    }


def bar(
    x: Sequence,
    y: Sequence,
    title: str,
    x_title: str,
    y_title: str,
    *,
    horizontal: bool = False,
    error_minus: Sequence | None = None,
    error_plus: Sequence | None = None,
    name: str | None = None,
) -> dict:
    trace: dict = {"type": "bar", "x": list(y) if horizontal else list(x), "y": list(x) if horizontal else list(y)}
    if horizontal:
        trace["orientation"] = "h"
    if name:
        trace["name"] = name
    if error_minus is not None and error_plus is not None:
        key = "error_x" if horizontal else "error_y"
        trace[key] = {"type": "data", "symmetric": False, "array": list(error_plus), "arrayminus": list(error_minus)}
    layout = _layout(title, y_title if horizontal else x_title, x_title if horizontal else y_title)
    return {"data": [trace], "layout": layout}


def grouped_bars(x: Sequence, series: dict[str, Sequence], title: str, x_title: str, y_title: str) -> dict:
    data = [{"type": "bar", "name": name, "x": list(x), "y": list(values)} for name, values in series.items()]
    layout = _layout(title, x_title, y_title)
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}


def lines(x: Sequence, series: dict[str, Sequence], title: str, x_title: str, y_title: str) -> dict:
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": list(x), "y": list(values)}
        for name, values in series.items()
    ]
    return {"data": data, "layout": _layout(title, x_title, y_title)}


def kpi_deltas(kpis: list[dict], title: str) -> dict:
    """Horizontal bars: each KPI's delta in % of its baseline, with the interval as error bars."""
    shown = [k for k in kpis if k["baseline"]]
    pct = [100.0 * k["delta"] / abs(k["baseline"]) for k in shown]
    lo = [100.0 * (k["delta"] - k["delta_lo"]) / abs(k["baseline"]) for k in shown]
    hi = [100.0 * (k["delta_hi"] - k["delta"]) / abs(k["baseline"]) for k in shown]
    labels = [f"{k['name']} ({k['unit']})" for k in shown]
    return bar(labels, pct, title, "KPI", "change vs baseline (%)", horizontal=True, error_minus=lo, error_plus=hi)
