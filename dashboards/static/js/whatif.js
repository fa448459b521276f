// The data officer's what-if page: pick a library question or a scenario, set its
// parameters (the form is built from the API's catalogue, so it never lists a parameter the
// API does not take), and read the answer with its assumptions, interval and charts. The
// address carries the answer's id (?result=…), so the page's link is the shareable link of
// a stored answer.

/* global Plotly */

import { getJson, sendJson } from "./api.js";
import { dayRange, dayRangeFields } from "./controls.js";
import * as fmt from "./format.js";
import { drawChart } from "./map.js";
import { guarded, startPage } from "./shell.js";
import { tableHtml } from "./tables.js";

const $ = (id) => document.getElementById(id);
// Parameters every scenario shares: shown folded, under "assumptions you can change".
const COMMON = new Set(["seed", "replicates", "paid_hours", "fuel_l_per_km", "fuel_l_per_engine_h", "co2_kg_per_l",
  "hotspot_top", "hotspots"]);
const DAY_MS = 86_400_000;
// Narrower than this (a phone), bar charts lie on their side: one row per bar with its label
// beside it, however many bars. Upright, a 375 px screen squeezed them until labels dropped out.
const NARROW_PX = 560;
const ROW_PX = 24;

// Units that count things ("shifts", "lifts", …; not "lifts per h"): a whole count shows
// without decimals, a mean of counts with one.
const COUNTS = new Set(["shifts", "passes", "lifts", "visits", "events", "stops", "trips", "segments", "rows",
  "returns", "places"]);

/** A number with the precision its unit and size warrant ("2 shifts", "0.842 share", "7.5 local hour"). */
function num(value, unit = "") {
  if (value === null || value === undefined || typeof value !== "number") return fmt.esc(value ?? "–");
  const size = Math.abs(value);
  if (COUNTS.has(unit)) return fmt.number(value, Number.isInteger(value) ? 0 : 1);
  if (unit === "local hour") return fmt.number(value, 1);
  return fmt.number(value, size >= 100 ? 0 : size >= 10 ? 1 : size >= 1 ? 2 : 3);
}

function cell(value, unit) {
  return typeof value === "number" ? num(value, unit) : fmt.esc(value ?? "–");
}

function field(p) {
  const id = `p-${p.name}`;
  const label = `<label for="${id}">${fmt.esc(p.name.replaceAll("_", " "))}</label>`;
  const value = p.default === null || p.default === undefined ? "" : Array.isArray(p.default) ? p.default.join(",") : p.default;
  let input;
  if (p.choices && p.choices.length) {
    input = `<select id="${id}" name="${p.name}">${p.choices.map((c) =>
      `<option value="${fmt.esc(c)}"${c === p.default ? " selected" : ""}>${fmt.esc(c)}</option>`).join("")}</select>`;
  } else if (p.type === "geojson") {
    input = `<textarea id="${id}" name="${p.name}" rows="3" cols="40" placeholder='{"type":"Polygon","coordinates":[…]}'></textarea>`;
  } else {
    const numeric = p.type === "int" || p.type === "float";
    const bounds = `${p.minimum !== null && p.minimum !== undefined ? ` min="${p.minimum}"` : ""}${p.maximum !== null && p.maximum !== undefined ? ` max="${p.maximum}"` : ""}`;
    input = `<input id="${id}" name="${p.name}" ${numeric ? `type="number" step="${p.type === "int" ? 1 : "any"}"${bounds}` : 'type="text"'} value="${fmt.esc(value)}" autocomplete="off">`;
  }
  return `<div>${label}${input}<span class="note">${fmt.esc(p.help)}</span></div>`;
}

function readParams(spec) {
  const params = {};
  for (const p of spec) {
    const raw = $(`p-${p.name}`)?.value.trim();
    if (!raw) continue;
    if (p.type === "int" || p.type === "float") params[p.name] = Number(raw);
    else if (p.type === "list") params[p.name] = raw.split(",").map((s) => s.trim()).filter(Boolean);
    else if (p.type === "geojson") params[p.name] = JSON.parse(raw);
    else params[p.name] = raw;
    if (p.default !== null && String(params[p.name]) === String(p.default)) delete params[p.name];
  }
  return params;
}

