// The crew member's page (phone first): one shift on a map, its safety moments with context,
// what the record did for them, their trend against their own past, who looked at their data,
// and a download of everything. Every request is "mine": the API takes the person from the
// token, never from the URL, so editing the address can only pick among one's own shifts.

import { download, getJson } from "../api.js";
import * as fmt from "../format.js";
import { COLOURS, cityTraces, drawChart, drawMap, lineTrace, pointTrace } from "../map.js";
import { startPage } from "../shell.js";

const $ = (id) => document.getElementById(id);

function figure(label, value, id) {
  return `<div><dt>${fmt.esc(label)}</dt><dd id="${id}">${fmt.esc(value)}</dd></div>`;
}

function listOrNone(items, none) {
  return items.length ? items.join("") : `<li>${fmt.esc(none)}</li>`;
}

function eventLine(e) {
  const hot = e.context?.hotspot
    ? `<span class="badge hot">Known hotspot</span> Many drivers brake hard here; the city has it on its list of dangerous spots.`
    : `<span class="badge">Not a known hotspot</span>`;
  const how = e.magnitude !== null && e.magnitude !== undefined
    ? `${fmt.number(e.magnitude, 1)} m/s²` : "";
  const speeds = e.speed_before !== null && e.speed_before !== undefined
    ? `from ${fmt.speedKmh(e.speed_before)} to ${fmt.speedKmh(e.speed_after)}` : "";
  const where = e.context?.street || e.context?.segment_name || `${fmt.number(e.lat, 5)}, ${fmt.number(e.lon, 5)}`;
  return `<li data-kind="${fmt.esc(e.kind)}"><span class="what">${fmt.esc(fmt.eventWords(e.kind))}</span>
    at ${fmt.time(e.ts)} — ${fmt.esc(where)}${how ? `, ${how}` : ""}${speeds ? `, ${speeds}` : ""}.<br>${hot}</li>`;
}

function renderSummary(view) {
  const m = view.metrics || {};
  const s = view.shift;
  $("shift-title").textContent = `My shift on ${fmt.date(s.starts_at)}`;
  $("summary").innerHTML = [
    figure("On duty", `${fmt.time(s.starts_at)}–${fmt.time(s.ends_at)}`, "fig-window"),
    figure("Distance", fmt.km(m.distance_m), "fig-distance"),
    figure("Stops", fmt.number(m.stops), "fig-stops"),
    figure("Route covered", fmt.percent(m.coverage), "fig-coverage"),
    figure("Breaks", fmt.duration(m.break_s), "fig-breaks"),
    figure("Safety moments", fmt.number(view.events.length), "fig-events"),
    figure("Truck", s.vehicle_id, "fig-truck"),
    figure("Route", s.route_id || "–", "fig-route"),
  ].join("");
}

async function renderMap(view, city) {
  const planned = view.planned?.features || [];
  const driven = view.driven?.features || (view.driven ? [view.driven] : []);
  const events = view.events.filter((e) => e.lon !== null && e.lon !== undefined);
  const traces = [
    ...cityTraces(city),
    lineTrace(planned.filter((f) => f.geometry?.type !== "Point"), { name: "Planned route", colour: COLOURS.planned, width: 5, dash: "dot" }),
    lineTrace(driven, { name: "Route you drove", colour: COLOURS.driven, width: 2.5 }),
    pointTrace(view.stops || [], { name: "Stops", colour: COLOURS.stop, size: 5,
      hover: (st) => `Stop ${fmt.time(st.t_arrive || st.starts_at)}, ${fmt.duration(st.dwell_s)}` }),
    pointTrace(events, {
      name: "Safety moments", size: 13, symbol: "diamond",
      colour: (e) => (e.context?.hotspot ? COLOURS.hot : COLOURS.event), line: { color: "#fff", width: 1.5 },
      hover: (e) => `${fmt.eventWords(e.kind)} ${fmt.time(e.ts)}${e.context?.hotspot ? " · known hotspot" : ""}`,
    }),
  ];
  const focus = traces.slice(3).filter((t) => t.x.length);
  await drawMap($("shift-map"), traces, {
    label: `Map of your shift: the route you drove, ${(view.stops || []).length} stops and ${events.length} safety moments`,
    focus: focus.length ? focus : undefined,
  });
  $("map-note").textContent = "Dark line: where the truck went during your shift. Dotted: the planned route. Diamonds: safety moments (dark red at known hotspots).";
}

