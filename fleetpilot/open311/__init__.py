"""The 311 door (issue 15, item 1; partly built): read "missed collection" complaints from the
city's Open311 GeoReport v2 endpoint and answer them from the record.

- ``records``  — GeoReport v2 service requests from JSON or XML (the spec's two formats),
  malformed documents refused with a reason;
- ``client``   — the HTTP client: filters, retries with back-off, paging by time;
- ``match``    — a complaint to the planned service segments near it (or on its street when it
  has only an address): pure shapely, no I/O.
"""