function renderForm(catalog) {
  const kind = $("kind").value;
  const items = kind === "scenario" ? catalog.scenarios : catalog.questions;
  const chosen = $("item").value;
  // Titles name their parameters ("… at {facility_type} facilities"); the answer fills them in.
  const label = (title) => title.replace(/\{(\w+)\}/g, (_, name) => `‹${name.replace(/_/g, " ")}›`);
  const option = (i) => `<option value="${fmt.esc(i.id)}">${fmt.esc(label(i.title))}</option>`;
  // Over a hundred questions: grouped by topic (scenarios have none), topics in catalogue order.
  const topics = [...new Set(items.map((i) => i.topic).filter(Boolean))];
  $("item").innerHTML = topics.length
    ? topics.map((t) => `<optgroup label="${fmt.esc(t)}">${items.filter((i) => i.topic === t).map(option).join("")}</optgroup>`).join("")
    : items.map(option).join("");
  if (items.some((i) => i.id === chosen)) $("item").value = chosen;
  renderParams(items.find((i) => i.id === $("item").value));
}

function renderParams(item) {
  const own = item.params.filter((p) => !COMMON.has(p.name));
  const common = item.params.filter((p) => COMMON.has(p.name));
  $("item-method").textContent = `Method: ${item.method}`;
  $("params").innerHTML = `<legend>Parameters</legend>${own.length ? own.map(field).join("") : '<p class="note">None.</p>'}`;
  $("common-params").innerHTML = `<legend class="visually-hidden">Common parameters</legend>${common.map(field).join("")}`;
  $("common-box").hidden = common.length === 0;
}

function kpiTable(kpis) {
  return tableHtml({
    caption: "Key figures: baseline, scenario and the change with its 95 % interval", id: "kpi-table", stack: true,
    columns: [{ label: "Figure" }, { label: "Unit" }, { label: "Baseline", num: true }, { label: "Scenario", num: true },
      { label: "Change", num: true }, { label: "95 % interval", num: true }, { label: "Note" }],
    rows: kpis.map((k) => [fmt.esc(k.name.replaceAll("_", " ")), fmt.esc(k.unit), num(k.baseline, k.unit),
      num(k.scenario, k.unit), num(k.delta, k.unit), k.modelled ? `${num(k.delta_lo, k.unit)} to ${num(k.delta_hi, k.unit)}` : "–",
      k.modelled ? "" : `held: ${fmt.esc(k.note)}`]),
  });
}

function dataTable(table, index) {
  return `<h3>${fmt.esc(table.name)}</h3>${tableHtml({
    caption: table.name, id: `table-${index}`, stack: true, empty: "Nothing to show (or withheld: too few shifts or people).",
    columns: table.columns.map((c, i) => ({ label: table.units?.[i] ? `${c.replaceAll("_", " ")} (${table.units[i]})` : c.replaceAll("_", " "),
      num: table.rows.some((r) => typeof r[i] === "number") })),
    rows: table.rows.map((r) => r.map((v, i) => cell(v, table.units?.[i]))),
  })}`;
}

function uprightBars(data) {
  return data.length > 0 && data.every((t) => t.type === "bar" && t.orientation !== "h");
}

/** The same bars lying down: categories down the side (in their order, each one labelled). */
function sideways(data, layout) {
  const categories = [...new Set(data.flatMap((t) => t.x.map(String)))];
  const { xaxis = {}, yaxis = {}, margin = {} } = layout;
  return {
    data: data.map(({ x, y, error_y: error, ...t }) => ({ ...t, x: y, y: x.map(String), orientation: "h", ...(error ? { error_x: error } : {}) })),
    layout: {
      ...layout,
      xaxis: { ...yaxis, automargin: true },
      yaxis: { ...xaxis, type: "category", automargin: true, autorange: "reversed", tickmode: "array",
        tickvals: categories, ticktext: categories },
      margin: { ...margin, l: 8, t: 8 },
      height: Math.max(220, categories.length * data.length * ROW_PX + 100),
    },
  };
}

/** Draw an answer's chart to fit its box, and again when the box crosses the phone width. */
function drawAnswerChart(el, chart) {
  const narrow = () => uprightBars(chart.data) && el.clientWidth < NARROW_PX;
  const draw = () => {
    // A fresh copy each time: plotly writes its ranges into the layout it is given.
    const { data, layout: { title, ...layout } = {} } = structuredClone(chart);
    el.dataset.sideways = String(narrow());
    const fig = narrow() ? sideways(data, layout) : { data, layout: { height: 300, ...layout } };
    return drawChart(el, fig.data, fig.layout, title?.text || "answer chart");
  };
  new ResizeObserver(() => {
    if (!el.isConnected || !el._fullLayout) return;
    if (String(narrow()) !== el.dataset.sideways) draw();
    else Plotly.Plots.resize(el);
  }).observe(el);
  return draw();
}

