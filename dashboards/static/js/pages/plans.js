// Route plan editing on the map: select service segments (click, box or lasso on the map, or
// the list's checkboxes), move them to another route, reorder by dragging in the list (or the
// ↑/↓ buttons) or by picking the streets on the map one after another in driving order ("pick
// next" mode; the list's "Next" buttons are its keyboard twin), undo and redo; every edit shows its predicted effect (POST routes/predict:
// each touched route's shift length, km, facility trips and overtime risk per shift, from the
// route's own released history, beside today's); the optimiser proposes a driving order
// ("Improve sequence", decision 0020's solver, one-way aware) or moves between the open routes
// ("Balance these routes"), shown with its prediction before it is accepted. Saving sends the
// full plans of the changed routes and the server writes a new version of each (old shifts
// keep pointing at the version they drove). Import and export use the simulator's
// routes.geojson format (features with route_id, feature_type "segment" | "stop", seq, ...).
//
// A route's current plan is loaded when it is opened (or when segments are moved onto it) and
// edited in memory; a city's plans together run to megabytes, so they are fetched whole only
// for the export. Every map action has a keyboard twin in the lists.

import { download, getJson, sendJson } from "../api.js";
import * as fmt from "../format.js";
import { cityLayer, cityTraces, COLOURS, drawMap, lineTrace, pointTrace } from "../map.js";
import { openSection, scrollToHashed, setUpSections } from "../sections.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const ENDPOINTS = {
  routes: "routes",            // GET: every route with its current version
  all: "routes/plans.geojson", // GET: FeatureCollection of every route's current plan (export)
  plan: (id) => `routes/${encodeURIComponent(id)}/plan.geojson`, // GET: one route's current plan
  save: "routes/plans",        // POST: FeatureCollection (+ note); changed routes get a new version
  route: (id) => `routes/${encodeURIComponent(id)}`, // the route with its version history
  predict: "routes/predict",   // POST {routes: [{route_id, segments, stops}]}: figures today and edited
  improve: (id) => `routes/${encodeURIComponent(id)}/improve`, // POST {segments, seconds}: a better order
  balance: "routes/balance",   // POST {routes, tolerance_h}: segment moves between touching routes
};
const SELECTED = "#d35400";
const ONE_WAY = "#8c2d19";
const TURN_BAN = "#c0262d"; // a no-entry sign's red
const PICKED = "#6a1b9a";
const OTHER_ROUTE = "#b7c6dd";
const SOLVER_SECONDS = 5; // decision 0020 measured the proposal at 5 s
const UNDO_LIMIT = 100;
// Wider than this the lists and the route's history are open from the start (the two-column layout).
const WIDE = "(min-width: 760px)";

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

const copyPlan = (plan) => ({ name: plan.name, segments: [...plan.segments], stops: [...plan.stops] });
const isService = (f) => f.properties.service !== false;
const serviceIds = (plan) => plan.segments.filter(isService).map((f) => f.properties.segment_id);

/** Stops in the order of their segments (a stop keeps its place among its segment's stops). */
function followSegments(plan, reversed = new Set()) {
  const position = new Map(plan.segments.filter(isService).map((f, i) => [f.properties.segment_id, i]));
  const rank = new Map(plan.stops.map((s, i) => [s, i]));
  const key = (s) => position.get(s.properties.segment_id) ?? Infinity;
  const within = (s) => (reversed.has(s.properties.segment_id) ? -rank.get(s) : rank.get(s));
  plan.stops.sort((a, b) => key(a) - key(b) || within(a) - within(b));
}

/** Whether two lines (coordinate lists) start at the same point (to 1e-7°, as the server matches ends). */
function sameStart(a, b) {
  return Math.abs(a[0][0] - b[0][0]) < 1e-7 && Math.abs(a[0][1] - b[0][1]) < 1e-7;
}

/** Where on the screen a line points (degrees clockwise from north), from its middle piece. */
function bearing(coords) {
  const i = Math.max(1, Math.floor(coords.length / 2));
  const [a, b] = [coords[i - 1], coords[i]];
  const dx = (b[0] - a[0]) * Math.cos((a[1] * Math.PI) / 180);
  return (Math.atan2(dx, b[1] - a[1]) * 180) / Math.PI;
}

function middle(coords) {
  const i = Math.max(1, Math.floor(coords.length / 2));
  const [a, b] = [coords[i - 1], coords[i]];
  return { lon: (a[0] + b[0]) / 2, lat: (a[1] + b[1]) / 2 };
}

function arrowTrace(features, { name, colour, size, selected }) {
  const mids = features.map((f) => middle(f.geometry.coordinates));
  return {
    type: "scatter", mode: "markers", name,
    x: mids.map((m) => m.lon), y: mids.map((m) => m.lat),
    customdata: features.map((f) => f.properties.segment_id),
    marker: {
      symbol: "triangle-up", size, angle: features.map((f) => bearing(f.geometry.coordinates)),
      color: selected ? features.map((f) => (selected.has(f.properties.segment_id) ? SELECTED : colour)) : colour,
      line: { width: 0 },
    },
    // Plotly dims unselected points after a box selection; the selection is drawn by colour instead.
    selected: { marker: { opacity: 1 } }, unselected: { marker: { opacity: 1 } },
    hoverinfo: "text", text: features.map((f) => f.properties.segment_id),
  };
}

