// Plain-words formatting of numbers, durations and times. One place, so every page says
// "4 h 05 min" and "12.3 km" the same way (and the browser tests can predict the text).
// Times are shown in the browser's own time zone.

const LOCALE = "en-GB";

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

export function time(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" });
}

export function date(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleDateString(LOCALE, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
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
