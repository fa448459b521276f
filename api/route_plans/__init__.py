"""Route plans: list, versions, GeoJSON import/export (the simulator's routes.geojson format)."""
