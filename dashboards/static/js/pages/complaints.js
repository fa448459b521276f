// The supervisor's 311 queue: each "missed collection" complaint with the record's evidence
// and a suggested reply, a CSV for the 311 team, and the counts per route and week (released
// as every aggregate: a week with fewer than k shifts or k drivers shows no count).

import { download, getJson } from "../api.js";
import { CAUSE_WORDS } from "../causes.js";
import { dayRange, dayRangeFields, reloadWith } from "../controls.js";
import * as fmt from "../format.js";
import { cityLayer, nearestStreet } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);

// What the record says, in words, with the badge colour of each answer.
export const VERDICTS = {
  serviced: ["Collected", "good"],
  missed: ["Not collected", "hot"],
  no_data: ["No data (tracker gap)", "warn"],
  no_shift: ["No record", "warn"],
  no_segment: ["No plan here", ""],
};

function verdict(c) {
  if (c.verdict === "missed" && c.cause) {
    return `<span class="badge warn" data-verdict="missed" data-cause="${fmt.esc(c.cause)}">Not collected: ${fmt.esc((CAUSE_WORDS[c.cause] || c.cause).toLowerCase())}</span>`;
  }
  const [words, tone] = VERDICTS[c.verdict] || [c.verdict || "Not answered yet", ""];
  return `<span class="badge ${tone}" data-verdict="${fmt.esc(c.verdict || "")}">${fmt.esc(words)}</span>`;
}

// Streets within this distance of a complaint name its place; farther out the coordinates do.
const NEAR_STREET_M = 40;

function place(c, city) {
  if (c.address) return fmt.esc(c.address);
  if (c.lat === null) return "–";
  const street = nearestStreet(city, c.lon, c.lat);
  return street.name && street.metres <= NEAR_STREET_M ? `near ${fmt.esc(street.name)}`
    : `${fmt.number(c.lat, 5)}, ${fmt.number(c.lon, 5)}`;
}

function marks(c) {
  const words = [];
  if (c.outside_city) words.push("outside the planned streets");
  if (c.outside_pilot) words.push("before the pilot");
  if (c.times_reopened) words.push(`re-opened ${fmt.number(c.times_reopened)}×`);
  return words.length ? `<br><span class="note">${fmt.esc(words.join(" · "))}</span>` : "";
}

function evidence(c) {
  if (!c.route_id) return "–";
  const parts = [`Route ${fmt.esc(c.route_id)}, segment ${fmt.esc(c.segment_id)}`];
  if (c.vehicle_id) parts.push(`truck ${fmt.esc(c.vehicle_id)}`);
  if (c.collection_day) parts.push(`collection day ${fmt.esc(fmt.date(`${c.collection_day}T12:00:00Z`))}`);
  if (c.passed_at) {
    const when = c.before_complaint === false ? "after the complaint" : "before the complaint";
    parts.push(`passed ${fmt.time(c.passed_at)}, stopped ${fmt.number(c.stopped_s)} s (${when})`);
  }
  return parts.join("; ");
}

function renderSummary(queue) {
  const count = (v) => queue.filter((c) => c.verdict === v && !c.cause).length;
  const figure = (label, value, id) => `<div><dt>${fmt.esc(label)}</dt><dd id="${id}">${fmt.esc(value)}</dd></div>`;
  $("c-summary").innerHTML = [
    figure("Complaints", fmt.number(queue.length), "c-fig-total"),
    figure("Collected, says the record", fmt.number(count("serviced")), "c-fig-serviced"),
    figure("Not collected", fmt.number(count("missed")), "c-fig-missed"),
    figure("Not collected, for a cause", fmt.number(queue.filter((c) => c.verdict === "missed" && c.cause).length), "c-fig-caused"),
    figure("No data, record or plan", fmt.number(count("no_data") + count("no_shift") + count("no_segment")), "c-fig-other"),
  ].join("");
}

function renderQueue(queue, city) {
  // The table scrolls in its own box: say how many rows it holds, so none is overlooked.
  $("c-queue-count").textContent = queue.length > 4 ? `${fmt.number(queue.length)} complaints; the list scrolls.` : "";
  $("c-queue").innerHTML = tableHtml({
    caption: "311 complaints with the record's evidence", id: "c-queue-table", stack: true, scroll: true,
    empty: "No 311 complaint in this period.",
    columns: [{ label: "Complaint" }, { label: "Made" }, { label: "Where" }, { label: "The record" },
      { label: "Evidence" }, { label: "Suggested reply" }],
    rows: queue.map((c) => [
      fmt.esc(c.service_request_id), fmt.dateTime(c.requested_at), place(c, city) + marks(c), verdict(c), evidence(c),
      `<span class="reply">${fmt.esc(c.suggested_reply)}</span>`,
    ]),
  });
}

function renderTally(tally) {
  $("c-tally-rule").textContent = `Counts are shown only for a route's week with at least ${tally.k_min_shifts} shifts `
    + `driven by at least ${tally.k_min_people} different people, as every figure about groups; other weeks say "withheld".`;
  const count = (cell, key) => (cell.released ? fmt.number(cell[key]) : "withheld");
  $("c-tally").innerHTML = tableHtml({
    caption: "Complaints per route and week of the collection day", id: "c-tally-table", stack: true,
    empty: "No complaint matched to a route in these weeks.",
    columns: [{ label: "Route" }, { label: "Week of" }, { label: "Complaints", num: true },
      { label: "Collected", num: true }, { label: "Not collected", num: true }, { label: "For a cause", num: true }],
    rows: tally.cells.map((cell) => [fmt.esc(cell.route_id), fmt.esc(fmt.date(`${cell.week_start}T12:00:00Z`)),
      count(cell, "complaints"), count(cell, "serviced"), count(cell, "missed"), count(cell, "missed_with_cause")]),
  });
}

startPage("complaints", async () => {
  const range = dayRange();
  $("range-fields").innerHTML = dayRangeFields(range);
  $("filters").addEventListener("submit", guarded((event) => {
    event.preventDefault();
    reloadWith(event.target);
  }));
  $("c-download").addEventListener("click", guarded(async () => {
    $("c-download-status").textContent = "Preparing the file…";
    const file = await download("complaints.csv", range.api, "311-evidence.csv");
    $("c-download-status").textContent = `Downloaded ${file.name} (${fmt.number(file.bytes / 1024, 1)} kB).`;
  }));
  const [queue, tally, city] = await Promise.all([
    getJson("complaints", { ...range.api, limit: 1000 }), getJson("complaints/tally", range.api), cityLayer(),
  ]);
  renderSummary(queue);
  renderQueue(queue, city);
  renderTally(tally);
});
