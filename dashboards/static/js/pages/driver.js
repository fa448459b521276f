// The crew member's page (phone first): one shift on a map, its safety moments with context,
// what the record did for them, their trend against their own past, who looked at their data,
// and a download of everything. On a phone it opens on a summary (the shift, hours and breaks,
// the plan and whether it changed, who looked); the rest are sections the reader opens (js/sections.js). Every request is "mine": the API takes the person from the
// token, never from the address, so editing the URL can only pick among one's own shifts.

import { download, getJson } from "../api.js";
import * as fmt from "../format.js";
import { cityLayer, cityTraces, COLOURS, drawChart, drawMap, lineTrace, nearestStreet, pointTrace } from "../map.js";
import { setUpMissedCauses } from "../causes.js";
import { effectWords, fixedItems, setUpHazardReports } from "../hazards.js";
import { planGlance, showMyPlan } from "../crew-plan.js";
import { foldList, openSection, scrollToHashed, setUpSections } from "../sections.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;

function figure(label, value, id) {
  return `<div><dt>${fmt.esc(label)}</dt><dd id="${id}">${fmt.esc(value)}</dd></div>`;
}

function listOrNone(items, none) {
  return items.length ? items.join("") : `<li>${fmt.esc(none)}</li>`;
}

// Streets within this distance of an event name its place; farther out the coordinates do.
const NEAR_STREET_M = 40;

/** Where an event happened, in words: the rollup's street if it recorded one, else the nearest street. */
function where(e) {
  if (e.context?.street) return e.context.street;
  const street = e.nearest;
  return street && street.metres <= NEAR_STREET_M && street.name ? street.name
    : `${fmt.number(e.lat, 5)}, ${fmt.number(e.lon, 5)}`;
}

function eventItem(e) {
  // The place's name is the one the hotspot pages give it (the rollup names both the same way).
  const place = e.context?.hotspot_place;
  const hot = e.context?.hotspot
    ? `<span class="badge hot">Known hotspot${place ? `: ${fmt.esc(place)}` : ""}</span> ${e.kind === "speeding" ? "Many trucks go over the limit here" : "Many drivers brake hard here"}: a street problem the city is working on, not a mark against you.`
    : `<span class="badge">Not a known hotspot</span>`;
  const how = e.magnitude === null ? "" : `, ${fmt.number(e.magnitude, 1)} m/s²`;
  const speeds = e.speed_before_mps === null || e.speed_after_mps === null ? ""
    : `, from ${fmt.speedKmh(e.speed_before_mps)} to ${fmt.speedKmh(e.speed_after_mps)}`;
  return `<li data-kind="${fmt.esc(e.kind)}"><span class="what">${fmt.esc(fmt.eventWords(e.kind))}</span>
    at ${fmt.time(e.ts)} — ${fmt.esc(where(e))}${how}${speeds}.<br>${hot}</li>`;
}

// Breaks as the crew record lists them (rests of 60 s or more); a shift rolled up before the
// record existed has only the activity total, in which a few seconds in a break-room fence count.
function breakTotal(m) {
  const breaks = m.details?.breaks;
  if (!Array.isArray(breaks)) return m.break_s;
  return breaks.reduce((sum, b) => sum + (Date.parse(b.ends_at) - Date.parse(b.starts_at)) / 1000, 0);
}

function breakWords(m) {
  const total = breakTotal(m);
  return total > 0 ? fmt.duration(total) : "none recorded";
}

function count(id, html) {
  $(id).innerHTML = html;
}

/** The shift on duty now, if any: it has no figures yet, but it is the one a driver looks for. */
function onDutyWords(shifts) {
  const now = Date.now();
  const on = shifts.find((s) => Date.parse(s.starts_at) <= now && now < Date.parse(s.ends_at));
  return on ? `<strong>Today:</strong> on duty since ${fmt.time(on.starts_at)}, route ${fmt.esc(on.route_id || "–")}, truck ${fmt.esc(on.vehicle_id)} — its figures show here once it has ended.<br>` : "";
}

