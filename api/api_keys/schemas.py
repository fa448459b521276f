"""Bodies of the API key endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=3, max_length=80, description="who uses it, e.g. 'city GIS centre (QGIS)'")


class ApiKeyOut(BaseModel):
    key_id: int
    name: str
    key_prefix: str  # the key's first characters, to tell keys apart
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    key: str  # shown this once; only its hash is stored
