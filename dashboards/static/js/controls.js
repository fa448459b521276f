// Form controls several pages share: a day range kept in the address, so a view can be
// bookmarked and shared.

import { today as cityToday } from "./format.js";

const DAY_MS = 86_400_000;

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

/**
 * The page's day range from `?from=YYYY-MM-DD&to=YYYY-MM-DD` (both inclusive on screen),
 * defaulting to the last `days` days. Returns the API's form too: `to` exclusive.
 */
export function dayRange(days = 30) {
  const query = new URLSearchParams(location.search);
  const today = new Date(`${cityToday()}T00:00:00Z`);  // the city's day, as a calendar date
  const last = query.get("to") ? new Date(`${query.get("to")}T00:00:00Z`) : today;
  const first = query.get("from") ? new Date(`${query.get("from")}T00:00:00Z`) : new Date(last - (days - 1) * DAY_MS);
  return { first: isoDay(first), last: isoDay(last), api: { from: isoDay(first), to: isoDay(new Date(+last + DAY_MS)) } };
}

/** HTML of two labelled date inputs for `dayRange`. */
export function dayRangeFields(range) {
  return `<div><label for="from-day">From</label><input id="from-day" name="from" type="date" value="${range.first}"></div>
    <div><label for="to-day">To (including)</label><input id="to-day" name="to" type="date" value="${range.last}"></div>`;
}

/** Put the form's fields into the address and reload: the view follows the address. */
export function reloadWith(form) {
  const query = new URLSearchParams(location.search);
  for (const field of form.querySelectorAll("input[name], select[name]")) {
    if (field.value) query.set(field.name, field.value);
    else query.delete(field.name);
  }
  location.search = query.toString();
}
