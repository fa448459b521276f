"""Route-level efficiency over time, from shift rollups, with k-suppression in SQL."""
