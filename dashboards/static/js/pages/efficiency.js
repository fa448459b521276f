// Route efficiency by week: one small chart per measure with one line per route, and the
// full table. Routes appear in route-id order; nothing here is about a person, and weeks
// the API withholds (fewer than k shifts or people) are gaps, not zeros.

import { getJson } from "../api.js";
import { dayRange, dayRangeFields, reloadWith } from "../controls.js";
import * as fmt from "../format.js";
import { drawChart } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);

// Each measure: field of the API's Efficiency, title, axis unit, value → axis number, value → table text.
const MEASURES = [
  { field: "coverage_mean", title: "Coverage of planned streets", unit: "%", axis: (v) => v * 100, text: (v) => fmt.percent(v, 1) },
  { field: "deadhead_share", title: "Deadhead (driving without collecting)", unit: "% of distance", axis: (v) => v * 100, text: (v) => fmt.percent(v, 1) },
  { field: "idle_min_per_shift", title: "Idle with engine on", unit: "min per shift", axis: (v) => v, text: (v) => `${fmt.number(v, 1)} min` },
  { field: "dwell_mean_s", title: "Dwell per stop", unit: "s", axis: (v) => v, text: (v) => `${fmt.number(v, 1)} s` },
  { field: "turnaround_mean_s", title: "Turnaround at transfer station / landfill", unit: "min", axis: (v) => v / 60, text: (v) => fmt.minutes(v, 1) },
];
const PALETTE = ["#14365d", "#0b6e4f", "#a4161a", "#8a4b00", "#5b3f8c", "#00616e", "#7a5c00", "#9c2f6e", "#3d5a1e", "#465a75"];

function weekLabel(day) {
  return day ? `w/c ${new Date(`${day}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" })}` : "whole period";
}

startPage("efficiency", async () => {
  const range = dayRange(56);
  $("range-fields").innerHTML = dayRangeFields(range);
  $("filters").addEventListener("submit", guarded((event) => {
    event.preventDefault();
    reloadWith(event.target);
  }));
  const routes = (await getJson("efficiency/routes", { ...range.api, bucket: "week" }))
    .sort((a, b) => a.route_id.localeCompare(b.route_id, "en", { numeric: true }));
  const weeks = [...new Set(routes.flatMap((r) => r.periods.map((p) => p.period_start)))].sort();

  $("charts").innerHTML = MEASURES.map((m) => `<section class="card" aria-labelledby="h-${m.field}">
    <h2 id="h-${m.field}">${fmt.esc(m.title)}</h2><div id="chart-${m.field}" class="chart"></div></section>`).join("");
  await Promise.all(MEASURES.map((m) => {
    const traces = routes.map((r, i) => {
      const byWeek = new Map(r.periods.map((p) => [p.period_start, p]));
      return {
        type: "scatter", mode: "lines+markers", name: r.route_id, connectgaps: false,
        x: weeks.map(weekLabel),
        y: weeks.map((w) => {
          const value = byWeek.get(w)?.[m.field];
          return value === null || value === undefined ? null : m.axis(value);
        }),
        line: { color: PALETTE[i % PALETTE.length], width: 2 },
      };
    });
    return drawChart($(`chart-${m.field}`), traces, {
      height: 280, xaxis: { type: "category" }, yaxis: { title: { text: m.unit }, rangemode: "tozero" },
    }, `${m.title} per route and week, ${m.unit}`);
  }));

  const rows = routes.flatMap((r) => [...r.periods, r.whole_range].map((p) => [
    fmt.esc(r.route_id), fmt.esc(weekLabel(p.period_start)),
    p.suppressed ? "withheld (k)" : fmt.number(p.shifts),
    ...MEASURES.map((m) => (p.suppressed || p[m.field] === null ? "–" : m.text(p[m.field]))),
  ]));
  $("efficiency-table").innerHTML = tableHtml({
    caption: "Route efficiency by week", id: "eff-table", empty: "No shifts in this period.", scroll: true,
    columns: [{ label: "Route" }, { label: "Week" }, { label: "Shifts", num: true },
      ...MEASURES.map((m) => ({ label: m.title, num: true }))],
    rows,
  });
});
