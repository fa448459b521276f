// Route plan editing: reorder stops, move service segments (with their stops) to another
// route, save as new versions, import and export GeoJSON (the simulator's routes.geojson
// format: features with route_id, feature_type "segment" | "stop", seq, ...).
//
// A route's current plan is loaded when it is opened (or when a segment is moved onto it) and
// edited in memory; a city's plans together run to megabytes, so they are fetched whole only
// for the export. Saving sends the full plans of the routes that changed, and the server
// writes a new version of each (old shifts keep pointing at the version they drove). Every
// control is a button or a select, so the whole editor works from the keyboard.

import { download, getJson, sendJson } from "../api.js";
import * as fmt from "../format.js";
import { cityLayer, cityTraces, COLOURS, drawMap, lineTrace, pointTrace } from "../map.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const ENDPOINTS = {
  routes: "routes",            // GET: every route with its current version
  all: "routes/plans.geojson", // GET: FeatureCollection of every route's current plan (export)
  plan: (id) => `routes/${encodeURIComponent(id)}/plan.geojson`, // GET: one route's current plan
  save: "routes/plans",        // POST: FeatureCollection (+ note); changed routes get a new version
  route: (id) => `routes/${encodeURIComponent(id)}`, // the route with its version history
};

/** plans: route_id → { name, segments: [feature], stops: [feature] } in driving order. */
function splitPlans(collection) {
  const plans = new Map();
  for (const feature of collection.features) {
    const p = feature.properties;
    if (!plans.has(p.route_id)) plans.set(p.route_id, { name: p.route_name || p.route_id, segments: [], stops: [] });
    plans.get(p.route_id)[p.feature_type === "stop" ? "stops" : "segments"].push(feature);
  }
  for (const plan of plans.values()) {
    plan.segments.sort((a, b) => a.properties.seq - b.properties.seq);
    plan.stops.sort((a, b) => a.properties.seq - b.properties.seq);
  }
  return new Map([...plans].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true })));
}

/** The plan of one route as routes.geojson features, seq renumbered 1..n in list order. */
function planFeatures(routeId, plan) {
  const renumber = (features) => features.map((f, i) => ({
    ...f, properties: { ...f.properties, route_id: routeId, route_name: plan.name, seq: i + 1 },
  }));
  return [...renumber(plan.segments), ...renumber(plan.stops)];
}

class Editor {
  constructor(routes, city) {
    this.routes = routes; // route_id → name, in route order
    this.plans = new Map(); // route_id → plan, for the routes loaded so far
    this.city = city;
    this.streetNames = new Map(city.features.filter((f) => f.properties.kind === "street")
      .map((f) => [f.properties.segment_id, f.properties.name]));
    this.changed = new Set();
    this.routeId = null;
  }

  /** Load a route's current plan unless it is here already (possibly with unsaved edits). */
  async load(routeId) {
    if (!this.plans.has(routeId)) {
      const plan = splitPlans(await getJson(ENDPOINTS.plan(routeId))).get(routeId);
      this.plans.set(routeId, plan || { name: this.routes.get(routeId), segments: [], stops: [] });
    }
    return this.plans.get(routeId);
  }

  move(list, index, step) {
    const target = index + step;
    if (target < 0 || target >= list.length) return;
    [list[index], list[target]] = [list[target], list[index]];
    this.changed.add(this.routeId);
  }

  /** Move a service segment and the stops on it to the end of another route. */
  moveSegment(index, toRoute) {
    const from = this.plans.get(this.routeId);
    const to = this.plans.get(toRoute);
    const [segment] = from.segments.splice(index, 1);
    const id = segment.properties.segment_id;
    const stops = from.stops.filter((s) => s.properties.segment_id === id);
    from.stops = from.stops.filter((s) => s.properties.segment_id !== id);
    to.segments.push(segment);
    to.stops.push(...stops);
    this.changed.add(this.routeId);
    this.changed.add(toRoute);
    return { id, stops: stops.length };
  }

