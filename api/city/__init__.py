"""The city's street network and facilities (reference data, not personal)."""