class Editor {
  constructor(routes, city) {
    this.routes = routes; // route_id → name, in route order
    this.plans = new Map(); // route_id → plan, for the routes loaded so far
    this.city = city;
    this.streets = new Map(city.features.filter((f) => f.properties.kind === "street").map((f) => [f.properties.segment_id, f]));
    this.oneWays = [...this.streets.values()].filter((f) => f.properties.one_way);
    this.turnBans = city.features.filter((f) => f.properties.kind === "turn_restriction"); // decision 0030
    this.changed = new Set();
    this.selected = new Set(); // segment ids of the route being edited
    this.undone = [];
    this.done = [];
    this.proposal = null; // { label, plans: Map(route_id → plan), note }
    this.routeId = null;
    this.picking = false; // "pick next" mode: each pick goes right after the previous one
    this.picked = []; // segment ids picked so far in this mode, in order
  }

  /** Load a route's current plan unless it is here already (possibly with unsaved edits). */
  async load(routeId) {
    if (!this.plans.has(routeId)) {
      const plan = splitPlans(await getJson(ENDPOINTS.plan(routeId))).get(routeId);
      this.plans.set(routeId, plan || { name: this.routes.get(routeId), segments: [], stops: [] });
    }
    return this.plans.get(routeId);
  }

  get plan() {
    return this.plans.get(this.routeId);
  }

  /** Remember the state before an edit (for undo); a new edit forgets what was undone. */
  remember(label) {
    this.done.push(this.state(label));
    if (this.done.length > UNDO_LIMIT) this.done.shift();
    this.undone = [];
    this.proposal = null;
  }

  step(from, to) {
    const state = from.pop();
    if (!state) return null;
    to.push(this.state(state.label));
    this.plans = state.plans;
    this.changed = state.changed;
    this.picked = state.picked;
    this.proposal = null;
    this.selected = new Set([...this.selected].filter((id) => this.plan.segments.some((f) => f.properties.segment_id === id)));
    return state.label;
  }

  state(label) {
    return { label, plans: new Map([...this.plans].map(([id, p]) => [id, copyPlan(p)])), changed: new Set(this.changed), picked: [...this.picked] };
  }

  undo() { return this.step(this.done, this.undone); }

  redo() { return this.step(this.undone, this.done); }

  moveStop(index, step) {
    const list = this.plan.stops;
    const target = index + step;
    if (target < 0 || target >= list.length) return;
    this.remember("stop order");
    [list[index], list[target]] = [list[target], list[index]];
    this.changed.add(this.routeId);
  }

  /** Move the segment at `from` to position `to` of the list; its stops follow. */
  reorder(from, to) {
    const list = this.plan.segments;
    if (from === to || to < 0 || to >= list.length) return false;
    this.remember("segment order");
    const [segment] = list.splice(from, 1);
    list.splice(to, 0, segment);
    followSegments(this.plan);
    this.changed.add(this.routeId);
    return true;
  }

  /** Start or stop "pick next": picks go after the one selected segment, else to the start of the route. */
  setPicking(on) {
    this.picking = on;
    const only = this.selected.size === 1 ? [...this.selected][0] : null;
    this.picked = on && only ? [only] : [];
  }

  /** Drive segment `id` right after the previous pick (the first: at the start); its stops follow. */
  pickNext(id) {
    const list = this.plan.segments;
    const from = list.findIndex((f) => f.properties.segment_id === id);
    if (from < 0 || this.picked.includes(id)) return false;
    const previous = this.picked.length ? list.findIndex((f) => f.properties.segment_id === this.picked.at(-1)) : -1;
    this.remember(`pick ${id} next`);
    const [segment] = list.splice(from, 1);
    list.splice(from < previous ? previous : previous + 1, 0, segment);
    followSegments(this.plan);
    this.picked.push(id);
    this.changed.add(this.routeId);
    return true;
  }

  /** Move the selected segments (and the stops on them) to the end of another route. */
  moveSelected(toRoute) {
    const from = this.plan;
    const to = this.plans.get(toRoute);
    const ids = this.selected;
    this.remember(`move to ${toRoute}`);
    const moving = from.segments.filter((f) => ids.has(f.properties.segment_id));
    from.segments = from.segments.filter((f) => !ids.has(f.properties.segment_id));
    const stops = from.stops.filter((s) => ids.has(s.properties.segment_id));
    from.stops = from.stops.filter((s) => !ids.has(s.properties.segment_id));
    to.segments.push(...moving);
    to.stops.push(...stops);
    this.changed.add(this.routeId);
    this.changed.add(toRoute);
    this.selected = new Set();
    return { segments: moving.length, stops: stops.length };
  }

