// The city's hazard list (supervisors, data officers): places and kinds crews reported, with
// the statistical hotspot at the same street and the city's status. The API never sends who
// reported; below k reporters it sends no count. Supervisors move a hazard along here.

import { getJson, sendJson } from "../api.js";
import * as fmt from "../format.js";
import { CATEGORY_WORDS, effectWords, STATUS_WORDS } from "../hazards.js";
import { cityLayer, cityTraces, COLOURS, drawMap, pointTrace } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);

function reportsWords(h, k) {
  return h.reports === null ? `fewer than ${k} people` : `${fmt.number(h.reports)} by ${fmt.number(h.reporters)} people`;
}

function statusWords(h) {
  return h.status === "fixed" ? `Fixed on ${fmt.esc(h.fixed_on)}: ${fmt.esc(h.fix_what)}` : fmt.esc(STATUS_WORDS[h.status]);
}

/** The fixed hazard's before/after: the API's sentence and the counts it rests on. */
function beforeAfter(h) {
  const e = h.effect;
  if (!e) return h.status === "fixed" ? "Off the streets: no passes to count" : "—";
  const counts = `${fmt.number(e.events_before)} hard brakes in ${fmt.number(e.passes_before)} passes before, `
    + `${fmt.number(e.events_after)} in ${fmt.number(e.passes_after)} after (${e.streets} street${e.streets === 1 ? "" : "s"})`;
  return `${fmt.esc(effectWords(e))}<br><span class="note">${fmt.esc(counts)}</span>`;
}

/** A supervisor's form to move one hazard along (labelled controls, so it works by keyboard). */
function statusForm(h) {
  const id = h.hazard_id;
  const options = Object.entries(STATUS_WORDS).map(([value, words]) =>
    `<option value="${value}"${value === h.status ? " selected" : ""}>${fmt.esc(words)}</option>`).join("");
  return `<form class="hazard-status" data-hazard="${id}">
    <label for="st-${id}">Status</label><select id="st-${id}" name="status">${options}</select>
    <label for="what-${id}">What was done (when fixed)</label><input id="what-${id}" name="fix_what" maxlength="300" value="${fmt.esc(h.fix_what || "")}">
    <label for="on-${id}">Fixed on</label><input id="on-${id}" name="fixed_on" type="date" value="${fmt.esc(h.fixed_on || "")}">
    <button type="submit" class="small">Save</button></form>`;
}

startPage("hazards", async ({ me }) => {
  const [list, city] = await Promise.all([getJson("hazards"), cityLayer()]);
  const k = list.k_min_people;
  const hazards = list.hazards;
  const canMove = me.role === "supervisor";
  const marker = pointTrace(hazards, {
    name: "Reported hazards", colour: (h) => (h.status === "fixed" ? COLOURS.good : COLOURS.bad), size: 12,
    symbol: "diamond", line: { color: "#fff", width: 1.5 },
    hover: (h) => `${CATEGORY_WORDS[h.category]} — ${h.place} (${STATUS_WORDS[h.status]})${h.effect ? `<br>${effectWords(h.effect)}` : ""}`,
  });
  await drawMap($("hazard-map"), [...cityTraces(city), marker], {
    label: `Map of ${hazards.length} reported hazards`, focus: hazards.length > 1 ? [marker] : [],
  });
  $("hazard-table").innerHTML = tableHtml({
    caption: "Reported hazards, by place and kind", id: "hazards-table", stack: true,
    empty: "No hazard reported yet.",
    columns: [{ label: "Place" }, { label: "What" }, { label: "Status" }, { label: "Reports" }, { label: "Time of day" },
      { label: "Statistical hotspot here" }, { label: "Before and after the fix" }, ...(canMove ? [{ label: "Move along" }] : [])],
    rows: hazards.map((h) => [fmt.esc(h.place), fmt.esc(CATEGORY_WORDS[h.category] || h.category), statusWords(h),
      fmt.esc(reportsWords(h, k)), fmt.esc(h.parts_of_day.join(", ")), h.hotspot ? `Yes: ${fmt.esc(h.hotspot)}` : "No",
      beforeAfter(h), ...(canMove ? [statusForm(h)] : [])]),
  });
  $("hazard-table").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const form = event.target;
    const data = Object.fromEntries(new FormData(form));
    const body = { status: data.status, ...(data.status === "fixed" ? { fix_what: data.fix_what, fixed_on: data.fixed_on } : {}) };
    await sendJson("PATCH", `hazards/${form.dataset.hazard}`, body);
    $("hazard-saved").textContent = `Saved: ${STATUS_WORDS[data.status]}.`;
    location.reload();
  }));
});