function glanceShift(shift, shifts, latestId) {
  const m = shift.metrics || {};
  const today = fmt.date(shift.starts_at) === fmt.date(new Date().toISOString());
  const which = today ? "Today's shift" : shift.shift_id === latestId ? "Last shift" : "This shift";
  const longest = m.details?.longest_without_break_s;
  $("glance-shift").innerHTML = `${onDutyWords(shifts)}<strong>${which}:</strong> ${fmt.esc(fmt.date(shift.starts_at))},
    ${fmt.time(shift.starts_at)}–${fmt.time(shift.ends_at)}: <strong>${fmt.duration(shift.duration_s)}</strong> on duty,
    breaks <strong>${fmt.esc(breakWords(m))}</strong>${longest ? `, longest stretch without a break ${fmt.duration(longest)}` : ""}.`;
}

function glanceAccess(log, me) {
  // The log also lists my own downloads: the summary is about others.
  const others = log.entries.filter((a) => a.actor !== me.username);
  const n = others.length;
  count("access-count", `<span class="badge${n ? " warn" : ""}">${n ? `${fmt.number(n)} time${n > 1 ? "s" : ""}` : "nobody"}</span>`);
  if (!n) {
    $("glance-access").textContent = "Nobody else has opened your data.";
    return;
  }
  // The newest first (as the log lists them): who, when and their stated reason, on arrival.
  const a = others[0];
  $("glance-access").innerHTML = `Someone else opened your data ${fmt.number(n)} time${n > 1 ? "s" : ""}; latest
    ${fmt.dateTime(a.at)} by ${fmt.esc(a.actor || "–")} (${fmt.esc(a.actor_role.replaceAll("_", " "))}): <q>${fmt.esc(a.purpose || "–")}</q>.
    <a href="#access">Every access, with its reason</a>`;
}

function renderSummary(shift) {
  const m = shift.metrics || {};
  $("shift-title").textContent = `My shift on ${fmt.date(shift.starts_at)}`;
  $("summary").innerHTML = [
    figure("On duty", `${fmt.time(shift.starts_at)}–${fmt.time(shift.ends_at)}`, "fig-window"),
    figure("Distance", fmt.km(m.distance_km * 1000), "fig-distance"),
    figure("Stops", fmt.number(m.stops), "fig-stops"),
    figure("Planned streets covered", fmt.percent(m.coverage), "fig-coverage"),
    figure("Breaks", breakWords(m), "fig-breaks"),
    figure("Safety moments", fmt.number(shift.events.filter((e) => e.kind !== "reversing").length), "fig-events"),
    figure("Truck", shift.vehicle_id, "fig-truck"),
    figure("Route", shift.route_id || "–", "fig-route"),
  ].join("");
}

/** The city's fixed hazards at their places: squares, the before/after on hover or tap. */
function fixedTrace(fixed) {
  return pointTrace(fixed, {
    name: "Fixed by the city", colour: COLOURS.fixed, size: 15, symbol: "square", line: { color: "#fff", width: 1.5 },
    hover: (h) => `Fixed: ${h.place} — ${h.fix_what} (${h.fixed_on})<br>${effectWords(h.effect)}`,
  });
}

async function renderMap(shift, track, city, fixed) {
  const features = track.features;
  const driven = features.filter((f) => f.properties.kind === "driven" && f.geometry);
  const planned = features.filter((f) => f.properties.kind === "planned");
  const missed = planned.filter((f) => f.properties.missed);
  const noData = planned.filter((f) => f.properties.no_data);
  const events = shift.events.filter((e) => e.kind !== "reversing");
  const stops = shift.stops || [];
  const plannedTrace = lineTrace(planned, { name: "Planned route", colour: COLOURS.planned, width: 6,
    hover: (f) => `Planned: ${f.properties.segment_id}` });
  const fixedPlaces = fixedTrace(fixed);
  const eventTrace = pointTrace(events, {
    name: "Safety moments", size: 13, symbol: "diamond", line: { color: "#fff", width: 1.5 },
    colour: (e) => (e.context?.hotspot ? COLOURS.hot : COLOURS.event),
    hover: (e) => `${fmt.eventWords(e.kind)} ${fmt.time(e.ts)}${e.context?.hotspot ? " · known hotspot" : ""}`,
  });
  const traces = [
    ...cityTraces(city),
    plannedTrace,
    lineTrace(missed, { name: "Planned, not driven", colour: COLOURS.bad, width: 6, dash: "dot",
      hover: (f) => `Not driven: ${f.properties.segment_id}` }),
    lineTrace(noData, { name: "Unknown — no data", colour: COLOURS.noData, width: 6, dash: "dash",
      hover: (f) => `Unknown — no data (the unit sent no positions then): ${f.properties.segment_id}` }),
    lineTrace(driven, { name: "Route you drove", colour: COLOURS.driven, width: 2.5 }),
    pointTrace(stops, { name: "Stops", colour: COLOURS.stop, size: 5,
      hover: (st) => `Stop ${fmt.time(st.arrived_at)}, ${fmt.duration(st.dwell_s)}` }),
    eventTrace,
    fixedPlaces,
  ];
  // Frame the planned route, the safety moments and the places the city fixed; the trip to the
  // landfill stays a pan away.
  const focus = [plannedTrace, eventTrace, fixedPlaces].filter((t) => t.x.some((x) => x !== null));
  await drawMap($("shift-map"), traces, {
    label: `Map of your shift: the route you drove, ${stops.length} stops and ${events.length} safety moments`,
    focus,
  });
  const raw = driven[0]?.properties;
  $("map-note").textContent = driven.length
    ? `Dark line: where the truck went during your shift (${raw.simplified ? `simplified: every recorded position is within ${raw.tolerance_m} m of the line` : `one point every ${raw.step_s} s`}). Blue: the planned route; red dots: planned streets not driven${noData.length ? "; grey dashes: unknown — the unit sent no positions when they were due, so they are not counted as missed" : ""}. Diamonds: safety moments, dark red at known hotspots.${fixed.length ? " Teal squares: hazards the city fixed (tap one for what changed there)." : ""}${stops.length ? " Green dots: where the truck stopped (tap one for its time and length)." : ""}`
    : "The positions of this shift are no longer kept (raw data is deleted after the retention period); the figures above remain.";
}

