// Planned against actual coverage of one route over a day range: the route's current plan
// coloured by how often each service segment was driven, and the segments that were missed.
// Aggregates only: the API withholds a range with fewer than k shifts or k people.

import { getJson } from "../api.js";
import { dayRange, dayRangeFields, reloadWith } from "../controls.js";
import * as fmt from "../format.js";
import { cityLayer, cityTraces, COLOURS, drawMap, lineTrace } from "../map.js";
import { CAUSE_WORDS } from "../causes.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);

// Colour bands of the map legend (coverage.html): share of the range's shifts that drove it.
function band(coverage) {
  if (coverage >= 0.95) return "good";
  return coverage >= 0.8 ? "fair" : "bad";
}

/** "Parked cars 2, no access 1": a segment's shifts missed for a cause, by cause. */
function causeList(causes) {
  return Object.entries(causes || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([cause, n]) => `${(CAUSE_WORDS[cause] || cause).toLowerCase()} ${fmt.number(n)}`).join(", ");
}

function figure(label, value, id) {
  return `<div><dt>${fmt.esc(label)}</dt><dd id="${id}">${fmt.esc(value)}</dd></div>`;
}

startPage("coverage", async () => {
  const range = dayRange();
  $("range-fields").innerHTML = dayRangeFields(range);
  const routes = (await getJson("routes")).filter((r) => r.current_version !== null);
  const requested = new URLSearchParams(location.search).get("route");
  const routeId = routes.some((r) => r.route_id === requested) ? requested : routes[0]?.route_id;
  $("route").innerHTML = routes.map((r) => `<option value="${fmt.esc(r.route_id)}">${fmt.esc(r.route_id)} — ${fmt.esc(r.name)}</option>`).join("");
  $("route").value = routeId || "";
  $("filters").addEventListener("submit", guarded((event) => {
    event.preventDefault();
    reloadWith(event.target);
  }));
  if (!routeId) {
    $("summary").innerHTML = "<p>No route plans yet: import them on the route plans page.</p>";
    return;
  }
  const id = encodeURIComponent(routeId);
  const [coverage, efficiency, plan, city] = await Promise.all([
    getJson(`routes/${id}/coverage`, range.api), getJson(`routes/${id}/efficiency`, range.api),
    getJson(`routes/${id}/plan.geojson`), cityLayer(),
  ]);
  const whole = efficiency.whole_range;
  const service = coverage.segments.filter((s) => s.service);
  const everMissed = service.filter((s) => s.missed > 0);
  $("summary").innerHTML = coverage.suppressed
    ? `<p class="alert info" id="suppressed">Fewer than ${fmt.number(efficiency.k_min_shifts)} shifts or ${fmt.number(efficiency.k_min_people)} people drove this route in the period, so its figures are withheld. Choose a longer period.</p>`
    : `<dl class="figures">${[
      figure("Shifts in period", whole.suppressed ? "withheld" : fmt.number(whole.shifts), "fig-shifts"),
      figure("Mean coverage", whole.suppressed ? "withheld" : fmt.percent(whole.coverage_mean, 1), "fig-coverage"),
      figure("Planned service segments", fmt.number(service.length), "fig-segments"),
      figure("Missed at least once", fmt.number(everMissed.length), "fig-missed"),
    ].join("")}</dl>` + (whole.suppressed ? `<p class="note">Shifts and mean coverage of the whole period are withheld because some of its weeks had fewer than ${fmt.number(efficiency.k_min_shifts)} shifts or ${fmt.number(efficiency.k_min_people)} people (showing them would reveal those weeks). Per-street figures below are over the whole period.</p>` : "");

  const bySegment = new Map(coverage.segments.map((s) => [s.segment_id, s]));
  const segments = plan.features.filter((f) => f.properties.feature_type === "segment");
  const stats = (f) => bySegment.get(f.properties.segment_id);
  const hover = (f) => {
    const s = stats(f);
    if (!s) return f.properties.segment_id;
    const unknown = s.no_data ? `; unknown — no data on ${s.no_data}` : "";
    const caused = s.caused ? `; missed for a cause on ${s.caused} (${causeList(s.causes)})` : "";
    return `${s.name || s.segment_id}: driven on ${s.shifts - s.missed - s.no_data - s.caused} of ${s.shifts} shifts${unknown}${caused} (${s.coverage === null ? "no data" : fmt.percent(s.coverage)})`;
  };
  const inBand = (name) => segments.filter((f) => stats(f) && f.properties.service && stats(f).coverage !== null
    && band(stats(f).coverage) === name);
  const unknown = segments.filter((f) => stats(f) && f.properties.service && stats(f).coverage === null);
  const traces = [
    ...cityTraces(city),
    lineTrace(coverage.suppressed ? segments : [], { name: "Planned (figures withheld)", colour: COLOURS.planned, width: 5 }),
    lineTrace(inBand("good"), { name: "≥ 95 % of shifts", colour: COLOURS.good, width: 5, hover }),
    lineTrace(inBand("fair"), { name: "80–95 %", colour: COLOURS.fair, width: 5, hover }),
    lineTrace(inBand("bad"), { name: "below 80 %", colour: COLOURS.bad, width: 6, hover }),
    lineTrace(unknown, { name: "Unknown — no data", colour: COLOURS.noData, width: 5, dash: "dash", hover }),
  ];
  await drawMap($("coverage-map"), traces, {
    label: `Map of route ${routeId}: ${service.length} planned service segments coloured by how often they were collected`,
    focus: traces.slice(-5).filter((t) => t.x.length),
  });

  // Unknown (no data) shifts and misses for a cause are listed beside the misses, never added to them.
  const missed = service.filter((s) => s.missed > 0 || s.no_data > 0 || s.caused > 0)
    .sort((a, b) => (a.coverage ?? 2) - (b.coverage ?? 2) || a.seq - b.seq);
  $("missed").innerHTML = tableHtml({
    caption: "Planned service segments missed, missed for a cause, or without data, at least once", id: "missed-table", stack: true, scroll: true,
    empty: coverage.suppressed ? "Withheld: too few shifts or people in this period." : "No planned segment was missed.",
    columns: [{ label: "Segment" }, { label: "Street" }, { label: "Missed on", num: true }, { label: "of shifts", num: true },
      { label: "No data on", num: true }, { label: "Missed for a cause (shifts)" }, { label: "Coverage", num: true }],
    rows: missed.map((s) => [fmt.esc(s.segment_id), fmt.esc(s.name || "–"), fmt.number(s.missed), fmt.number(s.shifts),
      fmt.number(s.no_data), s.caused ? fmt.esc(causeList(s.causes)) : "–",
      s.coverage === null ? "no data" : fmt.percent(s.coverage)]),
  });
  const gaps = service.filter((s) => s.no_data > 0).length;
  const caused = service.filter((s) => s.caused > 0).length;
  $("no-data-note").textContent = [
    gaps ? `${fmt.number(gaps)} planned segment(s) had shifts with no position data when they were due: those shifts are "unknown — no data" for them, neither driven nor missed, and left out of coverage.` : "",
    caused ? `${fmt.number(caused)} planned segment(s) were missed for a cause the crew gave, or a blocked-street hazard report: not the crew's shortfall, so not counted as missed and left out of coverage.` : "",
  ].filter(Boolean).join(" ");
});
