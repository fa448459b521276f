"""OGC API – Features at /ogc: the k-anonymous aggregate layers for the city's GIS
(docs/decisions/0007-ogc-api-features-router.md, docs/doors/gis.md).

- ``layers``  — the collections: a table of specs, each built from the same release
  functions as the API's own endpoint for it (no second way to the data);
- ``params``  — bbox, datetime, limit and offset as the standard defines them (400 if invalid);
- ``router``  — landing page, conformance, collections, items (paged), one feature.
"""