  async render(focusSelector) {
    const plan = this.plans.get(this.routeId);
    const others = [...this.routes.keys()].filter((id) => id !== this.routeId);
    $("stops").innerHTML = plan.stops.map((s, i) => `<li>
      <span class="label">${i + 1}. Stop ${fmt.esc(s.properties.stop_id)} <span class="note">on ${fmt.esc(s.properties.segment_id || "–")}</span></span>
      <button type="button" class="small secondary" data-stop="${i}" data-step="-1" aria-label="Move stop ${fmt.esc(s.properties.stop_id)} earlier"${i === 0 ? " disabled" : ""}>↑ Earlier</button>
      <button type="button" class="small secondary" data-stop="${i}" data-step="1" aria-label="Move stop ${fmt.esc(s.properties.stop_id)} later"${i === plan.stops.length - 1 ? " disabled" : ""}>↓ Later</button>
    </li>`).join("") || "<li>No stops in this plan.</li>";
    $("segments").innerHTML = plan.segments.map((f, i) => `<li>
      <span class="label">${i + 1}. ${fmt.esc(this.streetNames.get(f.properties.segment_id) || "")} <span class="note">${fmt.esc(f.properties.segment_id)}${f.properties.service === false ? ", drive only" : ""}</span></span>
      <label class="visually-hidden" for="move-${i}">Move segment ${fmt.esc(f.properties.segment_id)} to route</label>
      <select id="move-${i}" data-segment="${i}"><option value="">Keep on ${fmt.esc(this.routeId)}</option>
        ${others.map((id) => `<option value="${fmt.esc(id)}">Move to ${fmt.esc(id)}</option>`).join("")}</select>
    </li>`).join("") || "<li>No segments in this plan.</li>";
    $("save").disabled = this.changed.size === 0;
    $("save").textContent = this.changed.size
      ? `Save ${this.changed.size} changed route(s) as new versions` : "Save as new version (nothing changed yet)";
    if (focusSelector) document.querySelector(focusSelector)?.focus();
    await this.drawMap(plan);
  }

  async drawMap(plan) {
    // Other routes that are open in this editor (e.g. where a segment was moved to).
    const otherSegments = [...this.plans].filter(([id]) => id !== this.routeId).flatMap(([, p]) => p.segments);
    const stops = plan.stops.map((s, i) => ({ lon: s.geometry.coordinates[0], lat: s.geometry.coordinates[1], n: i + 1, id: s.properties.stop_id }));
    // Number about 30 stops on the map (the first, the last and evenly between); hover names each.
    const every = Math.max(1, Math.ceil(stops.length / 30));
    const label = (s) => (s.n === 1 || s.n === stops.length || s.n % every === 0 ? String(s.n) : "");
    const traces = [
      ...cityTraces(this.city),
      lineTrace(otherSegments, { name: "Other open routes", colour: "#b7c6dd", width: 3, hover: (f) => `${f.properties.route_id}: ${f.properties.segment_id}` }),
      lineTrace(plan.segments, { name: `Route ${this.routeId}`, colour: COLOURS.driven, width: 5, hover: (f) => f.properties.segment_id }),
      { ...pointTrace(stops, { name: "Stops (in order)", colour: COLOURS.stop, size: 7, hover: (s) => `${s.n}. ${s.id}` }),
        mode: "markers+text", text: stops.map(label), hovertext: stops.map((s) => `${s.n}. ${s.id}`), hoverinfo: "text",
        textposition: "top center", textfont: { size: 10, color: COLOURS.stop } },
    ];
    await drawMap($("plan-map"), traces, { label: `Plan of route ${this.routeId}: ${plan.segments.length} segments and ${stops.length} stops`, focus: traces.slice(-2) });
  }
}

