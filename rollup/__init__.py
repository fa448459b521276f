"""The rollup stage: between storage and the API, it turns raw fixes and events into what
the doors out read. Run by `fleetpilot rollup` (once, or as a service with --every).

step                                              module
ended and stale shifts → a queue N workers claim  queue.py (SKIP LOCKED under a lease, decision 0018)
queued shifts → per-shift analytics               job.py (shift_metrics, shift_events, exposure, shift_tracks)
exposure → day/week blocks (claimed SKIP LOCKED)  blocks.py (also the k-visible reader, decision 0004)
blocks → known hotspots (90 days)                 known.py
finished shifts → what-if legs and stop visits    whatif/prepare.py, in job.py's batches (read back by whatif/load.py)
partitions ahead, retention once a day            upkeep.py

It uses the pure analytics (fleetpilot.analytics) and storage (fleetpilot.db); it never
imports the API (an import-linter contract in pyproject.toml). The API reads its tables.
"""