function renderHelped(view) {
  const delays = (view.delays || []).map((d) => `<li><strong>${fmt.esc(d.label || d.kind.replaceAll("_", " "))}</strong>:
    ${fmt.duration(d.duration_s)}${d.where ? ` at ${fmt.esc(d.where)}` : ""}${d.starts_at ? ` (from ${fmt.time(d.starts_at)})` : ""}</li>`);
  $("delays").innerHTML = listOrNone(delays, "None recorded on this shift.");

  const m = view.metrics || {};
  const s = view.shift;
  const onDuty = (new Date(s.ends_at) - new Date(s.starts_at)) / 1000;
  const breaks = (view.breaks || []).map((b) => `<li>Break ${fmt.time(b.starts_at)}–${fmt.time(b.ends_at)} (${fmt.duration(b.duration_s)})</li>`);
  const longest = m.longest_without_break_s;
  $("hours").innerHTML = [
    `<li>On duty ${fmt.time(s.starts_at)}–${fmt.time(s.ends_at)}: <strong id="hours-on-duty">${fmt.duration(onDuty)}</strong></li>`,
    `<li>Breaks in total: <strong id="hours-breaks">${fmt.duration(m.break_s)}</strong></li>`,
    ...breaks,
    ...(longest ? [`<li>Longest stretch without a break: ${fmt.duration(longest)}</li>`] : []),
    `<li>Queueing and unloading at facilities: ${fmt.duration(m.facility_s)}</li>`,
  ].join("");

  const hazards = view.events.filter((e) => e.context?.hotspot).map((e) =>
    `<li>${fmt.esc(fmt.eventWords(e.kind))} at ${fmt.esc(e.context?.street || "a known hotspot")} (${fmt.time(e.ts)}) — on the city's hotspot list</li>`);
  $("hazards").innerHTML = listOrNone(hazards, "No known hotspot on this shift.");
}

async function renderTrend(trend) {
  const weeks = trend.weeks || [];
  const x = weeks.map((w) => w.week);
  const rate = weeks.map((w) => w.events_per_100km);
  const traces = [
    { type: "scatter", mode: "lines", x, y: weeks.map((w) => w.high), line: { width: 0 }, hoverinfo: "skip", showlegend: false },
    { type: "scatter", mode: "lines", x, y: weeks.map((w) => w.low), line: { width: 0 }, fill: "tonexty",
      fillcolor: "rgba(20, 54, 93, .15)", name: "Likely range", hoverinfo: "skip" },
    { type: "scatter", mode: "lines+markers", x, y: rate, name: "Your safety moments per 100 km", line: { color: COLOURS.driven } },
  ];
  await drawChart($("trend-chart"), traces, {
    xaxis: { title: { text: "Week" }, type: "category" },
    yaxis: { title: { text: "per 100 km" }, rangemode: "tozero" },
    height: 260,
  }, "Your safety moments per 100 km, week by week, with a likely range");
  $("trend-table").insertAdjacentHTML("beforeend", `<thead><tr><th scope="col">Week</th><th scope="col" class="num">Shifts</th>
    <th scope="col" class="num">Distance</th><th scope="col" class="num">Safety moments per 100 km</th></tr></thead><tbody>${
    weeks.map((w) => `<tr><td>${fmt.esc(w.week)}</td><td class="num">${fmt.number(w.shifts)}</td>
      <td class="num">${fmt.km(w.distance_m, 0)}</td><td class="num">${fmt.number(w.events_per_100km, 1)}</td></tr>`).join("")
  }</tbody>`);
}

function renderAccessLog(entries) {
  const rows = entries.map((a) => `<tr><td>${fmt.dateTime(a.at)}</td><td>${fmt.esc(a.actor_role)}</td>
    <td>${fmt.esc(a.action.replaceAll("_", " "))}${a.shift_id ? ` (shift ${fmt.esc(a.shift_id)})` : ""}</td><td>${fmt.esc(a.purpose || "–")}</td></tr>`);
  $("access-log").insertAdjacentHTML("beforeend", `<thead><tr><th scope="col">When</th><th scope="col">Who (role)</th>
    <th scope="col">What</th><th scope="col">Stated reason</th></tr></thead><tbody>${
    rows.length ? rows.join("") : `<tr><td colspan="4">Nobody else has opened your data.</td></tr>`}</tbody>`);
}

startPage("driver", async () => {
  const requested = new URLSearchParams(location.search).get("shift");
  const [shifts, trend, access, city] = await Promise.all([
    getJson("me/shifts"), getJson("me/trends"), getJson("me/access-log"), getJson("city"),
  ]);
  const select = $("shift-select");
  select.innerHTML = shifts.map((s) => `<option value="${fmt.esc(s.shift_id)}">${fmt.esc(fmt.date(s.starts_at))} · ${fmt.esc(s.route_id || s.vehicle_id)}</option>`).join("");
  const shiftId = requested || shifts[0]?.shift_id;
  select.value = shiftId || "";
  select.addEventListener("change", () => { location.search = `?shift=${encodeURIComponent(select.value)}`; });
  renderAccessLog(access);
  $("download-all").addEventListener("click", async () => {
    $("download-status").textContent = "Preparing your download…";
    const file = await download("me/export", {}, "my-fleetpilot-data.zip");
    $("download-status").textContent = `Downloaded ${file.name} (${fmt.number(file.bytes / 1024, 0)} kB).`;
  });
  await renderTrend(trend);
  if (!shiftId) {
    $("summary").innerHTML = "<p>You have no recorded shifts yet.</p>";
    return;
  }
  const view = await getJson(`me/shifts/${encodeURIComponent(shiftId)}`);
  renderSummary(view);
  renderHelped(view);
  $("events").innerHTML = listOrNone(view.events.map(eventLine), "No safety moments on this shift.");
  await renderMap(view, city);
});
