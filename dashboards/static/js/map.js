// Maps drawn with plotly.js from lon/lat GeoJSON, with or without base-map tiles.
//
// Without tiles (the default) a map is a plain plotly plane whose y axis is stretched by
// 1/cos(latitude), so a metre north is as long on screen as a metre east; the streets come
// from the city and the route plans, so the map needs no outside service. With a tile URL
// configured (/app-assets/config.json) the same traces go onto plotly's MapLibre map over
// those raster tiles.

import { config } from "./config.js";
import { getJson } from "./api.js";
import { esc } from "./format.js";

const Plotly = window.Plotly;
let cityPromise = null;

/**
 * The city's streets and facilities (the maps' base layer). The API answers with an ETag and
 * `Cache-Control: private, no-cache`, so the browser's own cache keeps the layer across tabs
 * and days and each page asks again with If-None-Match: a 304 without the few hundred kB
 * while the city is unchanged, and still a signed-in request every time.
 */
export function cityLayer() {
  cityPromise ??= getJson("city").catch((error) => {
    cityPromise = null; // a failed fetch is not kept
    throw error;
  });
  return cityPromise;
}

export function mapConfig() {
  return Promise.resolve(config);
}

export const COLOURS = {
  street: "#c3c9d4",
  arterial: "#9aa3b2",
  planned: "#6c8ebf",
  driven: "#14365d",
  stop: "#0b6e4f",
  good: "#1a9850",
  fair: "#d98b00",
  bad: "#c0262d",
  facility: "rgba(120, 94, 160, .25)",
  facilityLine: "#6b4f96",
  event: "#c0262d",
  hot: "#7a0010",
  noData: "#8a8f98",
  fixed: "#00838f",  // a hazard the city fixed: apart from the stops' green and the events' reds
};

function coordinateLists(geometry) {
  if (!geometry) return [];
  switch (geometry.type) {
    case "LineString": return [geometry.coordinates];
    case "MultiLineString": return geometry.coordinates;
    case "Polygon": return [geometry.coordinates[0]];
    case "MultiPolygon": return geometry.coordinates.map((polygon) => polygon[0]);
    default: return [];
  }
}

/**
 * One line trace from many LineString/Polygon features (null-separated, so thousands of
 * streets cost one SVG path, not thousands of traces).
 */
export function lineTrace(features, { name, colour, width = 2, dash, hover, showlegend = true, fill } = {}) {
  const x = [];
  const y = [];
  const text = [];
  for (const feature of features) {
    for (const coords of coordinateLists(feature.geometry)) {
      for (const [lon, lat] of coords) {
        x.push(lon);
        y.push(lat);
        text.push(hover ? hover(feature) : "");
      }
      x.push(null);
      y.push(null);
      text.push("");
    }
  }
  const trace = {
    type: "scatter", mode: "lines", name, x, y, showlegend,
    line: { color: colour, width, ...(dash ? { dash } : {}) },
    hoverinfo: hover ? "text" : "skip", text,
  };
  if (fill) Object.assign(trace, { fill: "toself", fillcolor: fill });
  return trace;
}

/** A marker trace from rows with lon/lat. */
export function pointTrace(rows, { name, colour, size = 8, symbol = "circle", hover, line, showlegend = true } = {}) {
  return {
    type: "scatter", mode: "markers", name, showlegend,
    x: rows.map((r) => r.lon), y: rows.map((r) => r.lat),
    marker: { color: typeof colour === "function" ? rows.map(colour) : colour, size, symbol, ...(line ? { line } : {}) },
    hoverinfo: hover ? "text" : "skip",
    text: hover ? rows.map(hover) : undefined,
  };
}

// Drawn heavier: the synthetic city's arterials and an imported network's main roads (OSM classes,
// docs/streets.md), so a real city's irregular grid still shows the roads people steer by.
const MAIN_ROADS = new Set([
  "arterial", "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
]);

