"""Errors the CLI turns into one clear line and a non-zero exit, never a traceback."""


class FleetpilotError(Exception):
    """Base for expected failures a user can act on."""


class ConfigError(FleetpilotError):
    """A setting is malformed (bad URL, impossible value)."""


class ServiceUnavailable(FleetpilotError):
    """A configured server (PostgreSQL, MQTT broker) cannot be reached."""


class MigrationError(FleetpilotError):
    """The schema cannot be brought up to date safely."""
