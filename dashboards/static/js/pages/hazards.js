// The city's hazard list (supervisors, data officers): places and kinds crews reported, with
// the city's status. The API never sends who reported; below k reporters it sends no count.

import { getJson } from "../api.js";
import * as fmt from "../format.js";
import { CATEGORY_WORDS, STATUS_WORDS } from "../hazards.js";
import { cityLayer, cityTraces, COLOURS, drawMap, pointTrace } from "../map.js";
import { startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);

function reportsWords(h, k) {
  return h.reports === null ? `fewer than ${k} people` : `${fmt.number(h.reports)} by ${fmt.number(h.reporters)} people`;
}

startPage("hazards", async () => {
  const [list, city] = await Promise.all([getJson("hazards"), cityLayer()]);
  const k = list.k_min_people;
  const hazards = list.hazards;
  const marker = pointTrace(hazards, {
    name: "Reported hazards", colour: (h) => (h.status === "fixed" ? COLOURS.good : COLOURS.bad), size: 12,
    symbol: "diamond", line: { color: "#fff", width: 1.5 },
    hover: (h) => `${CATEGORY_WORDS[h.category]} — ${h.place} (${STATUS_WORDS[h.status]})`,
  });
  await drawMap($("hazard-map"), [...cityTraces(city), marker], {
    label: `Map of ${hazards.length} reported hazards`, focus: hazards.length > 1 ? [marker] : [],
  });
  $("hazard-table").innerHTML = tableHtml({
    caption: "Reported hazards, by place and kind", id: "hazards-table", stack: true,
    empty: "No hazard reported yet.",
    columns: [{ label: "Place" }, { label: "What" }, { label: "Status" }, { label: "Reports" }, { label: "Time of day" }],
    rows: hazards.map((h) => [fmt.esc(h.place), fmt.esc(CATEGORY_WORDS[h.category] || h.category),
      fmt.esc(STATUS_WORDS[h.status] || h.status), fmt.esc(reportsWords(h, k)), fmt.esc(h.parts_of_day.join(", "))]),
  });
});
