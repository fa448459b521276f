"""Per-device sequence numbers: which messages this worker has seen, and which are missing.

Every message of a unit carries ``seq``, one counter across channels, never reset
(docs/protocol.md). Duplicates repeat a number; store-and-forward replays arrive late with
old numbers; a gap that never fills is lost data. The tracker keeps, per vehicle, a bitmap
of the last `window` numbers below the highest seen (8 KiB per vehicle for the default
65 536), so memory stays bounded however long the worker runs.

Scope: what *this* worker saw since it started. With a shared subscription each worker
sees only its share of every unit's messages, so `missing` is meaningful for a single
worker; the database's exactly-once guarantee does not depend on this class at all (it
only avoids counting a duplicate message's privacy drops twice, and feeds metrics).
"""

from __future__ import annotations


class _Device:
    __slots__ = ("base", "high", "bits", "missing")

    def __init__(self, window: int, seq: int):
        self.base = seq  # first number seen: older ones were never expected, so never missing
        self.high = seq  # highest number seen
        self.bits = bytearray(window // 8)  # bit (n % window) set: n seen, for n in (high - window, high]
        self.missing = 0  # numbers in (base, high] inside the window that have not arrived


class SeqTracker:
    def __init__(self, window: int = 65_536):
        if window % 8:
            raise ValueError("window must be a multiple of 8")
        self.window = window
        self._devices: dict[str, _Device] = {}

    def observe(self, vid: str, seq: int) -> bool:
        """Record `seq` of vehicle `vid`; True the first time it is seen (as far as the
        window reaches: a number older than the window counts as new)."""
        dev = self._devices.get(vid)
        if dev is None:
            dev = self._devices[vid] = _Device(self.window, seq)
            self._set(dev, seq)
            return True
        w = self.window
        if seq > dev.high:
            # The window slides up: numbers leaving it are forgotten (and so are their gaps);
            # their bit positions are those of the new numbers, which start unseen.
            if seq - dev.high >= w:  # the whole window leaves at once (a long gap, or a bogus number)
                dev.bits = bytearray(w // 8)
                dev.missing = 0
            else:
                oldest = dev.high - w + 1
                for n in range(oldest, oldest + seq - dev.high):
                    if n > dev.base and not self._test(dev, n):
                        dev.missing -= 1
                    self._clear(dev, n)
            dev.missing += min(seq - dev.high - 1, w - 1)
            dev.high = seq
            self._set(dev, seq)
            return True
        if seq <= dev.high - w:
            return True
        if self._test(dev, seq):
            return False
        self._set(dev, seq)
        if seq > dev.base:
            dev.missing -= 1
        return True

    def missing(self) -> int:
        """Sequence numbers inside the windows that have not arrived (yet)."""
        return sum(d.missing for d in self._devices.values())

    def worst(self, n: int) -> dict[str, int]:
        """The `n` devices with the most missing numbers (for a log line)."""
        top = sorted(((d.missing, vid) for vid, d in self._devices.items() if d.missing), reverse=True)[:n]
        return {vid: missing for missing, vid in top}

    def _test(self, dev: _Device, n: int) -> bool:
        i = n % self.window
        return bool(dev.bits[i >> 3] & (1 << (i & 7)))

    def _set(self, dev: _Device, n: int) -> None:
        i = n % self.window
        dev.bits[i >> 3] |= 1 << (i & 7)

    def _clear(self, dev: _Device, n: int) -> None:
        i = n % self.window
        dev.bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF
