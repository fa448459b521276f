"""Structured logs: one JSON object per line on stderr (time, level, logger, event, fields)."""

from __future__ import annotations

import logging
import sys
import time

import orjson

LOGGER = "fleetpilot.ingest"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup(level: str = "info") -> None:
    """Send the ingest's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def log(logger: logging.Logger, level: int, event: str, **fields) -> None:
    """Log `event` with structured `fields` (they become keys of the JSON line)."""
    logger.log(level, event, extra={"fields": fields})
