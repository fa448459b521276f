"""Causes of missed service segments, given by the crew or taken from hazard reports (issue 18)."""
