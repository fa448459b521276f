"""Shifts: a driver's own shifts, and one shift opened by others for a stated purpose."""
