"""`metrics.observe_many` (decision 0036) against prometheus_client's own per-amount observe:
the same exposition, bucket by bucket, for amounts on, between and beyond the bounds."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from fleetpilot.ingest.metrics import LAG_BUCKETS, observe_many


def _exposition(fill) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=registry)
    fill(histogram)
    return generate_latest(registry)


def test_observe_many_exposes_what_one_observe_per_amount_does():
    rng = random.Random(7)
    amounts = [*LAG_BUCKETS[:-1], 0.0, -0.5, 1e9, *(rng.uniform(-1, 4000) for _ in range(500))]
    amounts = [float(a) for a in amounts]
    rng.shuffle(amounts)

    def one_by_one(histogram):
        for amount in amounts:
            histogram.observe(amount)

    def at_once(histogram):
        observe_many(histogram, amounts[:250])
        observe_many(histogram, amounts[250:])
        observe_many(histogram, [])

    expected, got = _exposition(one_by_one), _exposition(at_once)
    assert f"lag_seconds_count {len(amounts)}.0".encode() in expected

    # the sum's last digits may differ with the order of additions: compared as a number;
    # _created is the histogram's creation time
    def strip(text):
        return [line for line in text.splitlines() if not line.startswith((b"lag_seconds_sum", b"lag_seconds_created"))]

    assert strip(got) == strip(expected)
    sums = [
        float(next(line for line in t.splitlines() if line.startswith(b"lag_seconds_sum")).split()[1])
        for t in (expected, got)
    ]
    assert abs(sums[0] - sums[1]) < 1e-6 * max(1.0, abs(sums[0]))
