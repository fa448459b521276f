// "What if" question sessions: record agency heads' questions and triage each one — answered
// (a stored what-if answer, picked from the recent ones), needs data we don't have (which), or
// out of scope — and download the session as one document.

import { download, getJson, sendJson } from "../api.js";
import * as fmt from "../format.js";
import { guarded, startPage } from "../shell.js";
import { tableHtml } from "../tables.js";

const $ = (id) => document.getElementById(id);
const WORDS = { open: "not yet triaged", answered: "answered", needs_data: "needs data we don't have", out_of_scope: "out of scope" };

function triageControls(sid, q, results) {
  const options = Object.entries(WORDS).map(([k, v]) => `<option value="${k}"${q.triage === k ? " selected" : ""}>${fmt.esc(v)}</option>`).join("");
  const answers = results.map((r) => `<option value="${r.result_id}"${q.result_id === r.result_id ? " selected" : ""}>${fmt.esc(r.name)} (${fmt.esc(r.created_at.slice(0, 10))})</option>`).join("");
  const id = `q${q.question_id}`;
  return `<form class="triage controls" data-question="${q.question_id}" data-session="${sid}">
    <div><label for="${id}-t">Triage</label><select id="${id}-t" name="triage">${options}</select></div>
    <div><label for="${id}-r">Stored answer</label><select id="${id}-r" name="result_id"><option value="">–</option>${answers}</select></div>
    <div><label for="${id}-n">Data needed</label><input id="${id}-n" name="needs_data" type="text" maxlength="500" value="${fmt.esc(q.needs_data || "")}"></div>
    <div><button type="submit" class="small">Save</button></div></form>`;
}

async function showSession(sid) {
  if (!sid) {
    $("questions").innerHTML = "<p>No session yet.</p>";
    return;
  }
  const [session, results] = await Promise.all([getJson(`whatif/sessions/${sid}`), getJson("whatif/results", { limit: 50 })]);
  $("questions").innerHTML = tableHtml({
    caption: `Questions of ${session.title}`, id: "session-questions", stack: true, empty: "No questions recorded yet.",
    columns: [{ label: "Question" }, { label: "Department" }, { label: "Now" }, { label: "Update" }],
    rows: session.questions.map((q) => [
      fmt.esc(q.text), fmt.esc(q.department),
      fmt.esc(WORDS[q.triage]) + (q.answer_withdrawn ? " (answer withdrawn: ask again)" : q.answer_name ? `: ${fmt.esc(q.answer_name)}` : ""),
      triageControls(sid, q, results),
    ]),
  });
  for (const form of document.querySelectorAll("form.triage")) {
    form.addEventListener("submit", guarded(async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const body = { triage: data.triage, result_id: data.result_id || null, needs_data: data.needs_data || null };
      await sendJson("PUT", `whatif/sessions/${form.dataset.session}/questions/${form.dataset.question}/triage`, body);
      await showSession(form.dataset.session);
    }));
  }
}

startPage("sessions", async () => {
  $("session-day").value = fmt.today();
  const sessions = await getJson("whatif/sessions");
  const query = new URLSearchParams(location.search);
  $("session-pick").innerHTML = sessions.map((s) => `<option value="${s.session_id}">${fmt.esc(s.held_on)} · ${fmt.esc(s.title)} (${s.questions} questions, ${s.open} open)</option>`).join("");
  if (query.get("session")) $("session-pick").value = query.get("session");
  const current = () => $("session-pick").value;
  $("session-pick").addEventListener("change", guarded(() => showSession(current())));
  $("session-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    const made = await sendJson("POST", "whatif/sessions", Object.fromEntries(new FormData(event.target)));
    location.search = `session=${made.session_id}`;
  }));
  $("question-form").addEventListener("submit", guarded(async (event) => {
    event.preventDefault();
    await sendJson("POST", `whatif/sessions/${current()}/questions`, Object.fromEntries(new FormData(event.target)));
    event.target.reset();
    await showSession(current());
  }));
  $("export").addEventListener("click", guarded(async () => {
    const saved = await download(`whatif/sessions/${current()}/export`, {}, "session.html");
    $("export-status").textContent = `Downloaded ${saved.name}.`;
  }));
  await showSession(current());
});