  /** The plan a proposal's steps describe: service segments as they are, drive-only ones from the streets. */
  planFromSteps(plan, steps) {
    const own = new Map(plan.segments.map((f) => [f.properties.segment_id, f]));
    const reversed = new Set();
    const segments = [];
    for (const step of steps) {
      const mine = own.get(step.segment_id);
      const street = this.streets.get(step.segment_id);
      const base = (step.service ? mine : null) || street || mine;
      if (!base) continue;
      let coords = base.geometry.coordinates;
      // The step's direction is relative to the street's own geometry.
      if (sameStart(coords, (street || mine).geometry.coordinates) === step.reverse) {
        coords = [...coords].reverse();
        if (step.service) reversed.add(step.segment_id);
      }
      const props = mine && step.service ? mine.properties : {
        feature_type: "segment", segment_id: step.segment_id, service: false, speed_limit_kmh: street?.properties.speed_limit_kmh,
      };
      segments.push({ type: "Feature", geometry: { type: "LineString", coordinates: coords }, properties: { ...props, service: step.service } });
    }
    const next = { name: plan.name, segments, stops: [...plan.stops] };
    followSegments(next, reversed);
    return next;
  }

  accept() {
    if (!this.proposal) return null;
    const { plans, label } = this.proposal;
    this.remember(label);
    for (const [id, plan] of plans) {
      this.plans.set(id, plan);
      this.changed.add(id);
    }
    return label;
  }

