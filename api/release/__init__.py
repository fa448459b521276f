"""The open-data release: a k-anonymous bundle a city can publish (docs/doors/open-data.md).

- ``fields``     — what every published field means, its unit and type;
- ``geoparquet`` — features to GeoParquet (pyarrow + shapely WKB, GeoParquet 1.1 metadata);
- ``bundle``     — the layers of /ogc (the same release functions) written as GeoJSON,
  GeoParquet and CSV, with a Frictionless `datapackage.json`, recorded for the transparency page;
- ``router``     — the latest release's files, public (they are what the city publishes).
"""