function renderHelped(shift, facilityNames) {
  const m = shift.metrics || {};
  const details = m.details || {};
  const place = (id) => facilityNames.get(id) || id;
  // Queues per facility visit when the rollup recorded them; else the API's shift-level delays.
  const queues = (details.facility_visits || []).filter((v) => v.queue_s > 0).map((v) =>
    `<li><strong>${fmt.esc(fmt.duration(v.queue_s))}</strong> queueing at ${fmt.esc(place(v.facility_id))} (arrived ${fmt.time(v.arrived_at)})</li>`);
  const delays = queues.length ? queues
    : shift.delays.map((d) => `<li><strong>${fmt.esc(fmt.duration(d.seconds))}</strong> — ${fmt.esc(d.explanation)}</li>`);
  const missed = m.missed_segments || [];
  if (missed.length) {
    delays.push(`<li>${fmt.number(missed.length)} planned street segment(s) were not driven; the record shows where the truck went, should a missed pickup be queried.
      <details><summary>Which segments</summary>${missed.map(fmt.esc).join(", ")}</details></li>`);
  }
  const noData = m.no_data_segments || [];
  if (noData.length) {
    delays.push(`<li>${fmt.number(noData.length)} planned street segment(s) are unknown — no data: the truck's unit sent no positions when they were due. They are not counted as missed, nor in the coverage figure.
      <details><summary>Which segments</summary>${noData.map(fmt.esc).join(", ")}</details></li>`);
  }
  $("delays").innerHTML = listOrNone(delays, "None recorded on this shift.");

  const breaks = (details.breaks || []).map((b) => `<li>Break ${fmt.time(b.starts_at)}–${fmt.time(b.ends_at)}
    (${fmt.duration((Date.parse(b.ends_at) - Date.parse(b.starts_at)) / 1000)})${b.facility_id ? ` at ${fmt.esc(place(b.facility_id))}` : ""}</li>`);
  const longest = details.longest_without_break_s;
  $("hours").innerHTML = [
    `<li>On duty ${fmt.time(shift.starts_at)}–${fmt.time(shift.ends_at)}: <strong id="hours-on-duty">${fmt.duration(shift.duration_s)}</strong></li>`,
    `<li>Breaks in total: <strong id="hours-breaks">${breakWords(m)}</strong></li>`,
    ...breaks,
    ...(longest ? [`<li>Longest stretch without a break: <strong id="hours-longest">${fmt.duration(longest)}</strong>${longest > 4.5 * 3600 ? " — longer than 4 h 30 min; the record supports your claim to a break" : ""}</li>`] : []),
    `<li>Idle with the engine on: ${fmt.duration(m.idle_s)}</li>`,
  ].join("");

  const hazards = shift.events.filter((e) => e.context?.hotspot).map((e) =>
    `<li>${fmt.esc(fmt.eventWords(e.kind))} at ${fmt.esc(where(e))} (${fmt.time(e.ts)}): on the city's hotspot list${e.context.hotspot_place ? ` as <strong>${fmt.esc(e.context.hotspot_place)}</strong>` : ""}.</li>`);
  $("hazards").innerHTML = listOrNone(hazards, "No known hotspot on this shift.");
}

