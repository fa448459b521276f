"""Downloads of k-respecting aggregates (GeoJSON, CSV, Parquet) for the data officer."""
