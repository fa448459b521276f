"""All configuration, read once from environment variables and an optional file.

Nothing else in the project reads ``os.environ``: code receives a ``Settings``.
Every variable is ``FLEETPILOT_<FIELD>`` (upper case); the optional file is
``fleetpilot.env`` in the working directory, or the path in ``FLEETPILOT_ENV_FILE``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleetpilot.localtime import DEFAULT_TIMEZONE, zone

StorageMode = Literal["auto", "timescale", "native"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLEETPILOT_",
        env_file=os.environ.get("FLEETPILOT_ENV_FILE", "fleetpilot.env"),
        extra="ignore",
    )

    # Services. Empty means "start the embedded one" (pgserver / amqtt).
    database_url: str | None = Field(None, description="PostgreSQL URL, e.g. postgresql://user@host:5432/db")
    mqtt_url: str | None = Field(None, description="MQTT broker URL, e.g. mqtt://user:pass@host:1883")
    # Each service logs in as its own least-privilege role (docs/decisions/0009); unset = the
    # database URL with the role's name as user (no password), as on a local trusted server.
    api_database_url: str | None = Field(None, description="The API's login (role fleetpilot_api)")
    ingest_database_url: str | None = Field(None, description="Ingest workers' login (role fleetpilot_ingest)")
    rollup_database_url: str | None = Field(None, description="The rollup service's login (role fleetpilot_rollup)")
    data_dir: Path = Field(Path(".fleetpilot"), description="Embedded database, broker state and run files")

    # Storage.
    storage_mode: StorageMode = Field(
        "auto", description="auto: TimescaleDB when the extension can be created, else native partitioning"
    )
    partitions_ahead_days: int = Field(7, ge=1, description="Native mode: daily partitions created ahead of today")
    release_weeks: int = Field(
        4,
        ge=0,
        description="The rollup service (rollup --every) writes the open-data release of the N whole ISO weeks "
        "just ended, once a week after Monday 00:00 city time, into <data_dir>/releases (0 = no scheduled release)",
    )

    # Privacy defaults; the admin can change them at run time (stored in the database).
    retention_days: int = Field(90, ge=1, description="Raw fixes and events older than this are removed")
    k_min_shifts: int = Field(5, ge=1, description="Aggregates over fewer shifts are suppressed")
    k_min_people: int = Field(3, ge=1, description="Aggregates over fewer distinct people are suppressed")
    deadletter_days: int = Field(7, ge=1, le=90, description="Rejected messages (numbers removed) are kept this long")
    skew_hold_hours: int = Field(
        48, ge=1, le=168, description="A clock-skewed unit's messages are held whole this long for a replay"
    )

    # Wire protocol.
    city: str = Field("metro", description="City segment of MQTT topics fleet/<city>/<vehicle>/...")
    # Real trackers in (docs/trackers.md). Set Traccar's forward.topic / event.forward.topic
    # to topics this filter matches (e.g. traccar/metro/positions); empty = not subscribed.
    traccar_topic: str = Field("traccar/{city}/+", description="MQTT filter for Traccar's forwarding ({city} replaced)")
    owntracks_topic: str = Field(
        "owntracks/+/+", description="MQTT filter for OwnTracks phones; the + segments are <user>/<device>"
    )
    # The city's clock: days, weeks, schedules and every time people see (storage stays UTC).
    timezone: str = Field(
        DEFAULT_TIMEZONE,
        description="IANA time zone of the city; default America/Chicago, the demo city's (decision 0013)",
    )

    # Services' listening addresses.
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    metrics_port: int = Field(9108, description="Prometheus metrics of the ingest worker")
    map_tile_url: str | None = Field(
        None,
        description="XYZ raster tiles for the dashboards' maps, e.g. https://tiles.example/{z}/{x}/{y}.png; "
        "unset = no base map and no request to another host (streets come from the city and the plans)",
    )
    map_tile_attribution: str | None = Field(None, description="Attribution shown under maps with tiles")
    jwt_secret: str | None = Field(None, description="Token signing key; generated into data_dir when unset")
    token_minutes: int = Field(30, ge=1, description="Access token lifetime")
    login_max_failures: int = Field(5, ge=1, description="Consecutive failed sign-ins that lock an account")
    login_lockout_minutes: int = Field(15, ge=1, description="How long a locked account stays locked")
    api_workers: int = Field(2, ge=1, description="Server processes of `fleetpilot api` (default of --workers)")
    api_pool_size: int = Field(
        20, ge=1, description="Database connections of each `fleetpilot api` process (default of --pool-size)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)  # ValueError names the zone
        return value

    @field_validator(
        "database_url",
        "api_database_url",
        "ingest_database_url",
        "rollup_database_url",
        "mqtt_url",
        "jwt_secret",
        "map_tile_url",
        "map_tile_attribution",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
