// Accessible tables from rows. Cells are HTML the caller has escaped (format.esc).
// `stack: true` turns each row into a labelled block on a phone instead of squeezing columns.

import { esc } from "./format.js";

/**
 * columns: [{ label, num?: true }]; rows: arrays of cell HTML. Returns the table's HTML,
 * wrapped so a wide table scrolls inside its box, never the page; `scroll: true` also caps
 * its height (for lists that can run to hundreds of rows).
 */
export function tableHtml({ caption, columns, rows, empty = "Nothing to show.", stack = false, id = "", scroll = false }) {
  const head = columns.map((c) => `<th scope="col"${c.num ? ' class="num"' : ""}>${esc(c.label)}</th>`).join("");
  const body = rows.length
    ? rows.map((row) => `<tr>${row.map((cell, i) => `<td data-label="${esc(columns[i].label)}"${columns[i].num ? ' class="num"' : ""}>${cell}</td>`).join("")}</tr>`).join("")
    : `<tr><td colspan="${columns.length}">${esc(empty)}</td></tr>`;
  // A long table scrolls in a box of its own; the box is focusable so keyboards can scroll it.
  const wrap = scroll ? `<div class="table-wrap scroll" tabindex="0" role="region" aria-label="${esc(caption)}">` : '<div class="table-wrap">';
  return `${wrap}<table${id ? ` id="${id}"` : ""}${stack ? ' class="stack"' : ""}>
    <caption class="visually-hidden">${esc(caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}
