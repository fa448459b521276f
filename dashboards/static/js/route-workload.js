// Workload balance between routes (issue 18, item 4), on the plans page: per route — never
// per person — what its plan asks (stops, streets) and how long its shifts ran over the last
// eight weeks (GET routes/workload: released (route, week) cells only, decision 0004), and the
// what-if engine's rebalance scenario one click away (POST routes/workload/rebalance: the
// answer a data officer gets from the what-if page, with its interval and assumptions).

import { sendJson, getJson } from "./api.js";
import * as fmt from "./format.js";
import { guarded } from "./shell.js";
import { tableHtml } from "./tables.js";

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;
const WEEKS_SHOWN = 8;
// Resamples of the scenario's bootstrap: enough for a stable interval in a few seconds.
const REPLICATES = 200;

function period() {
  const today = Date.parse(`${fmt.today()}T00:00:00Z`);
  return { from: new Date(today - WEEKS_SHOWN * 7 * DAY_MS).toISOString().slice(0, 10), to: new Date(today + DAY_MS).toISOString().slice(0, 10) };
}

const hours = (h) => (h === null || h === undefined ? "–" : `${fmt.number(h, 2)} h`);

function workloadRows(body) {
  return body.routes.map((r) => {
    const p = r.performance;
    const withheld = `<span class="badge">withheld (k)</span>`;
    const worked = p.suppressed ? Array(6).fill(withheld) : [
      fmt.number(p.shifts), hours(p.hours_per_shift),
      body.hours_mean === null ? "–" : `${p.hours_per_shift >= body.hours_mean ? "+" : "−"}${fmt.number(Math.abs(p.hours_per_shift - body.hours_mean) * 60)} min`,
      hours(p.overtime_h_per_shift), fmt.percent(p.overtime_share), `${fmt.number(p.queue_min_per_shift)} min`,
    ];
    return [`${fmt.esc(r.route_id)}<br><span class="note">${fmt.esc(r.name)}</span>`, fmt.number(r.version), fmt.number(r.plan.stops),
      fmt.number(r.plan.streets), fmt.number(r.plan.service_km, 1), ...worked];
  });
}

async function showWorkload() {
  const body = await getJson("routes/workload", period());
  $("workload-table").innerHTML = tableHtml({
    caption: `Workload per route, shifts ${body.start} to ${body.end}`, id: "workload", stack: true,
    columns: [{ label: "Route" }, { label: "Plan version", num: true }, { label: "Planned stops", num: true },
      { label: "Streets", num: true }, { label: "Service km", num: true }, { label: "Shifts", num: true },
      { label: "Shift length", num: true }, { label: "Against the routes' mean", num: true },
      { label: `Overtime per shift (beyond ${body.paid_hours} h)`, num: true }, { label: "Shifts with overtime", num: true },
      { label: "Queue at facilities per shift", num: true }],
    rows: workloadRows(body),
  });
  const shown = body.routes.filter((r) => !r.performance.suppressed).length;
  $("workload-summary").textContent = body.hours_spread === null
    ? `Too few routes with released weeks to compare their shift lengths (${shown}).`
    : `Shift length differs by ${fmt.number(body.hours_spread * 60)} min between the longest and the shortest of ${shown} routes (mean ${hours(body.hours_mean)}); whole weeks from ${fmt.day(body.start)} to ${fmt.day(new Date(Date.parse(`${body.end}T00:00:00Z`) - DAY_MS).toISOString().slice(0, 10))}.`;
}

function kpiLine(kpis, name, words) {
  const k = kpis.find((x) => x.name === name);
  if (!k) return "";
  const sign = (v) => `${v >= 0 ? "+" : "−"}${fmt.number(Math.abs(v), 1)}`;
  return `<li>${fmt.esc(words)}: ${fmt.number(k.baseline, 1)} → ${fmt.number(k.scenario, 1)} ${fmt.esc(k.unit)}
    (${sign(k.delta)}, 95 % interval ${sign(k.delta_lo)} to ${sign(k.delta_hi)})</li>`;
}

async function rebalance() {
  $("rebalance").disabled = true;
  $("rebalance-result").textContent = "Replaying the last eight weeks with streets handed between touching routes…";
  try {
    const result = await sendJson("POST", "routes/workload/rebalance", { params: { replicates: REPLICATES } }, period());
    const answer = result.answer;
    const byRoute = answer.tables.find((t) => t.name === "hours per shift by route");
    const moves = answer.tables.find((t) => t.name === "moves");
    $("rebalance-result").innerHTML = `<h3>Expected effect of rebalancing</h3>
      <p>${fmt.esc((answer.notes || []).join("; "))}.</p>
      <ul id="rebalance-kpis">${kpiLine(answer.kpis, "truck_hours", "Truck-hours per day, all routes")}${kpiLine(answer.kpis, "overtime_hours", "Overtime hours per day, all routes")}</ul>
      <p class="note">The scenario counts a shift's hours from leaving the depot to coming back, so they are a little shorter than the on-duty hours in the table above.</p>
      ${byRoute ? tableHtml({ caption: "Hours per shift by route, before and after", id: "rebalance-routes",
        columns: [{ label: "Route" }, { label: "Before", num: true }, { label: "After", num: true }, { label: "Note" }],
        rows: byRoute.rows.map(([route, before, after, note]) => [fmt.esc(route), hours(before), hours(after), fmt.esc(note)]) }) : ""}
      ${moves && moves.rows.length ? `<details><summary>${moves.rows.length} street(s) that would move</summary>${tableHtml({
        caption: "Streets that would move", columns: [{ label: "Street" }, { label: "From" }, { label: "To" }, { label: "Minutes per visit", num: true }],
        rows: moves.rows.map(([seg, from, to, min]) => [fmt.esc(seg), fmt.esc(from), fmt.esc(to), fmt.number(min, 1)]) })}</details>` : ""}
      <details><summary>Assumptions</summary><ul>${answer.assumptions.map((a) => `<li>${fmt.esc(a)}</li>`).join("")}</ul></details>
      <p class="note">A what-if over history, not a plan: nothing is saved. Answer ${fmt.esc(result.result_id)}.</p>`;
    $("rebalance-result").dataset.answered = "true";
  } finally {
    $("rebalance").disabled = false;
  }
}

$("rebalance").addEventListener("click", guarded(rebalance));
guarded(showWorkload)();
