"""/admin/api-keys: read-only keys for GIS clients (the /ogc layers), issued and revoked by an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from fleetpilot.api.api_keys import service
from fleetpilot.api.api_keys.schemas import ApiKeyIn, ApiKeyIssued, ApiKeyOut
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY, Allowed, Conn
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/admin/api-keys", tags=["admin"], responses=REFUSALS)
Admin = Allowed(Capability.ADMIN)
KeyId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(_: Admin, conn: Conn) -> list[ApiKeyOut]:
    """Every key issued, revoked ones included (the keys themselves are not stored)."""
    return await service.keys(conn)


@router.post("", response_model=ApiKeyIssued, status_code=201, responses=UNREADABLE_BODY)
async def issue_key(access: Admin, conn: Conn, body: ApiKeyIn) -> ApiKeyIssued:
    """A new read-only key for the GIS layers at /ogc; the answer is the only time it is shown."""
    return await service.issue(conn, access.principal, body)


@router.delete("/{key_id}", response_model=ApiKeyOut, responses={404: {"description": "no such key"}})
async def revoke_key(access: Admin, conn: Conn, key_id: KeyId) -> ApiKeyOut:
    """Revoke a key; requests with it are refused (401) from now on."""
    try:
        return await service.revoke(conn, access.principal, key_id)
    except service.NoSuchKey:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such key") from None
