// Administration (role admin): privacy settings and zones, retention, users, devices and the
// audit log, all through /api/v1/admin. Real names (/admin/people) are read only when a crew
// member's account is being added, since the API records that read in the audit log.

import { getJson, sendJson } from "../api.js";
import * as fmt from "../format.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const ROLE_WORDS = { driver: "crew member", supervisor: "supervisor", data_officer: "data officer", admin: "administrator" };
const AUDIT_LIMIT = 50;

/** A form's named fields as an object; number inputs as numbers, empty optional fields left out. */
function formValues(form) {
  const values = {};
  for (const field of form.querySelectorAll("input[name], select[name]")) {
    if (field.value === "" || field.disabled) continue;
    values[field.name] = field.type === "number" ? Number(field.value) : field.value;
  }
  return values;
}

async function loadPrivacy() {
  const settings = await getJson("admin/privacy");
  $("retention-days").value = settings.retention_days;
  $("k-shifts").value = settings.k_min_shifts;
  $("k-people").value = settings.k_min_people;
  $("zone-policy").value = settings.zone_policy;
  $("privacy-status").textContent = `Last changed ${fmt.dateTime(settings.updated_at)}${settings.updated_by ? ` by ${settings.updated_by}` : ""}.`;
}

async function loadZones() {
  const zones = await getJson("admin/privacy/zones");
  $("zones").innerHTML = tableHtml({
    caption: "Privacy zones", id: "zones-table", stack: true, empty: "No privacy zones.",
    columns: [{ label: "Name" }, { label: "Centre" }, { label: "Radius", num: true }, { label: "Remove" }],
    rows: zones.map((z) => [fmt.esc(z.name), `${fmt.number(z.lat, 5)}, ${fmt.number(z.lon, 5)}`, `${fmt.number(z.radius_m)} m`,
      `<button type="button" class="small secondary" data-zone="${z.zone_id}" aria-label="Remove zone ${fmt.esc(z.name)}">Remove</button>`]),
  });
}

function userStatus(u) {
  if (u.disabled) return '<span class="badge warn">disabled</span>';
  if (u.locked_until && Date.parse(u.locked_until) > Date.now()) return `<span class="badge warn">locked until ${fmt.time(u.locked_until)}</span>`;
  return '<span class="badge good">active</span>';
}

async function loadUsers(me) {
  const users = await getJson("admin/users");
  $("users").innerHTML = tableHtml({
    caption: "User accounts", id: "users-table", stack: true, scroll: true,
    columns: [{ label: "User" }, { label: "Role" }, { label: "Person" }, { label: "Status" }, { label: "Change" }],
    rows: users.map((u) => [fmt.esc(u.username), fmt.esc(ROLE_WORDS[u.role] || u.role), fmt.esc(u.person_id || "–"), userStatus(u),
      // An administrator cannot lock themselves out from here.
      u.username === me.username ? "–" : `<button type="button" class="small secondary" data-user="${u.user_id}"
        data-disable="${!u.disabled}" aria-label="${u.disabled ? "Enable" : "Disable"} ${fmt.esc(u.username)}">${u.disabled ? "Enable" : "Disable"}</button>`]),
  });
}

let peopleLoaded = false;
async function showPersonField() {
  const driver = $("new-role").value === "driver";
  $("person-field").hidden = !driver;
  $("new-person").disabled = !driver;
  if (!driver || peopleLoaded) return;
  const people = await getJson("admin/people");
  peopleLoaded = true;
  const free = people.filter((p) => p.active && !p.has_account);
  $("new-person").innerHTML = free.map((p) =>
    `<option value="${fmt.esc(p.person_id)}">${fmt.esc(p.full_name || p.person_id)} (${fmt.esc(p.employee_no || p.person_id)})</option>`).join("");
}

const DIALECT_WORDS = { v1: "fleetpilot unit", traccar: "via Traccar", owntracks: "OwnTracks phone" };

// The unit's clock against the server's (the ingest's measure): beyond 30 s its data is at
// risk (dead-lettered as clock_skew when ahead, counted off duty near a shift's start when behind).
function clockWords(skew) {
  if (skew === null || skew === undefined) return "–";
  const s = Math.round(skew);
  if (Math.abs(s) <= 30) return "ok";
  return `${Math.abs(s)} s ${s > 0 ? "ahead" : "behind"}`;
}

async function loadDevices() {
  const [devices, vehicles] = await Promise.all([getJson("admin/devices"), getJson("admin/vehicles")]);
  $("devices").innerHTML = tableHtml({
    caption: "Registered devices", id: "devices-table", stack: true, scroll: true, empty: "No devices registered.",
    columns: [{ label: "Device" }, { label: "Truck" }, { label: "Kind" }, { label: "Tracker identity" }, { label: "Firmware" }, { label: "Last seen" }, { label: "Online" }, { label: "Clock" }],
    rows: devices.map((d) => [fmt.esc(d.device_id), fmt.esc(d.vehicle_id || "–"), fmt.esc(DIALECT_WORDS[d.dialect] || d.dialect),
      fmt.esc(d.external_id || "–"), fmt.esc(d.firmware || "–"),
      fmt.esc(fmt.dateTime(d.last_seen)), d.online === null ? "–" : d.online ? "yes" : "no", clockWords(d.clock_skew_s)]),
  });
  $("device-vehicle").innerHTML = '<option value="">none yet</option>'
    + vehicles.map((v) => `<option value="${fmt.esc(v.vehicle_id)}">${fmt.esc(v.vehicle_id)}${v.label ? ` · ${fmt.esc(v.label)}` : ""}</option>`).join("");
}

