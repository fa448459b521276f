"""Independent random streams per (seed, day, vehicle, purpose).

Each purpose (behaviour, gps, link, faults) has its own generator, so switching one kind of
randomness on or off never changes the others, and a vehicle-day does not depend on how many
other vehicles or days are simulated."""

from __future__ import annotations

import zlib

import numpy as np


def streams(seed: int, day: int, vehicle: int, *purposes: str) -> list[np.random.Generator]:
    return [
        np.random.default_rng(np.random.SeedSequence([seed, day, vehicle, zlib.crc32(p.encode())])) for p in purposes
    ]
