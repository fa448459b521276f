"""Hazards crews report from the cab, and the city's hazard list (issue 18)."""
