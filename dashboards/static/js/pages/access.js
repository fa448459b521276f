// Purpose-bound individual access (supervisor, admin): find a shift by truck and time (the
// answer names no people), state a purpose, and only then open it. The API writes the purpose
// to the audit log for every crew member before it returns any data, and refuses a purpose
// that says nothing; without one this page shows nothing of the shift.

import { getJson, sendJson } from "../api.js";
import * as fmt from "../format.js";
import { COLOURS, cityLayer, cityTraces, drawMap, lineTrace, pointTrace } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const PURPOSE_MIN_CHARS = 8; // as api/policy.py

function figure(label, value, id) {
  return `<div><dt>${fmt.esc(label)}</dt><dd id="${id}">${fmt.esc(value)}</dd></div>`;
}

function purposeReady() {
  $("open-button").disabled = !$("shift-id").value || $("purpose").value.trim().length < PURPOSE_MIN_CHARS;
}

async function find(form) {
  // A wall-clock time without an offset: the API reads it in the city's time zone.
  const at = form.elements.at.value;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(at)) throw new Error("give a date and time");
  const shifts = await getJson("shifts", { vehicle_id: form.elements.vehicle_id.value.trim(), at: `${at}:00` });
  $("found").innerHTML = shifts.length ? "" : `<p class="note" id="found-none">No shift of that truck at that time.</p>`;
  $("shift-id").innerHTML = shifts.length
    ? shifts.map((s) => `<option value="${fmt.esc(s.shift_id)}">${fmt.esc(s.shift_id)} · ${fmt.esc(s.route_id || "no route")} · ${fmt.time(s.starts_at)}–${fmt.time(s.ends_at)}</option>`).join("")
    : '<option value="">find a shift first</option>';
  $("shift-id").disabled = !shifts.length;
  purposeReady();
}

async function show(opened, purpose, city) {
  const { shift, track } = opened;
  const m = shift.metrics || {};
  const events = shift.events.filter((e) => e.kind !== "reversing");
  $("opened-purpose").textContent = `Opened for: ${shift.opened_for_purpose || purpose}. This access is in the audit log and in the crew's own access log.`;
  $("opened-figures").innerHTML = [
    figure("Shift", shift.shift_id, "op-shift"),
    figure("On duty", `${fmt.time(shift.starts_at)}–${fmt.time(shift.ends_at)}`, "op-window"),
    figure("Distance", fmt.km(m.distance_km * 1000), "op-distance"),
    figure("Planned streets covered", fmt.percent(m.coverage), "op-coverage"),
  ].join("");
  const driven = track.features.filter((f) => f.properties.kind === "driven" && f.geometry);
  const planned = track.features.filter((f) => f.properties.kind === "planned");
  const plannedTrace = lineTrace(planned, { name: "Planned route", colour: COLOURS.planned, width: 5 });
  const eventTrace = pointTrace(events, { name: "Safety moments", colour: COLOURS.event, size: 12, symbol: "diamond",
    hover: (e) => `${fmt.eventWords(e.kind)} ${fmt.time(e.ts)}` });
  $("opened").hidden = false;
  await drawMap($("opened-map"), [
    ...cityTraces(city), plannedTrace,
    lineTrace(driven, { name: "Route driven", colour: COLOURS.driven, width: 2.5 }), eventTrace,
  ], { label: `Map of shift ${shift.shift_id}: the route driven and ${events.length} safety moments`,
       focus: [plannedTrace, eventTrace].filter((t) => t.x.length) });
  $("opened-events").innerHTML = tableHtml({
    caption: "Safety moments of the shift", id: "opened-events-table", stack: true, empty: "No safety moments.",
    columns: [{ label: "Time" }, { label: "What" }, { label: "How hard", num: true }],
    rows: events.map((e) => [fmt.time(e.ts), fmt.esc(fmt.eventWords(e.kind)),
      e.magnitude === null ? "–" : `${fmt.number(e.magnitude, 1)} m/s²`]),
  });
  $("opened").scrollIntoView({ block: "start" });
}

startPage("access", async () => {
  const query = new URLSearchParams(location.search);
  const form = $("find-form");
  // A link from elsewhere may name the truck and time; the purpose is always typed here.
  if (query.get("vehicle_id")) form.elements.vehicle_id.value = query.get("vehicle_id");
  if (query.get("at")) form.elements.at.value = query.get("at").slice(0, 16);
  form.addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await find(form);
  }));
  $("purpose").addEventListener("input", purposeReady);
  $("shift-id").addEventListener("change", purposeReady);
  $("open-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const purpose = $("purpose").value.trim();
    const shiftId = $("shift-id").value;
    const [opened, city] = await Promise.all([
      sendJson("POST", `shifts/${encodeURIComponent(shiftId)}/open`, { purpose }), cityLayer()]);
    await show(opened, purpose, city);
  }));
});
