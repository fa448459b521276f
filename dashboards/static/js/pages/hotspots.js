// Exposure-normalised hotspots: street segments where an event happens more often per pass
// than the fleet's reference rate, with Getis-Ord/FDR significance from the API. Colour means
// significance, never a raw count; units passed by fewer than k shifts or people are withheld.

import { getJson } from "../api.js";
import { dayRange, dayRangeFields, reloadWith } from "../controls.js";
import * as fmt from "../format.js";
import { cityTraces, drawMap, lineTrace } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const KINDS = ["harsh_brake", "speeding"]; // what /hotspots/segments scores
const MIN_PASSES = 20; // fewer passes say too little about a street to colour it

startPage("hotspots", async () => {
  const range = dayRange(30);
  const query = new URLSearchParams(location.search);
  const kind = KINDS.includes(query.get("kind")) ? query.get("kind") : KINDS[0];
  $("range-fields").innerHTML = dayRangeFields(range);
  $("kind").innerHTML = KINDS.map((k) => `<option value="${k}">${fmt.esc(fmt.eventWords(k))}</option>`).join("");
  $("kind").value = kind;
  $("filters").addEventListener("submit", guarded((event) => {
    event.preventDefault();
    reloadWith(event.target);
  }));
  const [found, city] = await Promise.all([
    getJson("hotspots/segments", { ...range.api, kind, min_passes: MIN_PASSES }), getJson("city"),
  ]);
  const units = found.units.filter((u) => u.geometry);
  const feature = (u) => ({ geometry: u.geometry, properties: u });
  const hover = (f) => {
    const u = f.properties;
    return `${u.name || u.unit_id}: ${fmt.number(u.rate_per_1000, 1)} per 1,000 passes (${fmt.number(u.events)} in ${fmt.number(u.passes)} passes), z ${fmt.number(u.z, 2)}, q ${fmt.number(u.q, 3)}`;
  };
  const significant = units.filter((u) => u.significant);
  const elevated = units.filter((u) => !u.significant && u.z > 0);
  const ordinary = units.filter((u) => !u.significant && u.z <= 0);
  const traces = [
    ...cityTraces(city),
    lineTrace(ordinary.map(feature), { name: "Ordinary", colour: "#c3c9d4", width: 3, hover }),
    lineTrace(elevated.map(feature), { name: "Elevated, not significant", colour: "#f4a582", width: 4, hover }),
    lineTrace(significant.map(feature), { name: "Significant hotspot", colour: "#7a0010", width: 8, hover }),
  ];
  await drawMap($("hotspot-map"), traces, {
    label: `Map of ${fmt.eventWords(kind).toLowerCase()} per pass on ${units.length} street segments; ${significant.length} significant hotspots`,
  });
  const withheld = found.suppressed_units
    ? `<p class="note" id="withheld">${fmt.number(found.suppressed_units)} segment(s) withheld: passed by fewer than ${fmt.number(found.k_min_shifts)} shifts or ${fmt.number(found.k_min_people)} people.</p>` : "";
  const reference = found.reference_rate_per_1000 === null ? ""
    : `<p class="note">Reference rate over the segments shown: ${fmt.number(found.reference_rate_per_1000, 2)} per 1,000 passes.</p>`;
  $("hotspot-table").innerHTML = reference + withheld + tableHtml({
    caption: "Significant hotspots with exposure and rates", id: "hotspot-units", stack: true,
    empty: "No significant hotspot in this period.",
    columns: [{ label: "Street segment" }, { label: "Passes", num: true }, { label: "Events", num: true },
      { label: "Per 1,000 passes", num: true }, { label: "Expected", num: true }, { label: "z", num: true },
      { label: "q (FDR)", num: true }],
    rows: significant.map((u) => [`${fmt.esc(u.name || "–")} <span class="note">${fmt.esc(u.unit_id)}</span>`,
      fmt.number(u.passes), fmt.number(u.events), fmt.number(u.rate_per_1000, 1), fmt.number(u.expected, 1),
      fmt.number(u.z, 2), u.q < 1e-4 ? "&lt; 0.0001" : fmt.number(u.q, 4)]),
  });
});