const CHANGE_WORDS = {
  fewer: "fewer than your usual",
  more: "more than your usual",
  "no clear change": "about your usual",
  "not enough history": "not enough earlier weeks to compare yet",
};

function weekLabel(monday) {
  return `week of ${new Date(`${monday}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" })}`;
}

function range(low, high) {
  return low === null || high === null ? "" : ` (${fmt.number(low, 1)}–${fmt.number(high, 1)})`;
}

async function renderTrend(trend) {
  // "Your usual" only where there are enough earlier weeks to have one (as the words say).
  const weeks = trend.weeks.map((w) => (w.change === "not enough history"
    ? { ...w, baseline_per_100km: null, baseline_low: null, baseline_high: null } : w));
  const x = weeks.map((w) => weekLabel(w.week));
  const ticks = weeks.map((w) => weekLabel(w.week).replace("week of ", ""));
  const band = (low, high, name, colour) => [
    { type: "scatter", mode: "lines", x: ticks, y: weeks.map((w) => w[high]), line: { width: 0 }, hoverinfo: "skip", showlegend: false },
    { type: "scatter", mode: "lines", x: ticks, y: weeks.map((w) => w[low]), line: { width: 0 }, fill: "tonexty",
      fillcolor: colour, name, hoverinfo: "skip" },
  ];
  await drawChart($("trend-chart"), [
    ...band("baseline_low", "baseline_high", "Your usual range (your earlier weeks)", "rgba(108, 142, 191, .18)"),
    { type: "scatter", mode: "lines", x: ticks, y: weeks.map((w) => w.baseline_per_100km), name: "Your usual",
      line: { color: COLOURS.planned, dash: "dash" } },
    ...band("low", "high", "95 % range of the week", "rgba(20, 54, 93, .14)"),
    { type: "scatter", mode: "lines+markers", x: ticks, y: weeks.map((w) => w.per_100km),
      name: "Your safety moments per 100 km", line: { color: COLOURS.driven, width: 2.5 } },
  ], {
    xaxis: { type: "category", title: { text: "week starting" } },
    yaxis: { title: { text: "per 100 km" }, rangemode: "tozero" },
    height: 300, margin: { l: 48, r: 16, t: 8, b: 52 },
  }, "Your safety moments per 100 km, week by week, against your own usual level");
  // The latest week with driving in it (the current week may hold only a shift still on duty).
  const latest = weeks.findLast((w) => w.per_100km !== null);
  const summary = latest ? `<p id="trend-change">Latest week (${fmt.esc(weekLabel(latest.week))}): ${fmt.number(latest.per_100km, 1)} safety moments per 100 km — <strong>${fmt.esc(CHANGE_WORDS[latest.change] || latest.change)}</strong>${latest.baseline_per_100km === null || latest.change === "not enough history" ? "" : ` (your usual: ${fmt.number(latest.baseline_per_100km, 1)})`}.</p>` : "";
  $("trend-summary").innerHTML = summary;
  $("trend-table").innerHTML = tableHtml({
    caption: "Your weekly figures", empty: "No weeks recorded yet.", id: "trend-weeks", stack: true,
    columns: [{ label: "Week" }, { label: "Shifts", num: true }, { label: "Hours on duty", num: true },
      { label: "Distance", num: true }, { label: "Safety moments", num: true }, { label: "per 100 km (95 % range)", num: true },
      { label: "Compared with your usual" }, { label: "Break min per shift", num: true }],
    rows: weeks.map((w, i) => [fmt.esc(x[i]), fmt.number(w.shifts), fmt.number(w.hours_on_duty, 1),
      fmt.km(w.distance_km * 1000, 0), fmt.number(w.safety_events), `${fmt.number(w.per_100km, 1)}${range(w.low, w.high)}`,
      fmt.esc(CHANGE_WORDS[w.change] || w.change), fmt.number(w.break_minutes_per_shift)]),
  });
}