/** Streets (arterials heavier) and facility outlines: the map's own base layer. */
export function cityTraces(city) {
  const features = city?.features || [];
  const streets = features.filter((f) => f.geometry?.type?.endsWith("LineString"));
  const main = (f) => MAIN_ROADS.has(f.properties?.road_class);
  const arterials = streets.filter(main);
  const others = streets.filter((f) => !main(f));
  const facilities = features.filter((f) => f.geometry?.type?.endsWith("Polygon"));
  const named = (f) => f.properties?.name || f.properties?.segment_id || "";
  return [
    lineTrace(others, { name: "Streets", colour: COLOURS.street, width: 1, showlegend: false, hover: named }),
    lineTrace(arterials, { name: "Main roads", colour: COLOURS.arterial, width: 2.5, showlegend: false, hover: named }),
    lineTrace(facilities, {
      name: "Depot, transfer station, landfill, break", colour: COLOURS.facilityLine, width: 1,
      fill: COLOURS.facility, hover: (f) => `${f.properties?.name || ""} (${(f.properties?.facility_type || "").replace("_", " ")})`,
    }),
  ];
}

/**
 * The street nearest to a point, from the city layer: { name, segment_id, metres }. Distances
 * are measured on a local plane (x scaled by cos latitude), exact enough over a city block.
 */
export function nearestStreet(city, lon, lat) {
  const kx = Math.cos((lat * Math.PI) / 180) * 111_320;
  const ky = 110_540;
  let best = { name: null, segment_id: null, metres: Infinity };
  for (const f of city.features) {
    if (f.properties.kind !== "street") continue;
    const coords = f.geometry.coordinates;
    for (let i = 1; i < coords.length; i += 1) {
      const ax = (coords[i - 1][0] - lon) * kx;
      const ay = (coords[i - 1][1] - lat) * ky;
      const bx = (coords[i][0] - lon) * kx;
      const by = (coords[i][1] - lat) * ky;
      const dx = bx - ax;
      const dy = by - ay;
      const t = dx || dy ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / (dx * dx + dy * dy))) : 0;
      const d = Math.hypot(ax + t * dx, ay + t * dy);
      if (d < best.metres) best = { name: f.properties.name, segment_id: f.properties.segment_id, metres: d };
    }
  }
  return best;
}

/**
 * The box around the city's streets without its outliers (the 1st to 99th percentile of their
 * points, so a long road out to the landfill does not shrink the city to a corner of the map),
 * widened to take in the facilities at the city's edge (a depot or transfer station off the
 * outermost junction, cut in half on a phone otherwise; not the landfill kilometres out) and
 * every marker (trucks, events).
 */
function cityExtent(traces) {
  const xs = [];
  const ys = [];
  for (const t of traces) {
    if (t.mode !== "lines" || t.fill === "toself") continue;
    for (let i = 0; i < (t.x || []).length; i += 1) {
      if (t.x[i] === null || t.x[i] === undefined) continue;
      xs.push(t.x[i]);
      ys.push(t.y[i]);
    }
  }
  if (xs.length < 100) return extent(traces.filter((t) => t.fill !== "toself"));
  const sorted = (v) => Float64Array.from(v).sort();
  const [sx, sy] = [sorted(xs), sorted(ys)];
  const at = (v, q) => v[Math.round(q * (v.length - 1))];
  const box = { x0: at(sx, 0.01), x1: at(sx, 0.99), y0: at(sy, 0.01), y1: at(sy, 0.99) };
  // Near: within a quarter of the city's span (east-west degrees scaled to north-south ones).
  const kx = Math.cos((((box.y0 + box.y1) / 2) * Math.PI) / 180);
  const near = 0.25 * Math.max((box.x1 - box.x0) * kx, box.y1 - box.y0);
  for (const part of polygons(traces.filter((t) => t.fill === "toself"))) {
    const outX = Math.max(box.x0 - part.x0, part.x1 - box.x1, 0) * kx;
    const outY = Math.max(box.y0 - part.y0, part.y1 - box.y1, 0);
    if (Math.max(outX, outY) > near) continue;
    box.x0 = Math.min(box.x0, part.x0); box.x1 = Math.max(box.x1, part.x1);
    box.y0 = Math.min(box.y0, part.y0); box.y1 = Math.max(box.y1, part.y1);
  }
  const markers = extent(traces.filter((t) => t.mode === "markers"));
  if (traces.some((t) => t.mode === "markers" && (t.x || []).length)) {
    box.x0 = Math.min(box.x0, markers.x0); box.x1 = Math.max(box.x1, markers.x1);
    box.y0 = Math.min(box.y0, markers.y0); box.y1 = Math.max(box.y1, markers.y1);
  }
  return box;
}

