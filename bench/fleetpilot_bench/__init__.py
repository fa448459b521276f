"""fleetpilot's benchmarks and load generators, outside the product packages (not in the wheel).

Each target is a module with ``main(argv) -> int`` that prints its figures as JSON, run as
`fleetpilot bench TARGET [options]`:

target     module         measures
analytics  analytics.py   the analytics pipeline over a simulated fleet-day (fixes/s, memory)
ingest     ingest.py      the ingest through a real broker and PostgreSQL (mqttpub.py publishes)
api        api.py         the API's endpoints over a simulated month (loadgen.py drives clients)
pages      pages.py       the dashboards in headless Chromium over the api bench's month
rollup     rollup.py      the rollup stage end to end from the database, beside its COPY-out and kernel limits
whatif     whatif.py      seconds per what-if scenario and question
planning   planning.py    re-sequencing a route: heuristic against OR-Tools (deadhead, time, gap)
sim        sim.py         the simulator's scale (also `fleetsim bench`)

Dated figures, with machine and command, are in docs/benchmarks/.
"""
