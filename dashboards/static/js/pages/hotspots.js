// Exposure-normalised hotspots: grid cells (Getis-Ord Gi*) or street segments (rate against
// the fleet's) where an event happens more often per pass, with FDR-controlled significance
// computed by the API. Colour means significance, never a raw count; a place's week passed by
// fewer than k shifts or people is withheld by the API and counts in no figure.

import { getJson } from "../api.js";
import { dayRange, dayRangeFields, reloadWith } from "../controls.js";
import * as fmt from "../format.js";
import { cityLayer, cityTraces, drawMap, lineTrace, pointTrace } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
// What each level can score (the API's SegmentKind / CellKind).
const KINDS = {
  cells: ["harsh_brake", "harsh_accel", "harsh_corner", "speeding"],
  segments: ["harsh_brake", "speeding"],
};
const METHODS = {
  gi_star: "Getis-Ord Gi* over each cell and its neighbours",
  poisson_exceedance: "the segment's events against the number expected from its passes at the fleet's rate (Poisson)",
};
const STYLE = {
  significant: { name: "Significant hotspot", colour: "#7a0010", fill: "rgba(122, 0, 16, .75)", width: 8 },
  elevated: { name: "Elevated, not significant", colour: "#e08a5f", width: 4 },
  ordinary: { name: "Ordinary", colour: "#b5bcc8", width: 3 },
};

function where(u) {
  return u.name || (u.lat === null ? u.unit_id : `cell ${u.unit_id} (${fmt.number(u.lat, 4)}, ${fmt.number(u.lon, 4)})`);
}

startPage("hotspots", async () => {
  const range = dayRange(30);
  const query = new URLSearchParams(location.search);
  const level = query.get("level") === "segments" ? "segments" : "cells";
  const kinds = KINDS[level];
  const kind = kinds.includes(query.get("kind")) ? query.get("kind") : kinds[0];
  $("range-fields").innerHTML = dayRangeFields(range);
  $("level").value = level;
  $("kind").innerHTML = kinds.map((k) => `<option value="${k}">${fmt.esc(fmt.eventWords(k))}</option>`).join("");
  $("kind").value = kind;
  $("filters").addEventListener("submit", guarded((event) => {
    event.preventDefault();
    reloadWith(event.target);
  }));
  const [found, city] = await Promise.all([getJson(`hotspots/${level}`,
    // Cells: only those above the fleet's level are drawn, so only those are fetched (scores
    // are still computed over all tested cells); a month of cells listed in full is megabytes.
    { ...range.api, kind, min_level: level === "cells" ? "elevated" : "all" }), cityLayer()]);
  const units = found.units.filter((u) => u.geometry);
  const hover = (f) => {
    const u = f.properties;
    return `${where(u)}: ${fmt.number(u.rate_per_1000, 1)} per 1,000 passes (${fmt.number(u.events)} in ${fmt.number(u.passes)} passes), z ${fmt.number(u.z, 2)}, q ${fmt.number(u.q, 3)}`;
  };
  const group = (u) => (u.significant ? "significant" : u.z > 0 ? "elevated" : "ordinary");
  const features = (name) => units.filter((u) => group(u) === name).map((u) => ({ geometry: u.geometry, properties: u }));
  // Cells: thousands are tested, so only significant ones are drawn as squares, elevated ones
  // as light dots at their centres, and ordinary ones not at all (the streets give context).
  const layers = level === "cells"
    ? [
      pointTrace(units.filter((u) => group(u) === "elevated"), { name: STYLE.elevated.name, colour: STYLE.elevated.colour,
        size: 5, hover: (u) => hover({ properties: u }) }),
      lineTrace(features("significant"), { name: STYLE.significant.name, colour: STYLE.significant.colour, width: 1,
        fill: STYLE.significant.fill, hover }),
    ]
    : ["ordinary", "elevated", "significant"].map((name) => lineTrace(features(name), {
      name: STYLE[name].name, colour: STYLE[name].colour, width: STYLE[name].width, hover }));
  const significant = units.filter((u) => u.significant);
  // Framed on the places listed (drawn or not), not on the whole city out to the landfill.
  const tested = level === "cells" ? [pointTrace(units, {})] : layers;
  await drawMap($("hotspot-map"), [...cityTraces(city), ...layers], {
    focus: tested.filter((t) => t.x.some((x) => x !== null && x !== undefined)),
    label: `Map of ${fmt.eventWords(kind).toLowerCase()} per pass over ${found.tested_units} ${level === "cells" ? "grid cells" : "street segments"}; ${significant.length} significant hotspots`,
  });
  const cell = found.cell_m ? ` Cells are ${fmt.number(found.cell_m)} m squares.` : "";
  $("method").textContent = `${fmt.number(found.tested_units)} ${level === "cells" ? "cells" : "segments"} tested. Significance: ${METHODS[found.method] || found.method}, false discovery rate controlled (q). `
    + `Places passed fewer than ${fmt.number(found.min_passes)} times are not tested.${cell}`
    + (found.reference_rate_per_1000 === null ? "" : ` Fleet rate: ${fmt.number(found.reference_rate_per_1000, 2)} per 1,000 passes.`)
    + (found.suppressed_cells ? ` ${fmt.number(found.suppressed_cells)} week(s) of a place withheld (${fmt.number(found.suppressed_units)} place(s) entirely): `
      + `a place's week counts only when passed in at least ${fmt.number(found.k_min_shifts)} shifts by at least ${fmt.number(found.k_min_people)} people.` : "");
  $("hotspot-table").innerHTML = tableHtml({
    caption: "Significant hotspots with exposure and rates", id: "hotspot-units", stack: true, scroll: true,
    empty: "No significant hotspot in this period.",
    columns: [{ label: level === "cells" ? "Cell" : "Street segment" }, { label: "Passes", num: true },
      { label: "Events", num: true }, { label: "Per 1,000 passes", num: true }, { label: "z", num: true },
      { label: "q (FDR)", num: true }],
    rows: significant.map((u) => [`${fmt.esc(where(u))} <span class="note" data-unit="${fmt.esc(u.unit_id)}">${fmt.esc(u.unit_id)}</span>`,
      fmt.number(u.passes), fmt.number(u.events), fmt.number(u.rate_per_1000, 1), fmt.number(u.z, 2),
      u.q < 1e-4 ? "&lt; 0.0001" : fmt.number(u.q, 4)]),
  });
});
