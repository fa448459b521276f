// The dashboards' run-time configuration (/app-assets/config.json): map options and the
// city's IANA time zone. Loaded once per page, before any module that imports it runs.

export const config = await fetch(new URL("../app-assets/config.json", document.baseURI))
  .then((r) => (r.ok ? r.json() : {}))
  .catch(() => ({}));
