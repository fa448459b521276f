"""A city's real street network → street_segments (``fleetpilot import-streets FILE``).

step                                                       module
read an OSM extract (.osm.pbf/.osm) or GIS centre lines     read.py     (pyogrio: GDAL's OSM, GeoJSON,
  (GeoJSON, GeoPackage, Shapefile) into lines + tags                     GPKG and Shapefile drivers)
keep drivable classes, split at intersections, one-way,    network.py  (pure: numpy + shapely)
  speed limits (maxspeed, else per-class defaults)
upsert, remove what vanished, report plans that changed    store.py    (one transaction)
"""