// Messages held for clock skew (decision 0015): counts and skews only, and a replay per truck.
async function loadSkewHeld() {
  const held = await getJson("admin/skew-held");
  $("skew-held").innerHTML = tableHtml({
    caption: "Trucks with messages held for clock skew", id: "skew-table", stack: true, empty: "Nothing held: no truck's clock ran ahead.",
    columns: [{ label: "Truck" }, { label: "Held", num: true }, { label: "Received" }, { label: "Clock when held" }, { label: "Clock now" }, { label: "Replay" }],
    rows: held.map((h) => [fmt.esc(h.vehicle_id), fmt.number(h.held), `${fmt.dateTime(h.oldest)} – ${fmt.time(h.newest)}`,
      clockWords(h.held_skew_s), clockWords(h.clock_skew_s),
      `<form class="inline" data-replay="${fmt.esc(h.vehicle_id)}"><label>Seconds ahead <input name="offset_s" type="number" step="1"
        placeholder="${Math.round(h.held_skew_s)}" aria-label="Seconds the clock of ${fmt.esc(h.vehicle_id)} was ahead (empty: measured)"></label>
        <button type="submit" class="small">Replay</button></form>`]),
  });
}

function replayWords(r) {
  const dropped = Object.entries(r.not_stored).map(([why, n]) => `${fmt.number(n)} ${why.replace("_", " ")}`);
  return `${r.vehicle_id}: ${fmt.number(r.replayed)} of ${fmt.number(r.messages)} messages replayed, moved back ${fmt.number(r.offset_s ?? 0)} s`
    + ` (${r.measured ? "measured" : "as given"}); ${fmt.number(r.fixes_stored)} positions and ${fmt.number(r.events_stored)} events stored`
    + `${dropped.length ? `; not stored for privacy: ${dropped.join(", ")}` : ""}`
    + `${r.still_skewed ? `; ${fmt.number(r.still_skewed)} still ahead, left held` : ""}.`;
}

async function loadAudit() {
  const filter = formValues($("audit-form"));
  const entries = await getJson("admin/audit", { ...filter, limit: AUDIT_LIMIT });
  $("audit").innerHTML = tableHtml({
    caption: `Audit log, newest ${AUDIT_LIMIT} entries`, id: "audit-table", stack: true, scroll: true, empty: "No entries.",
    columns: [{ label: "When" }, { label: "Who" }, { label: "Action" }, { label: "Person" }, { label: "Shift" }, { label: "Purpose" }],
    rows: entries.map((a) => [fmt.dateTime(a.at), `${fmt.esc(a.actor || "–")} (${fmt.esc(ROLE_WORDS[a.actor_role] || a.actor_role)})`,
      fmt.esc(a.action), fmt.esc(a.subject_person_id || "–"), fmt.esc(a.shift_id || "–"), fmt.esc(a.purpose || "–")]),
  });
}

function onSubmit(form, handler) {
  form.addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await handler(form);
  }));
}

startPage("admin", async ({ me }) => {
  await Promise.all([loadPrivacy(), loadZones(), loadUsers(me), loadDevices(), loadSkewHeld(), loadAudit(), showPersonField()]);

  onSubmit($("privacy-form"), async (form) => {
    await sendJson("PUT", "admin/privacy", formValues(form));
    await Promise.all([loadPrivacy(), loadAudit()]);
    $("privacy-status").textContent = `Saved. ${$("privacy-status").textContent}`;
  });
  onSubmit($("zone-form"), async (form) => {
    await sendJson("POST", "admin/privacy/zones", formValues(form));
    form.reset();
    await Promise.all([loadZones(), loadAudit()]);
  });
  $("zones").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-zone]");
    if (!button) return;
    await sendJson("DELETE", `admin/privacy/zones/${button.dataset.zone}`);
    await Promise.all([loadZones(), loadAudit()]);
  }));
  $("run-retention").addEventListener("click", guarded(async () => {
    $("retention-status").textContent = "Removing…";
    const result = await sendJson("POST", "admin/retention/run");
    const dropped = Object.entries(result.dropped_partitions).map(([table, n]) => `${fmt.number(n)} ${table} partition(s)`);
    $("retention-status").textContent = `Done: raw data before ${fmt.dateTime(result.cutoff)} removed${dropped.length ? ` (${dropped.join(", ")})` : " (nothing was that old)"}.`;
    await loadAudit();
  }));

  $("new-role").addEventListener("change", guarded(showPersonField));
  onSubmit($("user-form"), async (form) => {
    const user = await sendJson("POST", "admin/users", formValues(form));
    form.reset();
    await Promise.all([loadUsers(me), showPersonField(), loadAudit()]);
    $("user-status").textContent = `Added ${user.username} (${ROLE_WORDS[user.role]}).`;
  });
  $("users").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-user]");
    if (!button) return;
    await sendJson("PATCH", `admin/users/${button.dataset.user}`, { disabled: button.dataset.disable === "true" });
    await Promise.all([loadUsers(me), loadAudit()]);
  }));

  onSubmit($("device-form"), async (form) => {
    await sendJson("POST", "admin/devices", formValues(form));
    form.reset();
    await Promise.all([loadDevices(), loadAudit()]);
  });
  $("skew-held").addEventListener("submit", guarded(async (event) => {
    const form = event.target.closest("form[data-replay]");
    if (!form) return;
    event.preventDefault();
    $("skew-status").textContent = "Replaying…";
    const result = await sendJson("POST", `admin/vehicles/${encodeURIComponent(form.dataset.replay)}/skew-replay`, formValues(form));
    $("skew-status").textContent = replayWords(result);
    await Promise.all([loadSkewHeld(), loadAudit()]);
  }));
  onSubmit($("audit-form"), loadAudit);
});
