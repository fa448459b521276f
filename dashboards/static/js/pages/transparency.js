// The public transparency page, drawn from /api/v1/transparency (the live settings).
import { getJson } from "../api.js";
import * as fmt from "../format.js";
import { startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const REASONS = { off_duty: "off duty", private_mode: "device in private mode", privacy_zone: "inside a privacy zone" };
const ROLE_WORDS = { driver: "crew members", supervisor: "supervisors", data_officer: "data officers", admin: "administrators" };

function who(roles) {
  if (roles.length === 0) return "registered trackers only (no person's account)";  // the device doors
  return roles.includes("anonymous") ? "everyone" : roles.map((role) => ROLE_WORDS[role] || role).join(", ");
}

// The latest open-data release (written weekly by the rollup service or by `fleetpilot release`).
function openData(release) {
  if (!release) return '<p id="t-open-data">No open-data release has been published yet.</p>';
  const last = new Date(Date.parse(`${release.period_end}T12:00:00Z`) - 86_400_000).toISOString();
  return `<p id="t-open-data">Latest release: ${fmt.esc(fmt.date(`${release.period_start}T12:00:00Z`))} to
    ${fmt.esc(fmt.date(last))}, published ${fmt.esc(fmt.dateTime(release.created_at))}, with the same rule of
    ${fmt.number(release.k_min_shifts)} shifts and ${fmt.number(release.k_min_people)} people.
    <a id="t-open-data-link" href="${fmt.esc(release.datapackage)}">datapackage.json</a> lists every file
    (GeoParquet, GeoJSON, CSV) and describes every field.</p>`;
}

startPage("transparency", async ({ main }) => {
  const facts = await getJson("transparency");
  const drops = facts.not_stored_last_30_days;
  main.querySelector("#transparency").innerHTML = `
    <dl class="figures card" id="settings">
      <div><dt>Raw positions kept for</dt><dd id="t-retention">${fmt.number(facts.retention_days)} days</dd></div>
      <div><dt>Rejected messages kept for</dt><dd id="t-deadletters">${fmt.number(facts.deadletter_days)} days</dd></div>
      <div><dt>Clock-skewed messages held for</dt><dd id="t-skew-hold">${fmt.number(facts.skew_hold_hours)} hours</dd></div>
      <div><dt>Smallest group shown</dt><dd id="t-k-shifts">${fmt.number(facts.k_min_shifts)} shifts</dd></div>
      <div><dt>…and at least</dt><dd id="t-k-people">${fmt.number(facts.k_min_people)} people</dd></div>
      <div><dt>Privacy zones</dt><dd id="t-zones">${fmt.number(facts.privacy_zones)}</dd></div>
    </dl>
    <section class="card" aria-labelledby="t-collected-h">
      <h2 id="t-collected-h">What is collected</h2>
      ${tableHtml({ caption: "What is collected, when, and how long it is kept", stack: true,
        columns: [{ label: "Data" }, { label: "When" }, { label: "Kept" }],
        rows: facts.collected.map((d) => [fmt.esc(d.what), fmt.esc(d.when), fmt.esc(d.kept)]) })}
    </section>
    <section class="card" aria-labelledby="t-access-h">
      <h2 id="t-access-h">Who sees what</h2>
      <p>Every figure about groups covers at least <strong>${fmt.number(facts.k_min_shifts)} shifts</strong> and
        <strong>${fmt.number(facts.k_min_people)} different people</strong>; smaller groups are removed on the server.
        No page ranks or lists drivers.</p>
      ${tableHtml({ caption: "Who may see what", stack: true, columns: [{ label: "Who" }, { label: "May see" }],
        rows: facts.access.map((r) => [fmt.esc(who(r.roles)), fmt.esc(r.meaning)]) })}
    </section>
    <section class="card" aria-labelledby="t-individual-h">
      <h2 id="t-individual-h">Individual access</h2>
      <p>In the last 30 days someone other than the crew opened a shift
        <strong id="t-accesses">${fmt.number(facts.individual_accesses_last_30_days)}</strong> time(s), each with a stated purpose
        that the crew members see in their own access log.</p>
    </section>
    <section class="card" aria-labelledby="t-drops-h">
      <h2 id="t-drops-h">Counted but not stored (last 30 days)</h2>
      ${tableHtml({ caption: "Positions and events that were counted but not stored", stack: true,
        columns: [{ label: "Why" }, { label: "Positions", num: true }, { label: "Events", num: true }],
        rows: drops.map((d) => [fmt.esc(REASONS[d.reason] || d.reason), fmt.number(d.fixes), fmt.number(d.events)]),
        empty: "Nothing in the last 30 days." })}
    </section>
    <section class="card" aria-labelledby="t-open-data-h">
      <h2 id="t-open-data-h">Open data</h2>
      ${openData(facts.latest_open_data)}
    </section>
    <p class="note">Settings last changed ${fmt.esc(fmt.dateTime(facts.settings_updated_at))}.</p>`;
});
