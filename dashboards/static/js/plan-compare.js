// Two versions of a route side by side (issue 21, item 5), on the plans page: each version on
// its own map, coloured by what changed from the first to the second, and a table of the
// plans' figures beside how the shifts that drove each worked out (GET routes/{id}/compare:
// route-level, from weeks the k rule releases; decision 0004). The route is the one the page
// has open (#route); the version lists follow it and refill after a save.

import { getJson } from "./api.js";
import * as fmt from "./format.js";
import { cityLayer, cityTraces, COLOURS, drawMap, lineTrace } from "./map.js";
import { guarded } from "./shell.js";
import { tableHtml } from "./tables.js";

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;
const WEEKS_SHOWN = 8;

const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const routeId = () => $("route").value || new URLSearchParams(location.search).get("route");

async function fillVersions() {
  const id = routeId();
  if (!id) return;
  const route = await getJson(`routes/${encodeURIComponent(id)}`);
  const options = [...route.history].reverse().map((v) =>
    `<option value="${v.version}">${v.version}${v.note ? ` — ${fmt.esc(v.note.slice(0, 40))}` : ""}</option>`).join("");
  $("compare-a").innerHTML = options;
  $("compare-b").innerHTML = options;
  $("compare-b").value = String(route.current_version);
  $("compare-a").value = String(Math.max(1, route.current_version - 1));
}

function figureRows(cmp) {
  const a = cmp.a;
  const b = cmp.b;
  const perf = (side, key, format) => (side.performance.suppressed ? "withheld (k)" : format(side.performance[key]));
  const hours = (h) => (h === null || h === undefined ? "–" : `${fmt.number(h, 2)} h`);
  const rows = [
    ["Applies from", (s) => (s.effective_from ? fmt.day(s.effective_from) : "the start")],
    ["Streets collected", (s) => fmt.number(s.plan.streets)],
    ["Stops", (s) => fmt.number(s.plan.stops)],
    ["Service streets, km", (s) => fmt.number(s.plan.service_km, 1)],
    ["Whole plan, km", (s) => fmt.number(s.plan.plan_km, 1)],
    ["Shifts driven (released weeks)", (s) => perf(s, "shifts", fmt.number)],
    ["Planned streets covered", (s) => perf(s, "coverage_mean", (v) => fmt.percent(v, 1))],
    ["Shift length", (s) => perf(s, "hours_per_shift", hours)],
    [`Overtime per shift (beyond ${cmp.paid_hours} h)`, (s) => perf(s, "overtime_h_per_shift", hours)],
    ["Shifts with overtime", (s) => perf(s, "overtime_share", (v) => fmt.percent(v))],
    ["Distance per shift", (s) => perf(s, "km_per_shift", (v) => `${fmt.number(v, 1)} km`)],
    ["Queue at facilities per shift", (s) => perf(s, "queue_min_per_shift", (v) => `${fmt.number(v)} min`)],
    ["Weeks left out (k)", (s) => fmt.number(s.performance.withheld_weeks)],
  ];
  return rows.map(([label, value]) => [fmt.esc(label), fmt.esc(value(a)), fmt.esc(value(b))]);
}

function changesHtml(cmp) {
  const name = (s) => fmt.esc(s.name || s.segment_id);
  const list = (items, words) => (items.length ? `<li>${words}: ${items.join(", ")}</li>` : "");
  const body = list(cmp.added.map(name), "New streets")
    + list(cmp.removed.map(name), "Streets no longer on the route")
    + list(cmp.moved.map((m) => `${name(m)} (${m.was} → ${m.now})`), "Moved in the driving order");
  return `<h3>What changed from version ${cmp.a.version} to ${cmp.b.version}</h3><ul id="compare-change-list">${body || "<li>Same streets in the same order.</li>"}</ul>`;
}