async function renderAnswer(result) {
  const a = result.answer;
  const charts = a.kind === "scenario" ? a.charts : [a.chart];
  const tables = a.kind === "scenario" ? a.tables : [a.table];
  const link = new URL(`whatif.html?result=${result.result_id}`, location.href);
  const period = a.kind === "scenario"
    ? `${a.period.first_day} to ${a.period.last_day}: ${a.period.days} days, ${a.period.shifts} shifts`
    : `${result.inputs.from} to ${result.inputs.to} (exclusive)`;
  const box = $("answer");
  box.hidden = false;
  box.innerHTML = `<h2 id="answer-title">${fmt.esc(a.title)}</h2>
    <p class="note">${result.cached ? '<span class="badge">stored answer</span> ' : '<span class="badge good">new answer</span> '}
      ${fmt.esc(period)} · computed in ${num(result.compute_s)} s ·
      <a id="answer-link" href="${fmt.esc(link.href)}">link to this answer</a> <code id="answer-id">${fmt.esc(result.result_id)}</code></p>
    ${a.kind === "question"
      ? `<p><strong id="answer-number" style="font-size: 1.6rem">${num(a.number.value, a.number.unit)}</strong> ${fmt.esc(a.number.unit)} <span class="note">${fmt.esc(a.number.label)}</span></p>`
      : kpiTable(a.kpis)}
    <div class="grid${charts.length > 1 ? " two" : ""}">${charts.map((c, i) => `<div><h3>${fmt.esc(c.layout?.title?.text || "")}</h3><div id="chart-${i}" class="chart"></div></div>`).join("")}</div>
    ${tables.map(dataTable).join("")}
    ${a.suppressed ? `<p class="note">${a.suppressed} group(s) withheld: fewer than k shifts or people.</p>` : ""}
    <h3>Assumptions</h3><ul id="assumptions">${a.assumptions.map((s) => `<li>${fmt.esc(s)}</li>`).join("")}</ul>
    ${a.notes.length ? `<h3>Notes</h3><ul>${a.notes.map((s) => `<li>${fmt.esc(s)}</li>`).join("")}</ul>` : ""}`;
  await Promise.all(charts.map((c, i) => drawAnswerChart($(`chart-${i}`), c)));
  history.replaceState(null, "", `?result=${result.result_id}`);
}

async function renderRecent() {
  const recent = await getJson("whatif/results", { limit: 10 });
  $("recent").innerHTML = tableHtml({
    caption: "Recently stored answers", id: "recent-table", stack: true, empty: "No answers stored yet.",
    columns: [{ label: "When" }, { label: "Kind" }, { label: "Name" }, { label: "Period" }, { label: "Answer" }],
    rows: recent.map((r) => [fmt.esc(fmt.dateTime(r.created_at)), fmt.esc(r.kind), fmt.esc(r.name),
      fmt.esc(`${r.inputs.from} to ${r.inputs.to}`), `<a href="whatif.html?result=${fmt.esc(r.result_id)}">open</a>`]),
  });
}

startPage("whatif", async () => {
  const range = dayRange(30);
  $("range-fields").innerHTML = dayRangeFields(range);
  $("tz-note").textContent = `Days and hours of day are the city's local time (${fmt.TIME_ZONE}, now ${fmt.zone(new Date())}).`;
  const catalog = await getJson("whatif");
  renderForm(catalog);
  $("kind").addEventListener("change", () => renderForm(catalog));
  $("item").addEventListener("change", () => renderForm(catalog));
  $("ask-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const kind = $("kind").value;
    const item = (kind === "scenario" ? catalog.scenarios : catalog.questions).find((i) => i.id === $("item").value);
    const to = new Date(Date.parse(`${$("to-day").value}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
    $("ask-status").textContent = "Working…";
    $("ask-button").disabled = true;
    try {
      const result = await sendJson("POST", `whatif/${kind === "scenario" ? "scenarios" : "questions"}/${item.id}`,
        { params: readParams(item.params) }, { from: $("from-day").value, to });
      await renderAnswer(result);
      $("ask-status").textContent = result.cached ? "This exact question was answered before: here is the stored answer." : "Answered and stored.";
      await renderRecent();
    } finally {
      $("ask-button").disabled = false;
    }
  }));
  const shared = new URLSearchParams(location.search).get("result");
  if (shared) await renderAnswer(await getJson(`whatif/results/${encodeURIComponent(shared)}`));
  await renderRecent();
});