// Complaints the record answered "collected" about a shift of yours: when the truck passed and
// stopped, where (the complaint's address, else the street it lies on), and the complaint.
function protectedItem(c, city) {
  const street = c.lat === null ? null : nearestStreet(city, c.lon, c.lat);
  const where = c.address || (street?.name && street.metres <= NEAR_STREET_M ? street.name
    : `${fmt.number(c.lat, 5)}, ${fmt.number(c.lon, 5)}`);
  const day = fmt.date(`${c.collection_day}T12:00:00Z`);
  const when = c.passed_at ? `${day}, ${fmt.time(c.passed_at)}` : day;
  const stop = c.passed_at ? `; the truck stopped ${fmt.number(c.stopped_s)} s` : "";
  return `<li data-complaint="${fmt.esc(c.service_request_id)}"><span class="badge good">Answered in your favour</span>
    <strong>Collected at ${fmt.esc(where)} on ${fmt.esc(when)}</strong>${stop} (route ${fmt.esc(c.route_id)}, truck ${fmt.esc(c.vehicle_id)}).
    <br><span class="note">311 complaint ${fmt.esc(c.service_request_id)}, made ${fmt.dateTime(c.requested_at)}.</span></li>`;
}

function renderProtected(complaints, city) {
  $("protected").innerHTML = listOrNone(complaints.map((c) => protectedItem(c, city)),
    "No complaint about your route has needed the record so far.");
  foldList($("protected"));
  count("complaints-count", `<span class="badge">${fmt.number(complaints.length)}</span>`);
}

function renderAccessLog(log, me) {
  // Others' reads and the person's own downloads: a download nobody remembers is worth seeing too.
  const who = (a) => (a.actor === me.username ? "<strong>you</strong>"
    : `${fmt.esc(a.actor || "–")} (${fmt.esc(a.actor_role.replaceAll("_", " "))})`);
  $("access-log").innerHTML = tableHtml({
    caption: "Every access to your data: by someone else, and your own downloads", stack: true,
    empty: "Nobody has opened your data.",
    id: "access-table",
    columns: [{ label: "When" }, { label: "Who" }, { label: "What" }, { label: "Stated reason" }],
    rows: log.entries.map((a) => [fmt.dateTime(a.at), who(a),
      `${fmt.esc(a.action.replaceAll("_", " "))}${a.shift_id ? ` (shift ${fmt.esc(a.shift_id)})` : ""}`, fmt.esc(a.purpose || "–")]),
  });
}

/** [segment_id, name, lon, lat] of the shift's planned service streets, named from the city layer. */
function shiftStreets(track, city) {
  const names = new Map(city.features.filter((f) => f.properties.kind === "street")
    .map((f) => [f.properties.segment_id, f.properties.name]));
  const seen = new Set();
  const streets = [];
  for (const f of track?.features || []) {
    if (f.properties.kind !== "planned" || !f.properties.service || !f.geometry) continue;
    const coords = f.geometry.coordinates;
    const [lon, lat] = coords[Math.floor(coords.length / 2)];
    const name = names.get(f.properties.segment_id) || f.properties.segment_id;
    const label = `${name} (${f.properties.segment_id})`;
    if (seen.has(label)) continue;
    seen.add(label);
    streets.push([f.properties.segment_id, label, lon, lat]);
  }
  return streets.sort((a, b) => a[1].localeCompare(b[1]));
}