/** The box of each null-separated ring of the traces (one per facility outline). */
function polygons(traces) {
  const boxes = [];
  for (const t of traces) {
    let box = null;
    for (let i = 0; i <= (t.x || []).length; i += 1) {
      const x = t.x[i];
      const y = t.y[i];
      if (x === null || x === undefined || y === null || y === undefined) {
        if (box) boxes.push(box);
        box = null;
        continue;
      }
      box = box
        ? { x0: Math.min(box.x0, x), x1: Math.max(box.x1, x), y0: Math.min(box.y0, y), y1: Math.max(box.y1, y) }
        : { x0: x, x1: x, y0: y, y1: y };
    }
  }
  return boxes;
}

function extent(traces) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const t of traces) {
    for (let i = 0; i < (t.x || []).length; i += 1) {
      const x = t.x[i];
      const y = t.y[i];
      if (x === null || y === null || x === undefined) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  return Number.isFinite(x0) ? { x0, x1, y0, y1 } : { x0: -0.01, x1: 0.01, y0: -0.01, y1: 0.01 };
}

/** A trace for plotly's MapLibre map: lon/lat instead of x/y; no dashes (MapLibre has none). */
function toTiles(trace) {
  const { x, y, type: _type, line, ...rest } = trace;
  // Text on a MapLibre map needs glyphs from a font server: keep markers, drop their labels.
  const tiled = { ...rest, type: "scattermap", lon: x, lat: y, mode: (rest.mode || "lines").replace("+text", "") };
  if (line) tiled.line = { color: line.color, width: line.width };
  // Any symbol but a circle makes plotly fetch Maki icons from a CDN: keep plain circles.
  if (rest.marker) {
    const { symbol: _symbol, line: _outline, ...marker } = rest.marker;
    tiled.marker = marker;
  }
  return tiled;
}

const PLOT_CONFIG = {
  responsive: true,
  displaylogo: false,
  scrollZoom: true,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toImage", "zoomIn2d", "zoomOut2d"],
};

/** The colour a trace shows in the key (the first one when the colours vary per point). */
function keyColour(trace) {
  const colour = trace.mode === "markers" ? trace.marker?.color : trace.line?.color || trace.marker?.color;
  return Array.isArray(colour) ? colour[0] : colour;
}

/**
 * A map's or chart's key as HTML under it rather than plotly's legend: on a 375 px phone
 * plotly's legend wraps into a block that takes a third of a map's height, or spills out
 * of a chart's box over the text below.
 */
function keyHtml(traces) {
  const drawn = (t) => (t.y || []).some((v) => v !== null && v !== undefined);
  const items = traces.filter((t) => t.showlegend !== false && t.name && drawn(t)).map((t) => {
    let shape = "line";
    if (t.fill === "toself" || t.fill === "tonexty") shape = "area";
    else if (t.mode === "markers") shape = ["diamond", "square"].includes(t.marker?.symbol) ? t.marker.symbol : "dot";
    else if (t.line?.dash) shape = "dash";
    const fill = shape === "area" ? `;--f:${t.fillcolor}` : "";
    return `<li><i class="swatch ${shape}" style="--c:${esc(keyColour(t) || t.fillcolor || "#888")}${esc(fill)}" aria-hidden="true"></i>${esc(t.name)}</li>`;
  });
  return items.join("");
}

function placeKey(el, traces, attribution) {
  let key = el.nextElementSibling;
  if (!key?.classList.contains("map-key")) {
    key = document.createElement("div");
    key.className = "map-key";
    el.after(key);
  }
  const items = keyHtml(traces);
  key.innerHTML = (items ? `<ul class="legend" aria-label="Map key">${items}</ul>` : "")
    + (attribution ? `<p class="note attribution">Map tiles: ${esc(attribution)}</p>` : "");
}

function plotWidth(el, margin) {
  return Math.max(100, el.clientWidth - margin.l - margin.r);
}

function plotHeight(el, margin) {
  return Math.max(100, el.clientHeight - margin.t - margin.b);
}

const framing = new WeakMap();
let resizes = null;

/** After the element changes size, let plotly resize, then restore the framing `frame()` gives. */
function keepFramed(el, frame) {
  resizes ??= new ResizeObserver((entries) => {
    for (const { target } of entries) {
      const entry = framing.get(target);
      if (!entry || !target._fullLayout) continue;
      if (entry.width === target.clientWidth && entry.height === target.clientHeight) continue;
      entry.width = target.clientWidth;
      entry.height = target.clientHeight;
      // A map removed from the page meanwhile has nothing to frame.
      Plotly.Plots.resize(target).then(() => Plotly.relayout(target, entry.frame())).catch(() => {});
    }
  });
  if (!framing.has(el)) resizes.observe(el);
  framing.set(el, { frame, width: el.clientWidth, height: el.clientHeight });
}

// Zoom at which `span` degrees of longitude fill `pixels` (MapLibre's world is 512 px wide at zoom 0).
function zoomFor(span, pixels) {
  return Math.log2((360 * pixels) / (512 * Math.max(span, 1e-5)));
}

/**
 * Draw `traces` (lon/lat in x/y) into `el`. `focus` (traces) decides the initial view;
 * `label` describes the map for screen readers (the page also lists what it shows in text).
 */
export async function drawMap(el, traces, { label, focus } = {}) {
  const config = await mapConfig();
  el.setAttribute("role", "figure");
  el.setAttribute("aria-label", label);
  placeKey(el, traces, config.tile_url ? config.tile_attribution || "" : "");
  const box = focus && focus.length ? extent(focus) : cityExtent(traces);
  const lat0 = (box.y0 + box.y1) / 2;
  const stretch = 1 / Math.cos((lat0 * Math.PI) / 180);
  // A few pixels of margin keep markers on the edge of the framed area whole.
  const margin = { l: 8, r: 8, t: 8, b: 8 };
  if (config.tile_url) {
    // Fit the focus box into the element's own size, with a tenth to spare.
    const zoom = () => Math.max(1, Math.min(18, Math.min(zoomFor(box.x1 - box.x0, plotWidth(el, margin)),
      zoomFor((box.y1 - box.y0) * stretch, plotHeight(el, margin))) - 0.15));
    keepFramed(el, () => ({ "map.zoom": zoom(), "map.center": { lon: (box.x0 + box.x1) / 2, lat: lat0 } }));
    const layout = {
      margin, showlegend: false,
      map: {
        style: "white-bg",
        center: { lon: (box.x0 + box.x1) / 2, lat: lat0 },
        zoom: zoom(),
        layers: [{ below: "traces", sourcetype: "raster", source: [config.tile_url],
                   sourceattribution: config.tile_attribution || "" }],
      },
    };
    return Plotly.react(el, traces.map(toTiles), layout, PLOT_CONFIG);
  }
  // Equal scale: the y axis is tied to x (scaleratio = metres per degree north / east), and
  // plotly widens whichever range has room to spare, so the padded focus box always fits.
  const padX = (box.x1 - box.x0) * 0.03 + 1e-4;
  const padY = (box.y1 - box.y0) * 0.03 + 1e-4;
  const xRange = [box.x0 - padX, box.x1 + padX];
  const yRange = [box.y0 - padY, box.y1 + padY];
  // Plotly keeps the widened ranges when the map is resized (a phone turned, a window
  // narrowed): frame the focus box afresh instead.
  keepFramed(el, () => ({ "xaxis.range": xRange, "yaxis.range": yRange }));
  const layout = {
    margin, showlegend: false, dragmode: "pan", hovermode: "closest",
    plot_bgcolor: "#fbfcfd", paper_bgcolor: "#ffffff",
    xaxis: { visible: false, range: xRange },
    yaxis: { visible: false, range: yRange, scaleanchor: "x", scaleratio: stretch },
  };
  return Plotly.react(el, traces, layout, PLOT_CONFIG);
}

/** A chart with the same plotly options as the maps (responsive, no logo, no selection tools). */
export function drawChart(el, traces, layout, label) {
  el.setAttribute("role", "figure");
  el.setAttribute("aria-label", label);
  placeKey(el, traces, "");
  // Plotly draws a fixed height into an absolutely placed layer: give the box that height.
  if (layout.height) el.style.height = `${layout.height}px`;
  return Plotly.react(el, traces, {
    margin: { l: 48, r: 16, t: 8, b: 40 },
    showlegend: false,
    font: { size: 12 },
    ...layout,
  }, { ...PLOT_CONFIG, scrollZoom: false });
}
