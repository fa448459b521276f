// The pilot's goals: per goal the weekly values with their 95 % intervals, the baseline and
// the target, and a verdict that counts a target as met or missed only when the whole
// interval lies on one side. Every role opens it (crews included): the figures are fleet-wide,
// from route-weeks that pass the k rule; withheld weeks are gaps with the reason.

import { download, getJson } from "../api.js";
import { dayRange, dayRangeFields, reloadWith } from "../controls.js";
import * as fmt from "../format.js";
import { drawChart } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const VERDICT_CLASS = { met: "good", missed: "bad" };

function figure(value, unit, digits) {
  if (value === null || value === undefined) return "–";
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return unit === "%" ? `${fmt.number(value, d)} %` : `${fmt.number(value, d)} ${unit}`;
}

function weekLabel(day) {
  return `w/c ${new Date(`${day}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" })}`;
}

function sign(goal) {
  return goal.direction === "at_least" ? "at least" : "at most";
}

function verdictHtml(goal) {
  const words = goal.suppressed ? "withheld (k)" : goal.verdict;
  return `<span class="verdict ${VERDICT_CLASS[goal.verdict] || "unclear"}">${fmt.esc(words)}</span>`;
}

startPage("scorecard", async () => {
  const range = dayRange(56);
  $("range-fields").innerHTML = dayRangeFields(range);
  $("filters").addEventListener("submit", guarded((event) => {
    event.preventDefault();
    reloadWith(event.target);
  }));
  $("report-pdf").addEventListener("click", guarded(async () => {
    $("report-status").textContent = "Preparing the report…";
    const saved = await download("goals/report", { ...range.api, format: "pdf" }, "pilot-report.pdf");
    $("report-status").textContent = `Downloaded ${saved.name} (${fmt.number(saved.bytes / 1024)} kB).`;
  }));

  const card = await getJson("goals/scorecard", range.api);
  const goals = card.goals;
  const count = (v) => goals.filter((g) => g.verdict === v).length;
  $("summary-words").textContent = goals.length
    ? `${goals.length} goals: ${count("met")} met, ${count("missed")} missed, ${goals.length - count("met") - count("missed")} not decided. `
      + `${card.withheld_cells} of ${card.cells} route-weeks were withheld (fewer than ${card.k_shifts} shifts or ${card.k_people} drivers).`
    : "No goals have been set yet. A data officer or administrator sets them.";
  $("summary-table").innerHTML = tableHtml({
    caption: "Goals against their targets", id: "summary", stack: true, empty: "No goals.",
    columns: [{ label: "Goal" }, { label: "Owner" }, { label: "Baseline", num: true }, { label: "This period", num: true },
      { label: "95 % interval", num: true }, { label: "Target", num: true }, { label: "Verdict" }],
    rows: goals.map((g) => [
      `<a href="#goal-${fmt.esc(g.goal_id)}">${fmt.esc(g.title)}</a>`, fmt.esc(g.department),
      g.baseline ? figure(g.baseline.value, g.unit) : "–", figure(g.period.value, g.unit),
      g.period.lo === null || !g.period.days ? "–" : `${figure(g.period.lo, "")}–${figure(g.period.hi, "")}`.replaceAll(" ", ""),
      `${sign(g)} ${figure(g.target, g.unit)}`, verdictHtml(g),
    ]),
  });

  $("goals").innerHTML = goals.map((g) => `<section class="card goal" id="goal-${fmt.esc(g.goal_id)}" aria-labelledby="h-${fmt.esc(g.goal_id)}">
    <h2 id="h-${fmt.esc(g.goal_id)}">${fmt.esc(g.title)} ${verdictHtml(g)}</h2>
    <p>${fmt.esc(g.definition)}</p>
    <p class="muted">Target: ${sign(g)} ${figure(g.target, g.unit)} · owner: ${fmt.esc(g.department)} · version ${g.version}
      ${g.history.length > 1 ? ` (earlier targets: ${g.history.slice(0, -1).map((h) => figure(h.target, g.unit)).join(", ")})` : ""}<br>
      Measure: ${fmt.esc(g.kpi_definition)}</p>
    ${g.note ? `<p class="notice">${fmt.esc(g.note)}</p>` : ""}
    ${g.weeks.length ? `<div id="chart-${fmt.esc(g.goal_id)}" class="chart"></div><div id="weeks-${fmt.esc(g.goal_id)}"></div>` : ""}
  </section>`).join("");

  await Promise.all(goals.filter((g) => g.weeks.length).map((g) => {
    const shown = g.weeks.filter((w) => w.value !== null);
    const x = g.weeks.map((w) => weekLabel(w.week));
    const traces = [
      {
        type: "scatter", mode: "markers", name: "week (95 % interval)", x: shown.map((w) => weekLabel(w.week)), y: shown.map((w) => w.value),
        error_y: { type: "data", symmetric: false, array: shown.map((w) => w.hi - w.value), arrayminus: shown.map((w) => w.value - w.lo), color: "#14365d" },
        marker: { color: "#14365d", size: 9 },
      },
      { type: "scatter", mode: "lines", name: "target", x, y: x.map(() => g.target), line: { color: "#0b6e4f", dash: "dash", width: 2 } },
    ];
    if (g.baseline && g.baseline.value !== null) {
      traces.push({ type: "scatter", mode: "lines", name: "baseline", x, y: x.map(() => g.baseline.value), line: { color: "#8a4b00", dash: "dot", width: 2 } });
    }
    $(`weeks-${g.goal_id}`).innerHTML = tableHtml({
      caption: `${g.title} by week`,
      columns: [{ label: "Week" }, { label: "Value", num: true }, { label: "95 % interval", num: true }, { label: "Status" }],
      rows: g.weeks.map((w) => [fmt.esc(weekLabel(w.week)), figure(w.value, g.unit),
        w.value === null ? "–" : `${figure(w.lo, "")}–${figure(w.hi, "")}`.replaceAll(" ", ""), fmt.esc(w.status)]),
    });
    return drawChart($(`chart-${g.goal_id}`), traces, {
      height: 260, margin: { l: 48, r: 28, t: 8, b: 40 }, xaxis: { type: "category", categoryarray: x }, yaxis: { title: { text: g.unit }, rangemode: "tozero" },
    }, `${g.title}: weekly values with 95 % intervals, the target and the baseline`);
  }));
});
