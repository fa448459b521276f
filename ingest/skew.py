"""Per-device clock skew: the unit's clock against the server's, measured on every message.

`sent` (the unit's clock when it published; protocol v1) minus the receive time. For a message
sent live the unit's newest fix time is within one batch interval of `sent`, so this is the
skew of its fix times too; replays of buffered data keep a current `sent`, so store-and-forward
does not look like skew. Network delay makes it slightly negative (tens of ms). A smoothed value
per device (exponential, weight 0.2 per message) absorbs single late deliveries.
"""

from __future__ import annotations

import time


class SkewTracker:
    def __init__(self, tolerance_s: float = 30.0, log_every_s: float = 300.0, alpha: float = 0.2):
        self.tolerance_s = tolerance_s
        self.log_every_s = log_every_s
        self.alpha = alpha
        self.skew_s: dict[str, float] = {}
        self._logged: dict[str, float] = {}
        self.changed: set[str] = set()  # devices observed since the last take_changed()

    def observe(self, vid: str, sent_ms: int, received_ms: int) -> None:
        skew = (sent_ms - received_ms) / 1000
        known = self.skew_s.get(vid)
        self.skew_s[vid] = skew if known is None else known + self.alpha * (skew - known)
        self.changed.add(vid)

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
