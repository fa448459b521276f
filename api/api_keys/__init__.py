"""Read-only API keys for GIS clients: issued and revoked by an admin."""
