"""`fleetpilot api --pool-size N` (or FLEETPILOT_API_POOL_SIZE) reaches every worker process:
with --workers > 1 each worker builds its app from the environment, and --pool-size used to be
ignored there (each worker opened the default 20 connections)."""

from __future__ import annotations

import argparse
import os

from fleetpilot.api import app as app_module
from fleetpilot.commands import api as api_command
from fleetpilot.settings import Settings


def _args(**given) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    api_command.add_arguments(parser)
    args = parser.parse_args(["--no-migrate"])
    for k, v in given.items():
        setattr(args, k, v)
    return args


def test_workers_build_their_app_with_the_pool_size(monkeypatch):
    monkeypatch.setenv("FLEETPILOT_API_POOL_SIZE", "1")  # restored after the test (the command sets it)
    served = {}
    monkeypatch.setattr(api_command, "_serve_workers", lambda config: served.update(config=config))
    settings = Settings(_env_file=None, database_url="postgresql://nobody@127.0.0.1:1/none")
    api_command.run(_args(workers=2, pool_size=3), settings)
    assert served["config"].workers == 2 and os.environ["FLEETPILOT_API_POOL_SIZE"] == "3"

    # What each worker then does: app_from_environment reads the setting.
    built = {}
    monkeypatch.setattr(app_module, "create_app", lambda s, pool_size: built.update(pool=pool_size) or "app")
    monkeypatch.setattr(app_module, "frozen", lambda app: app)  # no gc.freeze in the test process
    monkeypatch.setenv("FLEETPILOT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert app_module.app_from_environment() == "app" and built["pool"] == 3


def test_the_default_comes_from_settings(monkeypatch):
    monkeypatch.setenv("FLEETPILOT_API_POOL_SIZE", "1")  # restored after the test (the command sets it)
    monkeypatch.setattr(api_command, "_serve_workers", lambda config: None)
    settings = Settings(_env_file=None, database_url="postgresql://nobody@127.0.0.1:1/none", api_pool_size=6)
    api_command.run(_args(workers=2), settings)
    assert os.environ["FLEETPILOT_API_POOL_SIZE"] == "6"
