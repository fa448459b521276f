// The causes of a shift's missed streets (driver page): for each planned street the shift did
// not collect, the crew picks what stopped them and saves it. A street with a cause is not
// counted against the crew; the city sees the street and the cause, never who gave it.
// Offline like hazard reports: through the phone's outbox (outbox.js), sent once back online.

import { ApiError, getJson, sendJson } from "./api.js";
import * as fmt from "./format.js";
import { newKey, Outbox } from "./outbox.js";

export const CAUSES = [
  ["blocked_by_works", "Blocked by works"],
  ["parked_cars", "Parked cars"],
  ["no_access", "No access"],
  ["bins_not_out", "Bins not out"],
  ["other", "Other"],
];
// Every cause as people read it, with the one only a blocked-street hazard report gives.
export const CAUSE_WORDS = { ...Object.fromEntries(CAUSES), blocked_street: "Blocked street (hazard report)" };

const $ = (id) => document.getElementById(id);
const path = (shiftId) => `me/shifts/${encodeURIComponent(shiftId)}/causes`;

function state(segment, queued) {
  if (queued) return ["warn", `Waiting for signal: ${CAUSE_WORDS[queued.cause]} — sent once the phone is online`];
  if (!segment.cause) return ["hot", "No cause given"];
  if (segment.source === "hazard_report") return ["good", "Blocked street: a hazard report covers it"];
  return ["good", `Cause: ${CAUSE_WORDS[segment.cause] || segment.cause}`];
}

/** Wire the causes card of one shift; `names` maps segment ids to street names. */
export async function setUpMissedCauses({ me, shiftId, names }) {
  const outbox = new Outbox(`fleetpilot.cause-queue.${me.username}`,
    (item) => sendJson("POST", path(item.shift_id), {
      client_key: item.client_key, segment_id: item.segment_id, cause: item.cause, made_at: item.made_at,
    }),
    (item) => `${names.get(item.segment_id) || item.segment_id}: ${CAUSE_WORDS[item.cause]}`);
  let missed = [];
  const status = (text) => { $("cause-status").textContent = text; };

  async function load() {
    if (!navigator.onLine) return;
    try {
      missed = (await getJson(path(shiftId))).missed;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      // offline after all: keep what was shown
    }
  }

  // One form (street, cause, save) and the list of the shift's missed streets with what each
  // has: a shift can miss dozens, and a form per street would be pages long on a phone.
  function render() {
    const queued = new Map(outbox.items().filter((i) => i.shift_id === shiftId).map((i) => [i.segment_id, i]));
    const street = (s) => `${names.get(s.segment_id) || s.street || s.segment_id} (${s.segment_id})`;
    const rows = missed.map((s) => [s, ...state(s, queued.get(s.segment_id))]);
    const open = rows.filter(([, tone]) => tone === "hot").length;
    $("cause-form").hidden = !missed.length;
    const chosen = $("cause-street").value;
    $("cause-street").innerHTML = `<option value="">Choose a street…</option>` + rows.map(([s, , words]) =>
      `<option value="${fmt.esc(s.segment_id)}">${fmt.esc(street(s))} — ${fmt.esc(words)}</option>`).join("");
    if (missed.some((s) => s.segment_id === chosen)) $("cause-street").value = chosen;
    $("cause-summary").textContent = missed.length
      ? `${fmt.number(missed.length)} planned street(s) not collected on this shift: ${fmt.number(open)} without a cause.`
      : "Every planned street of this shift was collected (or had no data).";
    showCurrent();
    $("missed-causes").innerHTML = rows.map(([s, tone, words]) =>
      `<li data-segment="${fmt.esc(s.segment_id)}" data-cause="${fmt.esc(s.cause || "")}">${fmt.esc(street(s))}
        <span class="badge ${tone}">${fmt.esc(words)}</span></li>`).join("");
  }

  // What the chosen street has now, under its select (the option's text is cut on a phone).
  function showCurrent() {
    const segment = $("cause-street").value;
    const s = missed.find((m) => m.segment_id === segment);
    const queued = outbox.items().find((i) => i.shift_id === shiftId && i.segment_id === segment);
    $("cause-current").textContent = s ? `Now: ${state(s, queued)[1]}.` : "";
  }

  async function flushAndShow() {
    const refused = await outbox.flush();
    if (refused.length) status(`Not accepted: ${refused.join("; ")}`);
    await load();
    render();
  }

  $("cause-kind").innerHTML = `<option value="">Choose a cause…</option>`
    + CAUSES.map(([value, words]) => `<option value="${value}">${fmt.esc(words)}</option>`).join("");
  $("cause-street").addEventListener("change", showCurrent);
  $("cause-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const segment = $("cause-street").value;
    const cause = $("cause-kind").value;
    if (!segment || !cause) {
      status(segment ? "Choose a cause first." : "Choose the street first.");
      $(segment ? "cause-kind" : "cause-street").focus();
      return;
    }
    const item = { client_key: newKey(), shift_id: shiftId, segment_id: segment, cause, made_at: new Date().toISOString() };
    outbox.add(item); // first on the phone, then sent: nothing is lost if the send fails
    const words = `${names.get(segment) || segment}: ${CAUSE_WORDS[cause]}`;
    if (!navigator.onLine) {
      render();
      status(`${words} — saved on this phone. No signal now; it will be sent once the phone is online.`);
      return;
    }
    await flushAndShow();
    status(outbox.has(item.client_key)
      ? `${words} — saved on this phone; it will be sent once the connection is back.`
      : `${words} — saved. This street is no longer counted against your crew.`);
  });
  window.addEventListener("online", () => { flushAndShow().catch(() => {}); });
  await flushAndShow();
}
