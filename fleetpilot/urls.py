"""Validation of service URLs, so a typo is reported before any connection attempt."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from fleetpilot.errors import ConfigError


def check_database_url(url: str) -> str:
    """Return ``url`` if it is a usable PostgreSQL URL, else raise ConfigError."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"database URL {redact(url)!r} must start with postgresql:// (got scheme {parts.scheme or 'none'!r})"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError as exc:
        raise ConfigError(f"database URL {redact(url)!r} has a bad port: {exc}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError(f"database URL {redact(url)!r} names no host (e.g. postgresql://user@127.0.0.1:5432/db)")
    return url


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    def url(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        auth = f"{self.username}@" if self.username else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """Parse ``mqtt://[user[:pass]@]host[:port]`` (or ``mqtts://``) into its parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise ConfigError(f"MQTT URL {redact(url)!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ConfigError(f"MQTT URL {redact(url)!r} names no host (e.g. mqtt://127.0.0.1:1883)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"MQTT URL {redact(url)!r} has a bad port: {exc}") from None
    tls = parts.scheme == "mqtts"
    return MqttTarget(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
