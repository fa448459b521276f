// Exposure-normalised hotspots as places: grid cells (Getis-Ord Gi*) or street segments (rate
// against the fleet's) where an event happens more often per pass, with FDR-controlled
// significance computed by the API, which also merges touching flagged units into named places. Colour means significance, never a raw count; a place's week passed by
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
  significant: { name: "Hotspot place (numbered as in the table)", colour: "#7a0010", fill: "rgba(122, 0, 16, .55)", width: 8 },
  elevated: { name: "Elevated, not significant", colour: "#e08a5f", width: 4 },
  ordinary: { name: "Ordinary", colour: "#b5bcc8", width: 3 },
};

function where(u) {
  return u.name || (u.lat === null ? u.unit_id : `cell at ${fmt.number(u.lat, 4)}, ${fmt.number(u.lon, 4)}`);
}

// "×4.0 (2.1–6.9)": how many times the fleet's rate, with its 95 % interval.
function times(value, low, high) {
  return `${fmt.number(value, 1)}× <span class="note">(${fmt.number(low, 1)}–${fmt.number(high, 1)})</span>`;
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
  const places = found.places;
  const placeName = Object.fromEntries(places.map((p) => [p.place_id, p.name]));
  const hover = (f) => {
    const u = f.properties;
    return `${where(u)}: ${fmt.number(u.rate_per_1000, 1)} per 1,000 passes (${fmt.number(u.events)} in ${fmt.number(u.passes)} passes)`;
  };
  const placeHover = (f) => {
    const p = f.properties;
    return `${p.name}: ${fmt.number(p.rate_per_1000, 1)} per 1,000 passes, ${fmt.number(p.ratio, 1)}× the fleet's rate`;
  };
  const group = (u) => (u.place_id ? "significant" : u.z > 0 ? "elevated" : "ordinary");
  const features = (name) => units.filter((u) => group(u) === name).map((u) => ({ geometry: u.geometry, properties: u }));
  const outlines = places.map((p) => ({ geometry: p.geometry, properties: p }));
  // Places are the map's subject: one outline (cells) or one thick line (segments) each,
  // labelled with its name; above-fleet units that are no place stay faint context.
  const layers = level === "cells"
    ? [
      pointTrace(units.filter((u) => group(u) === "elevated"), { name: STYLE.elevated.name, colour: STYLE.elevated.colour,
        size: 4, hover: (u) => hover({ properties: u }) }),
      lineTrace(outlines, { name: STYLE.significant.name, colour: STYLE.significant.colour, width: 2,
        fill: STYLE.significant.fill, hover: placeHover }),
    ]
    : [
      ...["ordinary", "elevated"].map((name) => lineTrace(features(name), {
        name: STYLE[name].name, colour: STYLE[name].colour, width: STYLE[name].width, hover })),
      lineTrace(outlines, { name: STYLE.significant.name, colour: STYLE.significant.colour,
        width: STYLE.significant.width, hover: placeHover }),
    ];
  // Each place's number from the table in a dark disc on the place.
  const labels = { ...pointTrace(places, { name: "Hotspot numbers", colour: STYLE.significant.colour, size: 20,
    showlegend: false, line: { color: "#ffffff", width: 2 }, hover: (p) => placeHover({ properties: p }) }),
  mode: "markers+text", text: places.map((p, i) => `${i + 1}`), textposition: "middle center",
  textfont: { color: "#ffffff", size: 12 } };
  // Framed on the places listed, with a few hundred metres of streets around them for
  // context (or, with no place, on the units tested), not on the whole city.
  const tested = level === "cells" ? [pointTrace(units, {})] : layers;
  const around = (p) => [{ lon: p.lon - 0.004, lat: p.lat - 0.003 }, { lon: p.lon + 0.004, lat: p.lat + 0.003 }];
  const focus = places.length ? [lineTrace(outlines, {}), pointTrace(places.flatMap(around), {})] : tested;
  await drawMap($("hotspot-map"), [...cityTraces(city), ...layers, labels], {
    focus: focus.filter((t) => t.x.some((x) => x !== null && x !== undefined)),
    label: `Map of ${fmt.eventWords(kind).toLowerCase()} per pass: ${places.length ? `${places.length} hotspot place(s), numbered as in the table: ${places.map((p, i) => `${i + 1} ${p.name}`).join("; ")}` : "no hotspot place"}`,
  });
  const cell = found.cell_m ? ` Cells are ${fmt.number(found.cell_m)} m squares.` : "";
  const fleetRate = found.reference_rate_per_1000 === null ? "" : ` The fleet's rate: ${fmt.number(found.reference_rate_per_1000, 2)} per 1,000 passes.`;
  $("method").textContent = `A hotspot is a place where ${fmt.eventWords(kind).toLowerCase()} happens more often per truck passing than the fleet's rate, by more than chance explains: `
    + `${fmt.number(found.tested_units)} ${level === "cells" ? "grid cells" : "street segments"} were tested (${METHODS[found.method] || found.method}), `
    + `and at most ${fmt.number(found.fdr * 100)} % of the places flagged are expected to be false alarms. Touching flagged ${level === "cells" ? "cells" : "segments"} with a rate above the fleet's are one place, named by its streets. `
    + `The interval is where the true rate lies with 95 % confidence.${fleetRate}`
    + (found.min_passes > 1 ? ` Places passed fewer than ${fmt.number(found.min_passes)} times are not tested.` : "") + cell;
  // What the privacy rule withheld, apart, so the reading of the table is not buried in it.
  $("withheld").textContent = found.suppressed_cells
    ? `Withheld for privacy: ${fmt.number(found.suppressed_cells)} week(s) of a place (${fmt.number(found.suppressed_units)} place(s) entirely) — `
      + `a place's week counts only when passed in at least ${fmt.number(found.k_min_shifts)} shifts by at least ${fmt.number(found.k_min_people)} people.`
    : "";
  $("hotspot-table").innerHTML = tableHtml({
    caption: "Hotspot places: their rate against the fleet's, and why each is significant", id: "hotspot-places", stack: true,
    empty: "No hotspot in this period.",
    columns: [{ label: "#", num: true }, { label: "Place" }, { label: "Per 1,000 passes (95 % interval)", num: true },
      { label: "Fleet", num: true }, { label: "Times the fleet's rate", num: true }, { label: "Why it is a hotspot" }],
    rows: places.map((p, i) => [String(i + 1), `<strong data-place="${fmt.esc(p.place_id)}">${fmt.esc(p.name)}</strong>`,
      `${fmt.number(p.rate_per_1000, 1)} <span class="note">(${fmt.number(p.rate_low_per_1000, 1)}–${fmt.number(p.rate_high_per_1000, 1)})</span>`,
      fmt.number(p.fleet_rate_per_1000, 2), times(p.ratio, p.ratio_low, p.ratio_high), fmt.esc(p.significance)]),
  });
  // The cells or segments behind the places (and every other flagged one), with ids, for checking and exports.
  const flagged = units.filter((u) => u.significant);
  $("unit-count").textContent = `${fmt.number(flagged.length)} flagged ${level === "cells" ? "cells" : "segments"}`;
  $("unit-table").innerHTML = tableHtml({
    caption: `Flagged ${level === "cells" ? "grid cells" : "street segments"} with their place, exposure and scores`, id: "hotspot-units", stack: true, scroll: true,
    empty: "None flagged in this period.",
    columns: [{ label: level === "cells" ? "Cell" : "Street segment" }, { label: "Place" }, { label: "Passes", num: true },
      { label: "Events", num: true }, { label: "Per 1,000 passes", num: true }, { label: "z", num: true },
      { label: "q (FDR)", num: true }],
    rows: flagged.map((u) => [`${fmt.esc(where(u))} <span class="note" data-unit="${fmt.esc(u.unit_id)}">${fmt.esc(u.unit_id)}</span>`,
      u.place_id ? fmt.esc(placeName[u.place_id]) : `<span class="note">none (${u.events ? "its own rate is not above the fleet's" : "no event of its own"})</span>`,
      fmt.number(u.passes), fmt.number(u.events), fmt.number(u.rate_per_1000, 1), fmt.number(u.z, 2),
      u.q < 1e-4 ? "&lt; 0.0001" : fmt.number(u.q, 4)]),
  });
});
