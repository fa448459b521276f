"""Live positions of vehicles that are on duty now (never off duty)."""
