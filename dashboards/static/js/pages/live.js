// Trucks on duty now: the latest position of every vehicle inside an on-duty shift, refreshed
// every REFRESH_S seconds. The API returns nothing for vehicles off duty, and nothing older
// than a few minutes, so a truck that clocks out disappears from the map.

import { getJson } from "../api.js";
import * as fmt from "../format.js";
import { cityLayer, cityTraces, COLOURS, drawMap, pointTrace } from "../map.js";
import { startPage, showError } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const REFRESH_S = 15;

function rows(collection) {
  return collection.features.map((f) => ({ ...f.properties, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] }))
    .sort((a, b) => a.vehicle_id.localeCompare(b.vehicle_id, "en", { numeric: true }));
}

async function draw(city) {
  const trucks = rows(await getJson("live/vehicles"));
  await drawMap($("live-map"), [
    ...cityTraces(city),
    pointTrace(trucks, { name: "On-duty truck", colour: COLOURS.driven, size: 12, symbol: "square",
      line: { color: "#fff", width: 1.5 },
      hover: (t) => `${t.vehicle_id} · route ${t.route_id || "–"} · ${fmt.speedKmh(t.speed_mps)} · ${fmt.time(t.ts)}` }),
  ], { label: `Map of ${trucks.length} trucks on duty now` });
  $("live-table").innerHTML = tableHtml({
    caption: "Latest position of each on-duty truck", id: "live-vehicles", stack: true, scroll: true,
    empty: "No truck is on duty right now.",
    columns: [{ label: "Truck" }, { label: "Route" }, { label: "Last position" }, { label: "Speed", num: true }],
    rows: trucks.map((t) => [fmt.esc(t.vehicle_id), fmt.esc(t.route_id || "–"),
      `${fmt.time(t.ts)} (${fmt.duration(t.age_s)} ago)`, fmt.speedKmh(t.speed_mps)]),
  });
  $("live-status").textContent = `${trucks.length} truck(s) on duty. Updated ${fmt.time(new Date().toISOString())}; refreshes every ${REFRESH_S} s.`;
}

startPage("live", async ({ main }) => {
  const city = await cityLayer();
  await draw(city);
  const timer = setInterval(() => draw(city).catch((error) => {
    clearInterval(timer);
    showError(main, `Live updates stopped: ${error.message}. Reload the page to try again.`);
  }), REFRESH_S * 1000);
});
