"""fleetpilot core: settings, database (schema, migrations, queries), embedded services and the CLI."""

__version__ = "0.1.0"
