"""Per-device clock skew: the unit's clock against the server's, measured on every message.

`sent` (the unit's clock when it published; protocol v1) minus the receive time. For a message
sent live the unit's newest fix time is within one batch interval of `sent`, so this is the
skew of its fix times too; replays of buffered data keep a current `sent`, so store-and-forward
does not look like skew. Network delay makes it slightly negative (tens of ms). A smoothed value
per device (exponential, weight 0.2 per message) absorbs single late deliveries.
"""

from __future__ import annotations

import time

from fleetpilot.ingest.privacy import ShiftWindows


class SkewedWindows:
    """A vehicle's shift windows judged in its unit's clock: on-duty checks see the fix time
    moved by the unit's measured skew (a unit 10 min behind reports 08:50 for 09:00)."""

    __slots__ = ("windows", "offset_ms")

    def __init__(self, windows: ShiftWindows, offset_ms: int):
        self.windows = windows
        self.offset_ms = offset_ms

    def covers(self, t: int) -> bool:
        return self.windows.covers(t + self.offset_ms)

    def covers_span(self, t_min: int, t_max: int) -> bool:
        return self.windows.covers_span(t_min + self.offset_ms, t_max + self.offset_ms)

    def __len__(self) -> int:
        return len(self.windows)


class SkewTracker:
    def __init__(
        self,
        tolerance_s: float = 30.0,
        log_every_s: float = 300.0,
        alpha: float = 0.2,
        window_tolerance_s: float = 900.0,
        min_messages: int = 3,
    ):
        self.tolerance_s = tolerance_s
        # Shift windows are judged in a skewed unit's clock for skews up to this (and beyond
        # `tolerance_s`), once `min_messages` measured it: see ingest/README.md, Clock skew.
        self.window_tolerance_s = window_tolerance_s
        self.min_messages = min_messages
        self.seen: dict[str, int] = {}
        self.log_every_s = log_every_s
        self.alpha = alpha
        self.skew_s: dict[str, float] = {}
        self._logged: dict[str, float] = {}
        self.changed: set[str] = set()  # devices observed since the last take_changed()

    def observe(self, vid: str, sent_ms: int, received_ms: int) -> None:
        skew = (sent_ms - received_ms) / 1000
        known = self.skew_s.get(vid)
        self.skew_s[vid] = skew if known is None else known + self.alpha * (skew - known)
        self.seen[vid] = self.seen.get(vid, 0) + 1
        self.changed.add(vid)

    def windows(self, vid: str, windows: ShiftWindows) -> ShiftWindows | SkewedWindows:
        """`windows` as the privacy filter should judge this unit's fix times: moved by its
        skew when that is measured, beyond the noise and within the bounded tolerance."""
        skew = self.skew_s.get(vid)
        if (
            skew is None
            or self.seen.get(vid, 0) < self.min_messages
            or not self.tolerance_s < abs(skew) <= self.window_tolerance_s
        ):
            return windows
        return SkewedWindows(windows, -round(skew * 1000))

    def take_changed(self) -> tuple[list[str], list[float]]:
        """(vehicles, skews) observed since the last call, for storing."""
        vids, self.changed = sorted(self.changed), set()
        return vids, [self.skew_s[v] for v in vids]

    def skewed(self) -> dict[str, float]:
        """Devices whose smoothed skew is beyond the tolerance."""
        return {v: s for v, s in self.skew_s.items() if abs(s) > self.tolerance_s}

    def flagged(self, now: float | None = None) -> list[tuple[str, float]]:
        """Skewed devices not reported in the last `log_every_s` (then marked reported)."""
        now = time.monotonic() if now is None else now
        out = []
        for vid, skew in self.skewed().items():
            if now - self._logged.get(vid, -1e18) >= self.log_every_s:
                self._logged[vid] = now
                out.append((vid, skew))
        return out

    def max_abs(self) -> float:
        return max((abs(s) for s in self.skew_s.values()), default=0.0)
