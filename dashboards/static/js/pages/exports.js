// The data officer's downloads: every data set the API offers, in each of its formats, over
// the chosen days. The files hold the same k-suppressed aggregates the pages show.

import { download, getJson } from "../api.js";
import { dayRange, dayRangeFields } from "../controls.js";
import * as fmt from "../format.js";
import { guarded, startPage } from "../shell.js";

const $ = (id) => document.getElementById(id);
const FORMAT_WORDS = { geojson: "GeoJSON", csv: "CSV", parquet: "Parquet" };

startPage("exports", async () => {
  const range = dayRange(30);
  $("range-fields").innerHTML = dayRangeFields(range);
  const datasets = await getJson("exports");
  $("export-list").innerHTML = datasets.map((d) => `<section class="card" aria-labelledby="x-${d.name}">
    <h2 id="x-${d.name}">${fmt.esc(d.name.replaceAll("_", " "))}</h2>
    <p>${fmt.esc(d.description)}</p>
    ${d.kinds.length ? `<div class="controls"><div><label for="kind-${d.name}">Event</label>
      <select id="kind-${d.name}">${d.kinds.map((k) => `<option value="${k}">${fmt.esc(fmt.eventWords(k))}</option>`).join("")}</select></div></div>` : ""}
    <div class="controls">${d.formats.map((f) => `<div><button type="button" class="secondary" data-dataset="${d.name}" data-format="${f}">
      Download ${fmt.esc(FORMAT_WORDS[f] || f)}</button></div>`).join("")}</div>
    <p class="note">Columns: ${d.columns.map(fmt.esc).join(", ")}</p>
  </section>`).join("");
  $("export-list").addEventListener("click", guarded(async (event) => {
    const button = event.target.closest("button[data-dataset]");
    if (!button) return;
    const { dataset, format } = button.dataset;
    const params = { from: $("from-day").value, format };
    params.to = new Date(Date.parse(`${$("to-day").value}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const kind = document.getElementById(`kind-${dataset}`);
    if (kind) params.kind = kind.value;
    $("export-status").textContent = `Preparing ${dataset} (${format})…`;
    const file = await download(`exports/${dataset}`, params, `${dataset}.${format}`);
    $("export-status").textContent = `Downloaded ${file.name} (${fmt.number(file.bytes / 1024, 1)} kB).`;
  }));
});