async function drawVersion(el, plan, cmp, side, city) {
  const segments = plan.features.filter((f) => f.properties.feature_type === "segment");
  const changed = new Set((side === "a" ? cmp.removed : cmp.added).map((s) => s.segment_id));
  const moved = new Set(cmp.moved.map((m) => m.segment_id));
  const service = segments.filter((f) => f.properties.service !== false);
  const hover = (f) => f.properties.segment_id;
  const traces = [
    ...cityTraces(city),
    lineTrace(segments.filter((f) => f.properties.service === false), { name: "Driving only", colour: "#b7c6dd", width: 2 }),
    lineTrace(service.filter((f) => !changed.has(f.properties.segment_id) && !moved.has(f.properties.segment_id)),
      { name: "Same", colour: COLOURS.planned, width: 4, hover }),
    lineTrace(service.filter((f) => moved.has(f.properties.segment_id)), { name: "Moved in the order", colour: COLOURS.fair, width: 5, hover }),
    lineTrace(service.filter((f) => changed.has(f.properties.segment_id)),
      side === "a" ? { name: "Not in the other version", colour: COLOURS.bad, width: 5, dash: "dot", hover }
        : { name: "New in this version", colour: COLOURS.good, width: 5, hover }),
  ];
  const version = cmp[side].version;
  await drawMap(el, traces, { label: `Version ${version} of route ${cmp.route_id} on the map`, focus: traces.slice(-3).filter((t) => t.x.length) });
}

async function compare() {
  const id = routeId();
  const a = $("compare-a").value;
  const b = $("compare-b").value;
  const to = isoDay(Date.parse(`${$("compare-to").value}T00:00:00Z`) + DAY_MS);
  const plan = (v) => getJson(`routes/${encodeURIComponent(id)}/plan.geojson`, { version: v });
  const [cmp, planA, planB, city] = await Promise.all([
    getJson(`routes/${encodeURIComponent(id)}/compare`, { a, b, from: $("compare-from").value, to }), plan(a), plan(b), cityLayer(),
  ]);
  $("compare-result").hidden = false;  // before drawing: the maps size themselves to their box
  $("compare-map-a-h").textContent = `Version ${cmp.a.version}`;
  $("compare-map-b-h").textContent = `Version ${cmp.b.version}`;
  $("compare-table").innerHTML = tableHtml({
    caption: `Versions ${cmp.a.version} and ${cmp.b.version} of route ${cmp.route_id}, shifts ${cmp.start} to ${cmp.end}`,
    id: "compare-figures",
    columns: [{ label: "Figure" }, { label: `Version ${cmp.a.version}`, num: true }, { label: `Version ${cmp.b.version}`, num: true }],
    rows: figureRows(cmp),
  }) + `<p class="note">Shifts of the whole weeks from ${fmt.day(cmp.start)} to ${fmt.day(isoDay(Date.parse(`${cmp.end}T00:00:00Z`) - DAY_MS))}; k = ${cmp.k_min_shifts} shifts and ${cmp.k_min_people} people.</p>`;
  $("compare-changes").innerHTML = changesHtml(cmp);
  await Promise.all([drawVersion($("compare-map-a"), planA, cmp, "a", city), drawVersion($("compare-map-b"), planB, cmp, "b", city)]);
  $("compare-result").dataset.compared = `${cmp.a.version}-${cmp.b.version}`;
}

function start() {
  const today = Date.parse(`${fmt.today()}T00:00:00Z`);
  $("compare-to").value = isoDay(today);
  $("compare-from").value = isoDay(today - (WEEKS_SHOWN * 7 - 1) * DAY_MS);
  $("compare-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await compare();
  }));
  // The page fills #route after it has read the routes; a saved version shows in #plan-message.
  const refill = guarded(fillVersions);
  new MutationObserver(refill).observe($("route"), { childList: true });
  new MutationObserver(refill).observe($("plan-message"), { childList: true });
  $("filters").addEventListener("submit", refill);
}

start();
