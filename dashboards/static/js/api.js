// Talking to the fleetpilot API: the access token, JSON requests, downloads and errors.
//
// Where the token lives: sessionStorage. It belongs to this tab only and is gone when the tab
// closes, so a shared depot PC does not stay signed in as the last driver. The token travels
// in the Authorization header, which the browser never attaches on its own, so another site
// cannot make requests with it (no CSRF, unlike a cookie). The price is that a script running
// on this origin could read it; that is why the pages load no third-party script at all.

const TOKEN_KEY = "fleetpilot.token";

// Relative to the pages (/app/*.html): the API is one level up, so a reverse proxy may mount
// the whole service under a path prefix without changing anything here.
export const API_ROOT = new URL("../api/v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export function goToLogin() {
  const here = location.pathname.split("/").pop() + location.search;
  location.replace(`login.html?next=${encodeURIComponent(here)}`);
}

function apiUrl(path, params) {
  const url = new URL(path.replace(/^\//, ""), API_ROOT);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

async function send(path, { method = "GET", params, json, body, headers = {} } = {}) {
  const auth = token();
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (auth) init.headers.Authorization = `Bearer ${auth}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(apiUrl(path, params), init);
  if (response.status === 401 && auth) {
    // Expired or revoked: start over at the login page, then come back here.
    forgetToken();
    goToLogin();
    throw new ApiError(401, "signed out", path);
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const payload = await response.json();
      detail = typeof payload.detail === "string" ? payload.detail : JSON.stringify(payload.detail ?? payload);
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(response.status, detail, path);
  }
  return response;
}

/** GET (or another method) returning parsed JSON. */
export async function getJson(path, params) {
  return (await send(path, { params })).json();
}

export async function sendJson(method, path, json, params) {
  const response = await send(path, { method, json, params });
  return response.status === 204 ? null : response.json();
}

/** Sign in with the OAuth2 password flow; keeps the token for this tab. */
export async function login(username, password) {
  forgetToken(); // a stale token must not turn a wrong password into a redirect loop
  const form = new URLSearchParams({ username, password, grant_type: "password" });
  const response = await send("auth/token", {
    method: "POST",
    body: form,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  const payload = await response.json();
  sessionStorage.setItem(TOKEN_KEY, payload.access_token);
  return payload;
}

export async function logout() {
  try {
    await send("auth/logout", { method: "POST" });
  } finally {
    forgetToken();
  }
}

/**
 * Fetch a file with the token and hand it to the browser as a download. A plain link cannot
 * carry the Authorization header, hence the blob.
 */
export async function download(path, params, fallbackName) {
  const response = await send(path, { params, headers: { Accept: "*/*" } });
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  return { name, bytes: blob.size };
}
