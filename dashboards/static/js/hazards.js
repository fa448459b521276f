// Reporting a hazard from the cab (driver page). One tap on a category sends the report with
// the chosen place (where the phone is now, or a street tapped on the shift's map or picked
// from the list) and the optional note.
//
// Offline: every report goes through the phone's outbox (outbox.js) before it is sent, and is
// sent once the phone is online again; the API stores one report per key.

import { ApiError, getJson, sendJson } from "./api.js";
import * as fmt from "./format.js";
import { newKey, Outbox } from "./outbox.js";

export const CATEGORIES = [
  ["dangerous_intersection", "Dangerous intersection"],
  ["blocked_street", "Blocked street"],
  ["parked_cars", "Parked cars blocking"],
  ["low_branches_wires", "Low branches or wires"],
  ["road_damage", "Road damage"],
  ["aggressive_traffic", "Aggressive traffic"],
  ["other", "Other"],
];
export const CATEGORY_WORDS = Object.fromEntries(CATEGORIES);
export const STATUS_WORDS = {
  reported: "Reported",
  acknowledged: "Acknowledged by the city",
  fix_planned: "Fix planned",
  fixed: "Fixed",
};

const $ = (id) => document.getElementById(id);

function position() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error("this phone cannot tell its position; pick a street instead"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude }),
      () => reject(new Error("the position is not available; pick a street instead")),
      { enableHighAccuracy: true, timeout: 10_000, maximumAge: 30_000 },
    );
  });
}

/** What a fixed hazard's before/after says (the API words it: a change only with enough passes). */
export function effectWords(effect) {
  if (!effect) return "";
  return effect.sentence;
}

function reportItem(r, queued = false, fixed = new Map()) {
  const where = r.street || `${fmt.number(r.lat, 5)}, ${fmt.number(r.lon, 5)}`;
  let status = queued ? "Waiting for signal — it will be sent when the phone is online"
    : STATUS_WORDS[r.status] || r.status;
  if (!queued && r.status === "fixed") status = `Fixed on ${r.fixed_on}: ${r.fix_what}`;
  const effect = !queued && r.status === "fixed" ? effectWords(fixed.get(r.hazard_id)?.effect) : "";
  return `<li data-status="${queued ? "queued" : fmt.esc(r.status)}"><strong>${fmt.esc(CATEGORY_WORDS[r.category] || r.category)}</strong>
    — ${fmt.esc(where)}, ${fmt.esc(fmt.dateTime(r.made_at))}${r.note ? ` · “${fmt.esc(r.note)}”` : ""}
    <br><span class="badge${r.status === "fixed" ? " good" : ""}">${fmt.esc(status)}</span>${effect ? `<br><span class="effect">${fmt.esc(effect)}</span>` : ""}</li>`;
}

/** The city's fixed hazards, as every crew sees them: what was done, and what it changed. */
export function fixedItems(hazards) {
  return hazards.map((h) => `<li data-hazard="${h.hazard_id}"><strong>${fmt.esc(CATEGORY_WORDS[h.category] || h.category)}</strong>
    — ${fmt.esc(h.place)}<br><span class="badge good">Fixed on ${fmt.esc(h.fixed_on)}: ${fmt.esc(h.fix_what)}</span>
    ${h.effect ? `<br><span class="effect">${fmt.esc(effectWords(h.effect))}</span>` : ""}</li>`).join("")
    || "<li>The city has not marked a hazard fixed yet.</li>";
}

/**
 * Wire the report card: `streets` are [segment_id, name, lon, lat] of the shift's planned
 * streets (the keyboard's way to a map point), `map` the shift map's plotly element or null,
 * `fixed` the city's fixed hazards (GET hazards/fixed) whose before/after a fixed report shows.
 */
export function setUpHazardReports({ me, shiftId, streets, map, fixed = [] }) {
  const fixedById = new Map(fixed.map((h) => [h.hazard_id, h]));
  const queue = new Outbox(`fleetpilot.hazard-queue.${me.username}`, (report) => sendJson("POST", "me/hazards", report),
    (report) => CATEGORY_WORDS[report.category] || report.category);
  let point = null; // { lon, lat, label } chosen on the map or from the list

  const status = (text) => { $("report-status").textContent = text; };
  const showPoint = () => {
    $("map-point").textContent = point ? `Chosen place: ${point.label}.` : "No place chosen yet: tap a street on the map, or pick one below.";
  };

  async function refresh() {
    const queued = queue.items().map((r) => reportItem(r, true));
    let sent = [];
    if (navigator.onLine) {
      try {
        sent = (await getJson("me/hazards")).reports.map((r) => reportItem(r, false, fixedById));
      } catch (error) {
        if (error instanceof ApiError) throw error;
        // offline after all: show the queue only
      }
    }
    const items = [...queued, ...sent];
    $("my-reports").innerHTML = items.length ? items.join("") : "<li>You have not reported a hazard yet.</li>";
  }

  async function flushAndShow() {
    const refused = await queue.flush();
    if (refused.length) status(`Not accepted: ${refused.join("; ")}`);
    await refresh();
  }

  $("hazard-street").innerHTML = `<option value="">Pick a street of this shift…</option>`
    + streets.map(([id, name], i) => `<option value="${i}">${fmt.esc(name || id)}</option>`).join("");
  $("hazard-street").addEventListener("change", (event) => {
    const s = streets[Number(event.target.value)];
    if (!event.target.value || !s) return;
    point = { lon: s[2], lat: s[3], label: s[1] || s[0] };
    document.querySelector('input[name="hazard-where"][value="map"]').checked = true;
    showPoint();
  });
  map?.on?.("plotly_click", (event) => {
    const p = event.points?.[0];
    if (!p || typeof p.x !== "number") return;
    point = { lon: p.x, lat: p.y, label: `${fmt.number(p.y, 5)}, ${fmt.number(p.x, 5)} (tapped on the map)` };
    document.querySelector('input[name="hazard-where"][value="map"]').checked = true;
    showPoint();
  });
  showPoint();

  $("hazard-buttons").innerHTML = CATEGORIES.map(([value, words]) =>
    `<button type="button" class="hazard" data-category="${value}">${fmt.esc(words)}</button>`).join("");
  $("hazard-buttons").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-category]");
    if (!button) return;
    const where = document.querySelector('input[name="hazard-where"]:checked').value;
    let at;
    try {
      if (where === "map") {
        if (!point) throw new Error("choose the place first: tap a street on the map, or pick one from the list");
        at = point;
      } else {
        status("Finding where you are…");
        at = await position();
      }
    } catch (error) {
      status(`Not sent: ${error.message}.`);
      return;
    }
    const note = $("hazard-note").value.trim();
    const report = {
      client_key: newKey(), category: button.dataset.category, lon: at.lon, lat: at.lat,
      located_by: where, made_at: new Date().toISOString(),
      ...(note ? { note } : {}), ...(shiftId ? { shift_id: shiftId } : {}),
    };
    queue.add(report); // first on the phone, then sent: nothing is lost if the send fails
    $("hazard-note").value = "";
    const words = CATEGORY_WORDS[report.category];
    if (!navigator.onLine) {
      status(`${words}: saved on this phone. No signal now; it will be sent once the phone is online.`);
      await refresh();
      return;
    }
    await flushAndShow();
    status(queue.has(report.client_key)
      ? `${words}: saved on this phone; it will be sent once the connection is back.`
      : `${words}: sent. Thank you — the city sees the place and category, not your name.`);
  });
  window.addEventListener("online", () => { flushAndShow().catch(() => {}); });
  return flushAndShow();
}