async function showVersions(routeId) {
  const route = await getJson(ENDPOINTS.route(routeId));
  const newestFirst = [...route.history].reverse();
  $("versions").innerHTML = tableHtml({
    caption: `Versions of route ${routeId}`, id: "versions-table", stack: true,
    columns: [{ label: "Version", num: true }, { label: "Saved" }, { label: "By" }, { label: "Note" },
      { label: "Segments", num: true }, { label: "Stops", num: true }, { label: "Shifts driven", num: true }],
    rows: newestFirst.map((v) => [fmt.number(v.version), fmt.dateTime(v.created_at), fmt.esc(v.created_by || "–"),
      fmt.esc(v.note || "–"), fmt.number(v.segments), fmt.number(v.stops), fmt.number(v.shifts)]),
  });
  $("plan-version").textContent = `Current version: ${route.current_version}.`;
}

function message(kind, text) {
  $("plan-message").innerHTML = `<div class="alert ${kind}">${fmt.esc(text)}</div>`;
}

startPage("plans", async () => {
  const [routeList, city] = await Promise.all([getJson(ENDPOINTS.routes), cityLayer()]);
  const routes = new Map(routeList.filter((r) => r.active).map((r) => [r.route_id, r.name]));
  const editor = new Editor(routes, city);
  const requested = new URLSearchParams(location.search).get("route");
  editor.routeId = routes.has(requested) ? requested : [...routes.keys()][0];
  $("route").innerHTML = [...routes].map(([id, name]) => `<option value="${fmt.esc(id)}">${fmt.esc(id)} — ${fmt.esc(name)}</option>`).join("");
  $("route").value = editor.routeId;
  const show = async () => {
    await editor.load(editor.routeId);
    await Promise.all([editor.render(), showVersions(editor.routeId)]);
  };
  // Switching route keeps unsaved edits in memory (they are saved together).
  $("filters").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    editor.routeId = $("route").value;
    history.replaceState(null, "", `?route=${encodeURIComponent(editor.routeId)}`);
    await show();
  }));
  $("stops").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-stop]");
    if (!button) return;
    const index = Number(button.dataset.stop);
    const step = Number(button.dataset.step);
    editor.move(editor.plans.get(editor.routeId).stops, index, step);
    // Keep focus on the same arrow of the moved stop, so repeated presses keep moving it.
    await editor.render(`#stops button[data-stop="${index + step}"][data-step="${step}"]:not([disabled])`);
  }));
  $("segments").addEventListener("change", guarded(async (event) => {
    const select = event.target.closest("select[data-segment]");
    if (!select || !select.value) return;
    await editor.load(select.value);
    const moved = editor.moveSegment(Number(select.dataset.segment), select.value);
    message("info", `Segment ${moved.id} (with ${moved.stops} stop(s)) moved to route ${select.value}. Not saved yet.`);
    await editor.render("#segments select");
  }));
  $("save").addEventListener("click", guarded(async () => {
    const features = [...editor.changed].flatMap((id) => planFeatures(id, editor.plans.get(id)));
    const note = $("note").value.trim() || null;
    const result = await sendJson("POST", ENDPOINTS.save, { type: "FeatureCollection", features, note });
    const saved = Object.entries(result.versions).map(([id, v]) => `${id} → version ${v}`).join(", ");
    editor.changed.clear();
    message("ok", `Saved: ${saved}.`);
    await Promise.all([editor.render(), showVersions(editor.routeId)]);
  }));
  $("export").addEventListener("click", guarded(() => download(ENDPOINTS.all, {}, "routes.geojson")));
  $("import-file").addEventListener("change", guarded(async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    let parsed;
    try {
      parsed = JSON.parse(await file.text());
    } catch {
      message("error", `${file.name} is not valid JSON.`);
      return;
    }
    const result = await sendJson("POST", ENDPOINTS.save, { ...parsed, note: `imported from ${file.name}` });
    message("ok", `Imported ${file.name}: ${Object.entries(result.versions).map(([id, v]) => `${id} → version ${v}`).join(", ")}.`);
    // Unsaved edits are superseded by the imported plans.
    editor.plans.clear();
    editor.changed.clear();
    await show();
  }));
  await show();
});
