// A long phone page as sections the reader opens: native <details data-section> (keyboard,
// screen readers and find-in-page work without ARIA of ours). The open section is in the
// address ("driver.html#plan"), so a link opens it and reloading keeps it open.

/* global Plotly */

const sections = () => [...document.querySelectorAll("details[data-section]")];

function fromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  return id ? sections().find((d) => d.id === id) : undefined;
}

/** Open the section the address names (if any), scrolled into view. */
function openFromHash() {
  const target = fromHash();
  if (!target) return;
  target.open = true;
  target.scrollIntoView({ block: "start" });
}

/** Open `details` without putting it in the address (the page opens it for the reader). */
export function openSection(details) {
  if (details.open) return;
  details.dataset.auto = "true";
  details.open = true;
}

export function setUpSections() {
  for (const details of sections()) {
    details.addEventListener("toggle", () => {
      if (details.dataset.auto) {
        delete details.dataset.auto;
        return;
      }
      const hash = `#${details.id}`;
      if (details.open) {
        // A chart drawn while folded away has plotly's default width: fit it to its box now
        // (maps re-frame themselves on a size change, js/map.js).
        for (const chart of details.querySelectorAll(".chart.js-plotly-plot")) Plotly.Plots.resize(chart);
        if (location.hash !== hash) history.replaceState(null, "", hash);
      } else if (location.hash === hash) {
        history.replaceState(null, "", location.pathname + location.search);
      }
    });
  }
  window.addEventListener("hashchange", openFromHash);
  openFromHash();
}

/**
 * Show the first `shown` items of a long list and a button for the rest, which says how many.
 * Every item stays in the page (find-in-page, the download); the hidden ones just are not drawn.
 */
export function foldList(list, shown = 5) {
  if (list.nextElementSibling?.classList.contains("more")) list.nextElementSibling.remove();
  const items = [...list.children];
  if (items.length <= shown + 1) return;
  const rest = items.slice(shown);
  for (const li of rest) li.hidden = true;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary small more";
  button.setAttribute("aria-expanded", "false");
  if (list.id) button.setAttribute("aria-controls", list.id);
  const words = (open) => (open ? "Show fewer" : `Show all ${items.length} (${rest.length} more)`);
  button.textContent = words(false);
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    for (const li of rest) li.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = words(open);
  });
  list.after(button);
}

/** After the data is drawn (the page grew above it), bring the section the address names back into view. */
export function scrollToHashed() {
  fromHash()?.scrollIntoView({ block: "start" });
}
