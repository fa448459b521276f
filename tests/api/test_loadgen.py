"""The benchmark's load generator against the real app: every request answered and counted."""
from __future__ import annotations

from urllib.parse import urlsplit

from support import run

from fleetpilot.api.loadgen import request_bytes, run_load


def test_load_generator_counts_statuses_and_reads_every_body(served):
    url = urlsplit(served.url)
    ana = served.token("ana", "driver")
    own, other = served.world.track_shift, sorted(served.world.others_shifts)[0]
    requests = ([request_bytes("/health", None)] * 5
                + [request_bytes(f"/api/v1/me/shifts/{own}", ana)] * 7  # a body of several kB
                + [request_bytes(f"/api/v1/me/shifts/{other}", ana)] * 3  # not hers: 404
                + [request_bytes(f"/api/v1/me/shifts/{own}", None)] * 2)  # not signed in: 401
    outcome = run(run_load(url.hostname, url.port, requests, clients=3))
    summary = outcome.summary()
    assert summary["statuses"] == {"200": 12, "401": 2, "404": 3}
    assert summary["requests"] == 17 and summary["errors"] == 5
    assert summary["p50_ms"] > 0 and summary["loadgen_cpu_ms_per_request"] > 0
