"""A city's real street network → street_segments and street_turn_restrictions (``fleetpilot import-streets FILE``).

step                                                       module
read an OSM extract (.osm.pbf/.osm) or GIS centre lines     read.py     (pyogrio: GDAL's OSM, GeoJSON,
  (GeoJSON, GeoPackage, Shapefile) into lines + tags                     GPKG and Shapefile drivers)
keep drivable classes, split at intersections, one-way,    network.py  (pure: numpy + shapely)
  speed limits (maxspeed, else per-class defaults)
OSM restriction relations → forbidden turns between the    restrictions.py (pyosmium: member roles;
  segments at the via node (only_* as what it forbids)                   the mapping is pure)
upsert, remove what vanished, report plans that changed    store.py    (one transaction)
"""
