// Plain-words formatting of numbers, durations and times. One place, so every page says
// "4 h 05 min" and "12.3 km" the same way (and the browser tests can predict the text).
// Times are shown in the city's time zone (FLEETPILOT_TIMEZONE, from config.json) with its
// abbreviation or offset ("06:00 CST", "06:00 GMT+2"), whatever the browser's own zone is.

import { config } from "./config.js";

const LOCALE = "en-GB";
export const TIME_ZONE = config.timezone || "UTC";
// en-US names North American zones by letters (CST, CDT); elsewhere both give an offset or
// the zone's own letters (en-GB: BST, CET, EET).
const ZONE_LOCALE = TIME_ZONE.startsWith("America/") ? "en-US" : LOCALE;
const clock = new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: TIME_ZONE });
const zoneName = new Intl.DateTimeFormat(ZONE_LOCALE, { timeZone: TIME_ZONE, timeZoneName: "short" });
const calendar = new Intl.DateTimeFormat(LOCALE, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: TIME_ZONE });
const isoCalendar = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: TIME_ZONE });

/** The city's zone abbreviation or offset at an instant ("CST", "CDT", "GMT+2"). */
export function zone(when) {
  return zoneName.formatToParts(when).find((p) => p.type === "timeZoneName")?.value || TIME_ZONE;
}

/** The city's current day as "YYYY-MM-DD". */
export function today() {
  return isoCalendar.format(new Date());
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString(LOCALE, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function km(metres, digits = 1) {
  return metres === null || metres === undefined ? "–" : `${number(metres / 1000, digits)} km`;
}

export function percent(share, digits = 0) {
  return share === null || share === undefined ? "–" : `${number(share * 100, digits)} %`;
}

/** Seconds as "2 h 05 min", "7 min", "45 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  return `${h} h ${String(minutes % 60).padStart(2, "0")} min`;
}

export function minutes(seconds, digits = 0) {
  return seconds === null || seconds === undefined ? "–" : `${number(seconds / 60, digits)} min`;
}

export function speedKmh(mps) {
  return mps === null || mps === undefined ? "–" : `${number(mps * 3.6)} km/h`;
}

/** An instant as the city's wall-clock time with its zone: "06:05 CST". */
export function time(iso) {
  if (!iso) return "–";
  const when = new Date(iso);
  return `${clock.format(when)} ${zone(when)}`;
}

/** An instant's day in the city: "Sun, 1 Nov 2026". */
export function date(iso) {
  if (!iso) return "–";
  return calendar.format(new Date(iso));
}

// A day that is already the city's ("YYYY-MM-DD", e.g. a plan's first day) is formatted as a
// calendar date, not as an instant: read at UTC midnight and shown in UTC, it stays that day.
const dayCalendar = new Intl.DateTimeFormat(LOCALE, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });

/** A local day "YYYY-MM-DD" in words: "Sun, 6 Dec 2026". */
export function day(isoDate) {
  return isoDate ? dayCalendar.format(new Date(`${isoDate}T00:00:00Z`)) : "–";
}

export function dateTime(iso) {
  return iso ? `${date(iso)}, ${time(iso)}` : "–";
}

/** "harsh_brake" → "Harsh braking": event kinds in words a crew member uses. */
export const EVENT_WORDS = {
  harsh_brake: "Harsh braking",
  harsh_accel: "Harsh acceleration",
  harsh_corner: "Sharp cornering",
  speeding: "Over the speed limit",
  reversing: "Reversing",
  bin_lift: "Bin lift",
  ignition_on: "Engine on",
  ignition_off: "Engine off",
  no_break: "Long stretch without a break",
};

export function eventWords(kind) {
  return EVENT_WORDS[kind] || kind.replaceAll("_", " ");
}

/** Escape text for insertion into HTML built with template strings. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
