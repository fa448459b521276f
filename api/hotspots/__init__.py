"""Exposure-normalised safety hotspots per street segment and grid cell, k-suppressed."""