  /** Routes whose figures the prediction shows: the changed ones, the one being edited and any in a proposal. */
  touched() {
    const ids = new Set([this.routeId, ...this.changed, ...(this.proposal ? this.proposal.plans.keys() : [])]);
    return [...ids].filter((id) => this.plans.has(id)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  }

  shown(id) {
    return this.proposal?.plans.get(id) || this.plans.get(id);
  }
}

// --- drawing ----------------------------------------------------------------------------------

function renderLists(editor, focusSelector) {
  const plan = editor.plan;
  $("stops").innerHTML = plan.stops.map((s, i) => `<li>
    <span class="label">${i + 1}. Stop ${fmt.esc(s.properties.stop_id)} <span class="note">on ${fmt.esc(s.properties.segment_id || "–")}</span></span>
    <button type="button" class="small secondary" data-stop="${i}" data-step="-1" aria-label="Move stop ${fmt.esc(s.properties.stop_id)} earlier"${i === 0 ? " disabled" : ""}>↑ Earlier</button>
    <button type="button" class="small secondary" data-stop="${i}" data-step="1" aria-label="Move stop ${fmt.esc(s.properties.stop_id)} later"${i === plan.stops.length - 1 ? " disabled" : ""}>↓ Later</button>
  </li>`).join("") || "<li>No stops in this plan.</li>";
  $("segments").innerHTML = plan.segments.map((f, i) => {
    const id = f.properties.segment_id;
    const name = editor.streets.get(id)?.properties.name || "";
    const street = editor.streets.get(id);
    // A plan imported from a file may drive a one-way street backwards: say so (Improve sequence turns it).
    const against = street?.properties.one_way && !sameStart(f.geometry.coordinates, street.geometry.coordinates);
    const oneWay = street?.properties.one_way ? (against ? ", ⚠ against the one-way street" : ", one-way") : "";
    const mark = editor.picking && editor.picked.includes(id) ? (id === editor.picked.at(-1) ? ' class="picked anchor"' : ' class="picked"') : "";
    return `<li draggable="true" data-index="${i}"${mark}>
      <span class="grip" aria-hidden="true">⠿</span>
      <input type="checkbox" id="pick-${i}" data-pick="${fmt.esc(id)}"${editor.selected.has(id) ? " checked" : ""}>
      <label class="label" for="pick-${i}">${i + 1}. ${fmt.esc(name)} <span class="note">${fmt.esc(id)}${isService(f) ? "" : ", drive only"}${oneWay}</span></label>
      ${editor.picking ? `<button type="button" class="small" data-next="${fmt.esc(id)}" aria-label="Drive segment ${fmt.esc(id)} next"${editor.picked.includes(id) ? " disabled" : ""}>Next</button>` : ""}
      <button type="button" class="small secondary" data-seg="${i}" data-step="-1" aria-label="Move segment ${fmt.esc(id)} earlier"${i === 0 ? " disabled" : ""}>↑</button>
      <button type="button" class="small secondary" data-seg="${i}" data-step="1" aria-label="Move segment ${fmt.esc(id)} later"${i === plan.segments.length - 1 ? " disabled" : ""}>↓</button>
    </li>`;
  }).join("") || "<li>No segments in this plan.</li>";
  const others = [...editor.routes.keys()].filter((id) => id !== editor.routeId);
  const keep = $("move-to").value;
  $("move-to").innerHTML = others.map((id) => `<option value="${fmt.esc(id)}">${fmt.esc(id)} — ${fmt.esc(editor.routes.get(id))}</option>`).join("");
  if (others.includes(keep)) $("move-to").value = keep;
  $("move").disabled = editor.selected.size === 0 || !others.length;
  $("move").textContent = `Move ${editor.selected.size} selected segment(s)`;
  $("selection").textContent = editor.selected.size
    ? `${editor.selected.size} of ${plan.segments.length} segments selected.` : "No segments selected.";
  // The folded sections say what they hold (and a selection made on the map) on their summary row.
  $("segments-count").textContent = `${fmt.number(plan.segments.length)}${editor.selected.size ? ` · ${fmt.number(editor.selected.size)} selected` : ""}`;
  $("stops-count").textContent = fmt.number(plan.stops.length);
  renderPicking(editor);
  $("undo").disabled = editor.done.length === 0;
  $("redo").disabled = editor.undone.length === 0;
  $("undo").textContent = editor.done.length ? `Undo ${editor.done.at(-1).label}` : "Undo";
  $("redo").textContent = editor.undone.length ? `Redo ${editor.undone.at(-1).label}` : "Redo";
  $("save").disabled = editor.changed.size === 0 || editor.proposal !== null;
  $("save").textContent = editor.changed.size
    ? `Save ${editor.changed.size} changed route(s) as new versions` : "Save as new version (nothing changed yet)";
  $("proposal").hidden = editor.proposal === null;
  if (editor.proposal) $("proposal-text").textContent = editor.proposal.note;
  if (focusSelector) document.querySelector(focusSelector)?.focus();
}

/** A segment as people know it: its street's name and its id. */
function segmentLabel(editor, id) {
  const name = editor.streets.get(id)?.properties.name;
  return name ? `${name} (${id})` : id;
}

/** "Pick next" made visible: both toggles, where the next pick goes, and the way out. */
function renderPicking(editor) {
  for (const id of ["pick", "pick-list"]) $(id).setAttribute("aria-pressed", String(editor.picking));
  $("pick").textContent = editor.picking ? "Stop picking" : "Pick the next street on the map";
  $("pick-list").textContent = editor.picking ? "Stop picking" : "Pick in driving order";
  const last = editor.picked.at(-1);
  const where = last ? `after ${segmentLabel(editor, last)}` : "at the start of the route";
  const trail = editor.picked.length > 1
    ? ` ${editor.picked.length} picked: ${editor.picked.length > 3 ? "… → " : ""}${editor.picked.slice(-3).join(" → ")} (not saved yet).` : "";
  $("pick-status").textContent = editor.picking
    ? `Picking: the next street you click goes ${where}.${trail} ${COARSE.matches ? "The segment list's “Next” buttons are easier on a phone. " : ""}Stop picking (or Esc) when done.`
    : "Tip: “Pick the next street on the map” reorders the route as you click its streets in driving order.";
  $("pick-guide").dataset.on = String(editor.picking);
  $("pick-guide-text").innerHTML = editor.picking
    ? `<strong>Picking — next goes ${fmt.esc(where)}.</strong> Press “Next” on the segment the crew should drive then (or click its arrow on the map). Undo takes a pick back; “Stop picking” or Esc ends it.`
    : "<strong>Reorder by picking:</strong> press “Pick in driving order”, then press “Next” on the segments (or click their arrows on the map) in the order the crew should drive them. Each one goes right after the one before.";
}

/** Phones and touch screens: bigger arrows to pick with a finger. */
const COARSE = window.matchMedia("(pointer: coarse), (max-width: 600px)");

/** The streets picked so far in "pick next" mode, numbered in the order they were picked. */
function pickedTrace(editor, plan) {
  const byId = new Map(plan.segments.map((f) => [f.properties.segment_id, f]));
  const mids = editor.picked.filter((id) => byId.has(id)).map((id) => middle(byId.get(id).geometry.coordinates));
  return {
    type: "scatter", mode: "markers+text", name: "Picked (in driving order)",
    x: mids.map((m) => m.lon), y: mids.map((m) => m.lat), text: mids.map((_, i) => String(i + 1)),
    textposition: "middle right", textfont: { size: 13, color: PICKED },
    marker: { symbol: "circle-open", size: 20, color: PICKED, line: { width: 3 } }, hoverinfo: "skip",
  };
}

/** "no_left_turn" → "No left turn". */
function restrictionText(kind) {
  const words = String(kind).replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Turn restrictions at the junctions of the route's streets: a marker at the via node, the turn on hover. */
function turnBanTrace(editor, plan) {
  // Near: on the route's streets, or within ~100 m of its extent.
  const mine = new Set(plan.segments.map((f) => f.properties.segment_id));
  const pts = plan.segments.flatMap((f) => f.geometry.coordinates);
  const pad = 0.001;
  const [x0, x1] = [Math.min(...pts.map((c) => c[0])) - pad, Math.max(...pts.map((c) => c[0])) + pad];
  const [y0, y1] = [Math.min(...pts.map((c) => c[1])) - pad / 2, Math.max(...pts.map((c) => c[1])) + pad / 2];
  const inside = ([x, y]) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
  const near = editor.turnBans.filter((f) => inside(f.geometry.coordinates)
    || [...f.properties.from_segment_ids, ...f.properties.forbidden_to].some((id) => mine.has(id)));
  const street = (id) => editor.streets.get(id)?.properties.name || id;
  const names = (ids) => [...new Set(ids.map(street))].join(", ");
  const rows = near.map((f) => ({
    lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1], kind: restrictionText(f.properties.restriction),
    text: `${restrictionText(f.properties.restriction)}: from ${names(f.properties.from_segment_ids)}`
      + ` — never onto ${names(f.properties.forbidden_to)}`,
  }));
  // A circled x, like a prohibition sign; the turn itself on hover (a tap on a phone).
  return {
    ...pointTrace(rows, { name: "Turn restriction (hover: which turn; never planned)", colour: TURN_BAN, size: 12, symbol: "circle-x-open", line: { width: 2, color: TURN_BAN }, hover: (r) => r.text }),
    customdata: rows.map((r) => r.kind),
  };
}

async function drawPlanMap(editor) {
  const plan = editor.shown(editor.routeId);
  const others = [...editor.plans.keys()].filter((id) => id !== editor.routeId).flatMap((id) => editor.shown(id).segments);
  const stops = plan.stops.map((s, i) => ({ lon: s.geometry.coordinates[0], lat: s.geometry.coordinates[1], n: i + 1, id: s.properties.stop_id }));
  const every = Math.max(1, Math.ceil(stops.length / 30));
  const label = (s) => (s.n === 1 || s.n === stops.length || s.n % every === 0 ? String(s.n) : "");
  const picked = plan.segments.filter((f) => editor.selected.has(f.properties.segment_id));
  const route = [
    lineTrace(plan.segments.filter(isService), { name: `Route ${editor.routeId}${editor.proposal ? " (proposal)" : ""}`, colour: COLOURS.driven, width: 5, hover: (f) => f.properties.segment_id }),
    lineTrace(plan.segments.filter((f) => !isService(f)), { name: "Driven without collecting", colour: COLOURS.driven, width: 2, dash: "dot", hover: (f) => `${f.properties.segment_id} (drive only)` }),
    lineTrace(picked, { name: "Selected", colour: SELECTED, width: 7, hover: (f) => f.properties.segment_id }),
    { ...pointTrace(stops, { name: "Stops (in order)", colour: COLOURS.stop, size: 6 }),
      mode: "markers+text", text: stops.map(label), hovertext: stops.map((s) => `${s.n}. ${s.id}`), hoverinfo: "text",
      textposition: "top center", textfont: { size: 10, color: COLOURS.stop } },
  ];
  // One arrow per segment in its driving direction: what clicks and boxes find.
  const arrows = arrowTrace(plan.segments, { name: "Driving direction (click or box to select)", colour: COLOURS.driven, size: editor.picking ? (COARSE.matches ? 22 : 14) : 11, selected: editor.selected });
  const traces = [
    ...cityTraces(editor.city),
    arrowTrace(editor.oneWays, { name: "One-way street (arrow: the way it goes)", colour: ONE_WAY, size: 6 }),
    lineTrace(others, { name: "Other open routes", colour: OTHER_ROUTE, width: 3, hover: (f) => `${f.properties.route_id}: ${f.properties.segment_id}` }),
    ...route,
    turnBanTrace(editor, plan),
    pickedTrace(editor, plan),
    arrows,
  ];
  // Picking: only the route's arrows answer a click (a stop or a street line underneath would win it otherwise).
  if (editor.picking) for (const t of traces) if (t !== arrows) t.hoverinfo = "skip";
  const el = $("plan-map");
  await drawMap(el, traces, {
    label: `Plan of route ${editor.routeId}: ${plan.segments.length} segments and ${stops.length} stops; ${editor.selected.size} selected`
      + (editor.picking ? `; picking the next street, ${editor.picked.length} picked` : ""),
    focus: route,
  });
  await window.Plotly.relayout(el, { dragmode: $("map-mode").value, selections: [] });
}

const FIGURES = [
  ["shift_h", "Shift length", (v) => `${fmt.number(v, 2)} h`],
  ["driving_km", "Driving", (v) => `${fmt.number(v, 1)} km`],
  ["deadhead_km", "Deadhead", (v) => `${fmt.number(v, 1)} km`],
  ["facility_trips", "Facility trips", (v) => fmt.number(v, 1)],
  ["facility_h", "Time on facility trips", (v) => `${fmt.number(v * 60, 0)} min`],
  ["overtime_risk", "Overtime risk", (v) => fmt.percent(v)],
];

function figureCell(figure, format) {
  if (!figure) return "–";
  // Each end kept whole ("16.6 km"); a narrow column breaks the interval after its dash only.
  const whole = (v) => format(v).replaceAll(" ", "\u00a0");
  const spread = figure.lo === figure.hi ? "" : ` <span class="note spread">(${whole(figure.lo)}–\u200b${whole(figure.hi)})</span>`;
  return `${format(figure.value)}${spread}`;
}

function change(today, edited, format) {
  if (!today || !edited) return "–";
  const d = edited.value - today.value;
  if (Math.abs(d) < 1e-9 || format(Math.abs(d)) === format(0)) return "no change"; // not "+0 min"
  return `${d > 0 ? "+" : "−"}${format(Math.abs(d))}`;
}

function predictionHtml(answer) {
  return answer.routes.map((r) => {
    const rows = [
      ...FIGURES.map(([key, label, format]) => [esc(label), figureCell(r.today[key], format), figureCell(r.proposed[key], format), change(r.today[key], r.proposed[key], format)]),
      ["Stops", fmt.number(r.today.stops), fmt.number(r.proposed.stops), change({ value: r.today.stops }, { value: r.proposed.stops }, fmt.number)],
      ["Service segments", fmt.number(r.today.segments), fmt.number(r.proposed.segments), change({ value: r.today.segments }, { value: r.proposed.segments }, fmt.number)],
    ];
    const note = r.suppressed
      ? "Too few shifts (or drivers) on this route in the period to show figures from its history (k rule); the plan's own size only."
      : `From ${fmt.number(r.shifts)} shifts of this route; per shift, with a ${fmt.percent(answer.level)} interval.`;
    return `<div class="prediction" data-route="${fmt.esc(r.route_id)}"><h3>Route ${fmt.esc(r.route_id)}</h3><p class="note">${esc(note)}</p>${tableHtml({
      // Four short columns fit a phone: a table to read across, not a stack of blocks (decision 0035).
      caption: `Route ${r.route_id}: today and with the edits`,
      columns: [{ label: "Per shift" }, { label: "Today", num: true }, { label: "With the edits", num: true }, { label: "Change", num: true }],
      rows,
    })}</div>`;
  }).join("");
}

const esc = fmt.esc;

async function showVersions(routeId) {
  const route = await getJson(ENDPOINTS.route(routeId));
  const newestFirst = [...route.history].reverse();
  $("versions").innerHTML = tableHtml({
    caption: `Versions of route ${routeId}`, id: "versions-table", stack: true,
    columns: [{ label: "Version", num: true }, { label: "Saved" }, { label: "By" }, { label: "Note" }, { label: "Applies from" },
      { label: "Segments", num: true }, { label: "Stops", num: true }, { label: "Shifts driven (released weeks)", num: true }],
    rows: newestFirst.map((v) => [fmt.number(v.version), fmt.dateTime(v.created_at), fmt.esc(v.created_by || "–"),
      fmt.esc(v.note || "–"), v.effective_from ? fmt.day(v.effective_from) : "the start",
      fmt.number(v.segments), fmt.number(v.stops), fmt.number(v.shifts)]),
  });
  $("versions-count").textContent = fmt.number(route.history.length);
  $("plan-version").textContent = route.applies_today === route.current_version
    ? `Current version: ${route.current_version}, the one that applies today.`
    : `Newest version: ${route.current_version}; today version ${route.applies_today ?? "–"} applies.`;
}

// Messages float over the foot of the screen (.toast): never a layout shift. Information fades
// after a while; a saved or failed result stays until closed or replaced.
let messageTimer = 0;
function message(kind, text) {
  clearTimeout(messageTimer);
  $("plan-message").innerHTML = `<div class="alert ${kind}"><span>${fmt.esc(text)}</span><button type="button" class="secondary" aria-label="Close the message">×</button></div>`;
  if (kind === "info") messageTimer = setTimeout(() => { $("plan-message").innerHTML = ""; }, 8000);
}

startPage("plans", async () => {
  if (window.matchMedia(WIDE).matches) for (const details of document.querySelectorAll("details[data-open-wide]")) openSection(details);
  setUpSections();
  const [routeList, city] = await Promise.all([getJson(ENDPOINTS.routes), cityLayer()]);
  const routes = new Map(routeList.filter((r) => r.active).map((r) => [r.route_id, r.name]));
  const editor = new Editor(routes, city);
  const requested = new URLSearchParams(location.search).get("route");
  editor.routeId = routes.has(requested) ? requested : [...routes.keys()][0];
  $("route").innerHTML = [...routes].map(([id, name]) => `<option value="${fmt.esc(id)}">${fmt.esc(id)} — ${fmt.esc(name)}</option>`).join("");
  $("route").value = editor.routeId;

  // Predictions: the newest edit wins; an answer to an older one is dropped.
  let asked = 0;
  const predict = async () => {
    const mine = ++asked;
    const ids = editor.touched();
    $("prediction-status").textContent = "Predicting…";
    const body = { routes: ids.map((id) => ({ route_id: id, segments: serviceIds(editor.shown(id)), stops: editor.shown(id).stops.length })) };
    const began = performance.now();
    const answer = await sendJson("POST", ENDPOINTS.predict, body);
    if (mine !== asked) return;
    $("prediction").innerHTML = predictionHtml(answer);
    const what = editor.proposal ? "the proposal" : "your edits";
    // The period is whole local days (ISO dates, the end exclusive): shown as dates, not instants.
    const last = new Date(Date.parse(`${answer.period_end}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    $("prediction-status").textContent = `Predicted for ${what} in ${fmt.number((performance.now() - began) / 1000, 2)} s, from the routes' shifts of ${answer.period_start} to ${last}.`;
    $("assumptions").innerHTML = answer.assumptions.map((a) => `<li>${fmt.esc(a)}</li>`).join("");
  };
  // The map is busy while it is redrawn (a click then may meet no point): said to assistive
  // technology and to the browser tests, which click only when it is not.
  let drawing = 0;
  const redraw = async (focusSelector) => {
    renderLists(editor, focusSelector);
    $("plan-map").setAttribute("aria-busy", "true");
    drawing += 1;
    try {
      await Promise.all([drawPlanMap(editor), predict()]);
    } finally {
      if (--drawing === 0) $("plan-map").removeAttribute("aria-busy");
    }
  };
  $("effective-from").min = $("effective-from").value = fmt.today();
  const show = async () => {
    await editor.load(editor.routeId);
    editor.selected = new Set();
    editor.picked = [];
    await Promise.all([redraw(), showVersions(editor.routeId)]);
  };
  const toggle = (ids, on) => {
    for (const id of ids) {
      if (on ?? !editor.selected.has(id)) editor.selected.add(id);
      else editor.selected.delete(id);
    }
  };

  // Switching route keeps unsaved edits in memory (they are saved together).
  $("filters").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    editor.routeId = $("route").value;
    editor.proposal = null;
    history.replaceState(null, "", `?route=${encodeURIComponent(editor.routeId)}`);
    await show();
  }));
  $("also").addEventListener("click", guarded(async () => {
    await editor.load($("move-to").value);
    await redraw();
  }));
  // The map: a click toggles one segment; a box or lasso adds what it encloses.
  const map = $("plan-map");
  // Plotly gives the element .on once it has drawn it (after the first show()).
  const bindMap = () => {
    map.on("plotly_click", guarded(async (event) => {
      const point = event.points.find((p) => p.data.name?.startsWith("Driving direction"));
      if (!point) return;
      if (editor.picking) await pick(point.customdata);
      else {
        toggle([point.customdata]);
        await redraw();
      }
    }));
    map.on("plotly_selected", guarded(async (event) => {
      const ids = (event?.points || []).filter((p) => p.data.name?.startsWith("Driving direction")).map((p) => p.customdata);
      if (!ids.length) return;
      toggle(ids, true);
      message("info", `${ids.length} segment(s) added to the selection.`);
      await redraw();
    }));
  };
  // "Pick next": from the map, or from the list's "Next" buttons (keyboard focus moves on down the list).
  const pick = async (id, fromList = false) => {
    // Said in the status line under the button, not in a message above the map: the map must not
    // move under the pointer between picks.
    editor.pickNext(id);
    const at = editor.plan.segments.findIndex((f) => f.properties.segment_id === id);
    await redraw(fromList ? `#segments > li:nth-child(${at + 2}) button[data-next]` : undefined);
  };
  for (const id of ["pick", "pick-list"]) {
    $(id).addEventListener("click", guarded(async () => {
      editor.setPicking(!editor.picking);
      await redraw(`#${id}`);
    }));
  }
  $("plan-message").addEventListener("click", (event) => {
    if (event.target.closest("button")) $("plan-message").innerHTML = "";
  });
  $("segments").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-next]");
    if (button) await pick(button.dataset.next, true);
  }));
  $("map-mode").addEventListener("change", () => window.Plotly.relayout(map, { dragmode: $("map-mode").value }));
  $("segments").addEventListener("change", guarded(async (event) => {
    const box = event.target.closest("input[data-pick]");
    if (!box) return;
    toggle([box.dataset.pick], box.checked);
    await redraw(`#${box.id}`);
  }));
  $("select-none").addEventListener("click", guarded(async () => { editor.selected = new Set(); await redraw(); }));
  $("segments").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-seg]");
    if (!button) return;
    const index = Number(button.dataset.seg);
    const step = Number(button.dataset.step);
    if (editor.reorder(index, index + step)) await redraw(`#segments button[data-seg="${index + step}"][data-step="${step}"]:not([disabled])`);
  }));
  // Dragging in the list: drop a segment onto another to take its place.
  let dragged = null;
  $("segments").addEventListener("dragstart", (event) => {
    const item = event.target.closest("li[data-index]");
    if (!item) return;
    dragged = Number(item.dataset.index);
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", String(dragged));
  });
  $("segments").addEventListener("dragover", (event) => {
    if (dragged !== null && event.target.closest("li[data-index]")) event.preventDefault();
  });
  $("segments").addEventListener("drop", guarded(async (event) => {
    const item = event.target.closest("li[data-index]");
    if (!item || dragged === null) return;
    event.preventDefault();
    const from = dragged;
    dragged = null;
    if (editor.reorder(from, Number(item.dataset.index))) await redraw();
  }));
  $("stops").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-stop]");
    if (!button) return;
    const index = Number(button.dataset.stop);
    const step = Number(button.dataset.step);
    editor.moveStop(index, step);
    // Keep focus on the same arrow of the moved stop, so repeated presses keep moving it.
    await redraw(`#stops button[data-stop="${index + step}"][data-step="${step}"]:not([disabled])`);
  }));
  $("move").addEventListener("click", guarded(async () => {
    const target = $("move-to").value;
    await editor.load(target);
    const moved = editor.moveSelected(target);
    message("info", `${moved.segments} segment(s) (with ${moved.stops} stop(s)) moved to route ${target}. Not saved yet.`);
    await redraw();
  }));
  const undoRedo = async (which) => {
    const label = which === "undo" ? editor.undo() : editor.redo();
    if (label) message("info", `${which === "undo" ? "Undone" : "Redone"}: ${label}.`);
    await redraw();
  };
  $("undo").addEventListener("click", guarded(() => undoRedo("undo")));
  $("redo").addEventListener("click", guarded(() => undoRedo("redo")));
  document.addEventListener("keydown", guarded(async (event) => {
    if (event.key === "Escape" && editor.picking) {
      editor.setPicking(false);
      await redraw();
      return;
    }
    if (!(event.ctrlKey || event.metaKey) || event.target.matches("input[type=text], textarea")) return;
    const key = event.key.toLowerCase();
    if (key === "z" || key === "y") {
      event.preventDefault();
      await undoRedo(key === "y" || event.shiftKey ? "redo" : "undo");
    }
  }));
  // The optimiser proposes; nothing changes until the proposal is accepted.
  $("improve").addEventListener("click", guarded(async () => {
    const routeId = editor.routeId;
    const plan = editor.plan;
    $("improve").disabled = true;
    $("prediction-status").textContent = `Improving the sequence of route ${routeId}…`;
    try {
      const proposal = await sendJson("POST", ENDPOINTS.improve(routeId), { segments: serviceIds(plan), seconds: SOLVER_SECONDS });
      editor.proposal = {
        label: `improved sequence of ${routeId}`,
        plans: new Map([[routeId, editor.planFromSteps(plan, proposal.steps)]]),
        note: `Proposed driving order for route ${routeId} (${proposal.solver}): modelled deadhead ${fmt.number(proposal.deadhead_km_before, 2)} km → ${fmt.number(proposal.deadhead_km_after, 2)} km. The figures below are for the proposal.`,
      };
    } finally {
      $("improve").disabled = false;
    }
    await redraw("#accept");
  }));
  $("balance").addEventListener("click", guarded(async () => {
    const ids = [...editor.plans.keys()];
    if (ids.length < 2) {
      message("info", "Open a second route first (“Show on the map too”), then balance the open routes.");
      return;
    }
    const answer = await sendJson("POST", ENDPOINTS.balance, {
      routes: ids.map((id) => ({ route_id: id, segments: serviceIds(editor.plans.get(id)), stops: editor.plans.get(id).stops.length })),
      tolerance_h: Number($("tolerance").value) || 0,
    });
    if (!answer.moves.length) {
      message("info", `No move evens out routes ${ids.join(", ")} further (basis: ${answer.basis}).`);
      return;
    }
    const plans = new Map(ids.map((id) => [id, copyPlan(editor.plans.get(id))]));
    for (const move of answer.moves) {
      const from = plans.get(move.from_route);
      const to = plans.get(move.to_route);
      const segment = from.segments.find((f) => f.properties.segment_id === move.segment_id);
      from.segments = from.segments.filter((f) => f !== segment);
      to.segments.push(segment);
      to.stops.push(...from.stops.filter((s) => s.properties.segment_id === move.segment_id));
      from.stops = from.stops.filter((s) => s.properties.segment_id !== move.segment_id);
    }
    editor.proposal = {
      label: "balanced routes",
      plans: new Map([...plans].filter(([id]) => answer.moves.some((m) => m.from_route === id || m.to_route === id))),
      note: `Proposed: ${answer.moves.length} segment(s) move between routes ${ids.join(", ")} (basis: ${answer.basis}); each goes to a route it touches. Improve each route's sequence after accepting.`,
    };
    await redraw("#accept");
  }));
  $("accept").addEventListener("click", guarded(async () => {
    const label = editor.accept();
    if (label) message("info", `Accepted: ${label}. Not saved yet.`);
    await redraw();
  }));
  $("discard").addEventListener("click", guarded(async () => {
    editor.proposal = null;
    await redraw();
  }));
  $("save").addEventListener("click", guarded(async () => {
    const features = [...editor.changed].flatMap((id) => planFeatures(id, editor.plans.get(id)));
    const note = $("note").value.trim() || null;
    const effective = $("effective-from").value || null;  // the city's day; the server refuses a past one
    const result = await sendJson("POST", ENDPOINTS.save, { type: "FeatureCollection", features, note, effective_from: effective });
    const saved = Object.entries(result.versions).map(([id, v]) => `${id} → version ${v}`).join(", ");
    editor.changed.clear();
    editor.done = [];
    editor.undone = [];
    message("ok", `Saved: ${saved}, applying from ${fmt.day(result.effective_from)}.`);
    await Promise.all([redraw(), showVersions(editor.routeId)]);
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
    editor.done = [];
    editor.undone = [];
    await show();
  }));
  await show();
  bindMap();
  scrollToHashed();
});
