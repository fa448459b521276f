// The plan of my route on the crew's page (issue 21, item 4): the version that applies today,
// its streets in driving order and on the map, the supervisor's reason, and what changed since
// the version I drove last (new streets, streets moved in the order, streets no longer mine).
// GET me/plan answers 404 when I have no shift on a route yet: the section then says so.

import { ApiError, getJson } from "./api.js";
import * as fmt from "./format.js";
import { cityTraces, COLOURS, drawMap, lineTrace } from "./map.js";

const $ = (id) => document.getElementById(id);
const NAMED = 5;  // changed streets named in the summary, per kind
const CHANGE_COLOURS = { same: COLOURS.planned, added: COLOURS.good, moved: COLOURS.fair, removed: COLOURS.bad };

function streetName(s) {
  return s.name || s.segment_id;
}

/** Consecutive unchanged blocks of one street are one line ("Willow Court, 8 blocks"). */
function streetRuns(streets) {
  const runs = [];
  for (const s of streets) {
    const last = runs.at(-1);
    if (last && s.change === "same" && last.change === "same" && streetName(last.first) === streetName(s)) last.count += 1;
    else runs.push({ first: s, change: s.change, count: 1 });
  }
  return runs;
}

function streetItem(run) {
  const s = run.first;
  const badge = s.change === "added" ? `<span class="badge good">new</span>`
    : s.change === "moved" ? `<span class="badge warn">moved (was ${fmt.number(s.was_position)})</span>` : "";
  const blocks = run.count > 1 ? `, ${run.count} blocks` : "";
  return `<li value="${s.position}" data-change="${s.change}" data-segment="${fmt.esc(s.segment_id)}">${fmt.esc(streetName(s))}${blocks} ${badge}</li>`;
}

function changeWords(plan) {
  if (plan.compared_with === null) return "You have not driven an earlier version of this route, so there is nothing to compare.";
  const added = plan.streets.filter((s) => s.change === "added").length;
  const moved = plan.streets.filter((s) => s.change === "moved").length;
  const removed = plan.removed.length;
  const since = `since version ${plan.compared_with}, which you drove on ${fmt.day(plan.drove_on)}`;
  if (!added && !moved && !removed) return `The streets and their order are the same ${since}.`;
  const parts = [added && `${added} new street${added > 1 ? "s" : ""}`, moved && `${moved} moved in the order`,
    removed && `${removed} no longer on your route`].filter(Boolean);
  // Name the first few, with their place in the order: the full list below is long.
  const named = (list, words) => list.slice(0, NAMED).map(words).join("; ");
  const which = [
    named(plan.streets.filter((s) => s.change === "added"), (s) => `new: ${streetName(s)} (no. ${s.position})`),
    named(plan.streets.filter((s) => s.change === "moved"), (s) => `moved: ${streetName(s)} (no. ${s.was_position} → ${s.position})`),
    named(plan.removed, (s) => `gone: ${streetName(s)}`),
  ].filter(Boolean).join("; ");
  return `Changed ${since}: ${parts.join(", ")} — ${which}.`;
}

async function drawPlanMap(plan, city) {
  const features = plan.map.features;
  const of = (change) => features.filter((f) => f.properties.change === change);
  const hover = (f) => `${f.properties.seq ? `${plan.streets.find((s) => s.segment_id === f.properties.segment_id)?.position ?? ""}. ` : ""}${f.properties.name || f.properties.segment_id}`;
  const traces = [
    ...cityTraces(city),
    lineTrace(of("drive"), { name: "Driving between streets", colour: "#b7c6dd", width: 2 }),
    lineTrace(of("same"), { name: "Your streets", colour: CHANGE_COLOURS.same, width: 5, hover }),
    lineTrace(of("moved"), { name: "Moved in the order", colour: CHANGE_COLOURS.moved, width: 6, hover }),
    lineTrace(of("added"), { name: "New on your route", colour: CHANGE_COLOURS.added, width: 6, hover }),
    lineTrace(of("removed"), { name: "No longer yours", colour: CHANGE_COLOURS.removed, width: 4, dash: "dot", hover }),
  ];
  await drawMap($("plan-map"), traces, {
    label: `Map of the plan of route ${plan.route_id}, version ${plan.version}: ${plan.streets.length} streets`,
    focus: traces.slice(-4).filter((t) => t.x.length),
  });
}

/** Fill the "My route's plan" section. */
export async function showMyPlan(city) {
  let plan;
  try {
    plan = await getJson("me/plan");
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    $("plan-summary").textContent = "You have no shift on a route yet: your route's plan shows here once you do.";
    return null;
  }
  const from = plan.effective_from ? `from ${fmt.day(plan.effective_from)}` : "since the route was first planned";
  $("plan-summary").innerHTML = `<strong>Route ${fmt.esc(plan.route_id)} — ${fmt.esc(plan.route_name)}</strong>,
    version ${fmt.number(plan.version)}, applies ${fmt.esc(from)}.`;
  $("plan-reason").innerHTML = plan.reason
    ? `Why it changed: <q>${fmt.esc(plan.reason)}</q>` : "The supervisor gave no reason with this version.";
  $("plan-changes").textContent = changeWords(plan);
  $("plan-next").textContent = plan.next_version
    ? `A new version (${plan.next_version}) applies from ${fmt.day(plan.next_from)}; it shows here from that day.` : "";
  const runs = streetRuns(plan.streets);
  // The list is long (a route has hundreds of blocks): it sits behind a disclosure, its size said on it.
  $("plan-streets-h").textContent = `Streets in driving order (${fmt.number(plan.streets.length)} blocks${plan.removed.length ? `, ${fmt.number(plan.removed.length)} no longer yours` : ""})`;
  $("plan-streets").innerHTML = runs.map(streetItem).join("") || "<li>No streets in this plan.</li>";
  $("plan-removed").innerHTML = plan.removed.map((s) =>
    `<li data-change="removed" data-segment="${fmt.esc(s.segment_id)}">${fmt.esc(streetName(s))} (was ${fmt.number(s.was_position)})</li>`).join("");
  $("plan-removed-h").hidden = !plan.removed.length;
  await drawPlanMap(plan, city);
  return plan;
}

/** The plan in two lines for the top of the page: which version, and if it changed since I drove, why and what. */
export function planGlance(plan) {
  if (!plan) return "";
  const changed = plan.compared_with !== null;
  const from = plan.effective_from ? `, from ${fmt.esc(fmt.day(plan.effective_from))}` : "";
  const badge = changed ? ' <span class="badge good">new since you last drove</span>' : "";
  const head = `<strong>Your route's plan:</strong> route ${fmt.esc(plan.route_id)}, version ${fmt.number(plan.version)}${from}${badge}`;
  if (!changed) return `${head}. <a href="#plan">The plan, its map and streets</a>`;
  const why = plan.reason ? ` Why: <q>${fmt.esc(plan.reason)}</q>.` : "";
  return `${head}.${why} ${fmt.esc(changeWords(plan))} <a href="#plan">What changed, on the map</a>`;
}
