// The frame every page shares: header, role-adaptive navigation, sign-in check, errors and
// the "data ready" mark the browser tests and the load-time measurement read.
//
// The navigation offers a role only the pages its policy allows (api/policy decides; the
// table below mirrors it, and the browser tests open every offered page as that role and
// fail on any refused request). Hiding a link is a courtesy, not the protection: the API
// refuses the data whatever the page asks.

import { ApiError, getJson, goToLogin, logout, token } from "./api.js";
import { esc } from "./format.js";

export const PAGES = [
  { id: "driver", href: "driver.html", label: "My shifts", roles: ["driver"] },
  { id: "coverage", href: "coverage.html", label: "Route coverage", roles: ["supervisor", "data_officer"] },
  { id: "efficiency", href: "efficiency.html", label: "Efficiency trends", roles: ["supervisor", "data_officer"] },
  { id: "live", href: "live.html", label: "Live map", roles: ["supervisor"] },
  { id: "plans", href: "plans.html", label: "Route plans", roles: ["supervisor"] },
  { id: "complaints", href: "complaints.html", label: "311 complaints", roles: ["supervisor"] },
  { id: "hotspots", href: "hotspots.html", label: "Hotspots", roles: ["supervisor", "data_officer"] },
  { id: "hazards", href: "hazards.html", label: "Hazard list", roles: ["supervisor", "data_officer"] },
  // Shown only once the what-if API answers (see whatIfAvailable).
  { id: "whatif", href: "whatif.html", label: "What if", roles: ["data_officer"], needs: "whatif" },
  { id: "exports", href: "exports.html", label: "Exports", roles: ["data_officer"] },
  { id: "sessions", href: "sessions.html", label: "Question sessions", roles: ["data_officer"] },
  { id: "access", href: "access.html", label: "Open a shift", roles: ["supervisor", "admin"] },
  { id: "admin", href: "admin.html", label: "Administration", roles: ["admin"] },
  { id: "scorecard", href: "scorecard.html", label: "Pilot goals", roles: ["driver", "supervisor", "data_officer", "admin"] },
  { id: "transparency", href: "transparency.html", label: "Transparency", roles: "everyone" },
  { id: "login", href: "login.html", label: "Sign in", roles: "everyone", inNav: false },
];

const HOME = { driver: "driver.html", supervisor: "coverage.html", data_officer: "hotspots.html", admin: "admin.html" };
const ROLE_WORDS = { driver: "Crew member", supervisor: "Supervisor", data_officer: "Data officer", admin: "Administrator" };

export function homeFor(role) {
  return HOME[role] || "transparency.html";
}

function allowed(page, role) {
  return page.roles === "everyone" || (role && page.roles.includes(role));
}

const WHATIF_KEY = "fleetpilot.whatif";

/**
 * Whether the what-if API exists in this build. Read from the OpenAPI description rather
 * than by calling /api/v1/whatif, so a build without it shows no failed request.
 */
async function whatIfAvailable() {
  const known = sessionStorage.getItem(WHATIF_KEY);
  if (known !== null) return known === "yes";
  const response = await fetch(new URL("../openapi.json", document.baseURI));
  const spec = response.ok ? await response.json() : { paths: {} };
  const present = Object.keys(spec.paths || {}).some((path) => path.startsWith("/api/v1/whatif"));
  sessionStorage.setItem(WHATIF_KEY, present ? "yes" : "no");
  return present;
}

function header() {
  const skip = document.createElement("a");
  skip.className = "skip-link";
  skip.href = "#main";
  skip.textContent = "Skip to main content";
  // Move keyboard focus too, not just the scroll position (the next Tab starts in the content).
  skip.addEventListener("click", () => document.getElementById("main").focus());
  const head = document.createElement("header");
  head.className = "site-header";
  head.innerHTML = `<div class="bar"><a class="brand" href="index.html">fleetpilot</a>
    <nav class="site-nav" aria-label="Pages"><ul></ul></nav><div class="who"></div></div>`;
  document.body.prepend(skip, head);
  return head;
}

async function fillNav(head, pageId, me) {
  const role = me?.role;
  const features = { whatif: role === "data_officer" ? await whatIfAvailable() : false };
  const items = PAGES.filter((p) => p.inNav !== false && allowed(p, role) && (!p.needs || features[p.needs]))
    .filter((p) => me || p.id === "transparency");
  head.querySelector(".site-nav ul").innerHTML = items
    .map((p) => `<li><a href="${p.href}"${p.id === pageId ? ' aria-current="page"' : ""}>${esc(p.label)}</a></li>`)
    .join("");
  const who = head.querySelector(".who");
  if (me) {
    who.innerHTML = `<span>${esc(me.username)} · ${esc(ROLE_WORDS[role] || role)}</span>
      <button type="button" class="small" id="sign-out">Sign out</button>`;
    who.querySelector("#sign-out").addEventListener("click", async () => {
      await logout();
      location.replace("login.html");
    });
  } else {
    who.innerHTML = `<a class="button small secondary" href="login.html">Sign in</a>`;
  }
}

export function showError(main, message) {
  const box = document.createElement("div");
  box.className = "alert error";
  box.setAttribute("role", "alert");
  box.textContent = message;
  main.prepend(box);
  return box;
}

/**
 * An event handler that reports failures on the page (a refused save, a lost connection)
 * instead of leaving them to the console.
 */
export function guarded(handler) {
  return async (event) => {
    try {
      await handler(event);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      const box = showError(document.getElementById("main"), error instanceof ApiError ? `Refused: ${error.detail}` : `Failed: ${error.message}`);
      box.scrollIntoView({ block: "nearest" });
      if (!(error instanceof ApiError)) console.error(error);
    }
  };
}

/**
 * Start a page: check sign-in and role, draw the frame, run `render({ me, main })`.
 * Public pages (roles "everyone") also work signed out.
 */
export async function startPage(pageId, render) {
  const page = PAGES.find((p) => p.id === pageId);
  const main = document.getElementById("main");
  const head = header();
  let me = null;
  try {
    if (token()) {
      me = await getJson("auth/me");
    } else if (page.roles !== "everyone") {
      goToLogin();
      return;
    }
    if (!allowed(page, me?.role)) {
      location.replace(homeFor(me.role));
      return;
    }
    await fillNav(head, pageId, me);
    await render({ me, main });
    performance.mark("fp:ready");
    document.body.dataset.ready = "true";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // on the way to the login page
    if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
      showError(main, error.status === 403 ? "You are not allowed to see this." : "Not found, or not yours to see.");
      document.body.dataset.ready = "denied";
      return;
    }
    showError(main, `Something went wrong: ${error.message}`);
    document.body.dataset.ready = "error";
    console.error(error);
  }
}