startPage("driver", async ({ me }) => {
  setUpSections();
  const requested = new URLSearchParams(location.search).get("shift");
  const today = Date.parse(`${fmt.today()}T00:00:00Z`);  // the city's day, as a calendar date
  const range = { from: new Date(today - 365 * DAY_MS).toISOString().slice(0, 10),
                  to: new Date(today + DAY_MS).toISOString().slice(0, 10), limit: 100 };
  const [page, trend, access, city, answered, fixedList] = await Promise.all([
    getJson("me/shifts", range), getJson("me/trends"), getJson("me/access-log"), cityLayer(), getJson("me/complaints"),
    getJson("hazards/fixed"),
  ]);
  const fixed = fixedList.hazards;
  $("fixed-hazards").innerHTML = fixedItems(fixed);
  renderProtected(answered, city);
  const select = $("shift-select");
  select.innerHTML = page.shifts.map((s) =>
    `<option value="${fmt.esc(s.shift_id)}">${fmt.esc(fmt.date(s.starts_at))} · ${fmt.esc(s.route_id || s.vehicle_id)}</option>`).join("");
  // The latest shift with figures (ended and rolled up): a shift still on duty, or one the
  // rollup has not reached yet, would open the page on dashes.
  const ended = page.shifts.filter((s) => Date.parse(s.ends_at) <= Date.now());
  const finished = ended.find((s) => s.distance_km !== null) || ended[0] || page.shifts[0];
  const shiftId = requested || finished?.shift_id;
  select.addEventListener("change", () => { location.search = `?shift=${encodeURIComponent(select.value)}`; });
  renderAccessLog(access, me);
  glanceAccess(access, me);
  const plan = await showMyPlan(city);
  $("glance-plan").innerHTML = planGlance(plan);
  count("plan-count", plan ? `<span class="badge">v${fmt.number(plan.version)}</span>${plan.compared_with === null ? "" : ' <span class="badge good">new</span>'}` : "");
  // A plan changed since the driver last drove it is what they need first: open on arrival.
  if (plan && plan.compared_with !== null) openSection($("plan"));
  $("download-all").addEventListener("click", guarded(async () => {
    $("download-status").textContent = "Preparing your download…";
    const file = await download("me/export", {}, "my-fleetpilot-data.zip");
    $("download-status").textContent = `Downloaded ${file.name} (${fmt.number(file.bytes / 1024, 0)} kB).`;
    renderAccessLog(await getJson("me/access-log"), me);  // the download is in the log now
  }));
  await renderTrend(trend);
  const latestWeek = trend.weeks.findLast((w) => w.per_100km !== null);
  count("trend-count", latestWeek ? `<span class="badge">${fmt.esc(CHANGE_WORDS[latestWeek.change] || latestWeek.change)}</span>` : "");
  if (!shiftId) {
    $("summary").innerHTML = figure("Shifts", "none recorded yet", "fig-none");
    $("causes-card").hidden = true;
    await setUpHazardReports({ me, shiftId: null, streets: [], map: null, fixed });
    scrollToHashed();
    return;
  }
  // An older shift than the list shows (or one that is not yours) is still asked for: the
  // API answers 404 for anything that is not this person's, and the page says so.
  const [shift, track] = await Promise.all([
    getJson(`me/shifts/${encodeURIComponent(shiftId)}`), getJson(`me/shifts/${encodeURIComponent(shiftId)}/track`),
  ]);
  if (![...select.options].some((o) => o.value === shiftId)) {
    select.insertAdjacentHTML("afterbegin", `<option value="${fmt.esc(shiftId)}">${fmt.esc(fmt.date(shift.starts_at))} · ${fmt.esc(shift.route_id || shift.vehicle_id)}</option>`);
  }
  select.value = shiftId;
  for (const e of shift.events) e.nearest = nearestStreet(city, e.lon, e.lat);
  renderSummary(shift);
  glanceShift(shift, page.shifts, finished?.shift_id);
  count("breaks-count", `<span class="badge">${fmt.duration(shift.duration_s)} · breaks ${fmt.esc(breakWords(shift.metrics || {}))}</span>`);
  const facilityNames = new Map(city.features.filter((f) => f.properties.kind === "facility")
    .map((f) => [f.properties.facility_id, f.properties.name]));
  renderHelped(shift, facilityNames);
  const moments = shift.events.filter((e) => e.kind !== "reversing");
  const reversing = shift.events.length - moments.length;
  $("events").innerHTML = listOrNone(moments.map(eventItem), "No safety moments on this shift.")
    + (reversing ? `<li>Reversing manoeuvres: ${fmt.number(reversing)} (part of collection; listed in your download).</li>` : "");
  foldList($("events"));
  const hot = moments.filter((e) => e.context?.hotspot).length;
  count("moments-count", `<span class="badge">${fmt.number(moments.length)}</span>${hot ? ` <span class="badge hot">${fmt.number(hot)} at known hotspots</span>` : ""}`);
  const missed = (shift.metrics?.missed_segments || []).length;
  count("causes-count", missed ? `<span class="badge warn">${fmt.number(missed)} not collected</span>` : `<span class="badge good">none</span>`);
  await renderMap(shift, track, city, fixed);
  await setUpHazardReports({ me, shiftId, streets: shiftStreets(track, city), map: $("shift-map"), fixed });
  const names = new Map(city.features.filter((f) => f.properties.kind === "street")
    .map((f) => [f.properties.segment_id, f.properties.name]));
  await setUpMissedCauses({ me, shiftId, names });
  scrollToHashed();
});
