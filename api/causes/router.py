"""/me/shifts/{shift_id}/causes: a crew gives the cause of a service segment their shift missed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from fleetpilot.api import policy
from fleetpilot.api.causes import service
from fleetpilot.api.causes.schemas import NewCause, ShiftCauses
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY, Conn
from fleetpilot.api.policy import Access, Capability

OwnData = Annotated[Access, Depends(policy.gate(Capability.OWN_DATA))]
ShiftId = Annotated[str, Path(max_length=200)]
Responses = dict[int | str, dict[str, Any]]
REFUSED: Responses = {code: dict(body) for code, body in REFUSALS.items()}
UNREADABLE: Responses = {code: dict(body) for code, body in UNREADABLE_BODY.items()}
NOT_MINE: Responses = {404: {"description": "not a shift of yours"}}

router = APIRouter(tags=["my data"], responses=REFUSED)


@router.get("/me/shifts/{shift_id}/causes", response_model=ShiftCauses, responses=NOT_MINE)
async def my_missed(access: OwnData, conn: Conn, shift_id: ShiftId) -> ShiftCauses:
    """The planned service segments my shift missed, each with its cause if it has one."""
    grant = await policy.own_shift(conn, policy.own_person(access), shift_id)
    return ShiftCauses(shift_id=shift_id, missed=await service.missed(conn, grant))


@router.post("/me/shifts/{shift_id}/causes", response_model=ShiftCauses, responses={**NOT_MINE, **UNREADABLE})
async def give_cause(access: OwnData, conn: Conn, shift_id: ShiftId, given: NewCause) -> ShiftCauses:
    """Give the cause of a missed segment of my shift (blocked by works, parked cars, no access,
    bins not out, other). Sent again with the same client_key (a phone that was offline
    retrying), or older than the cause stored, it changes nothing. Answers the shift's
    missed segments with their causes."""
    me = policy.own_person(access)
    grant = await policy.own_shift(conn, me, shift_id)
    await service.give_cause(conn, me, grant, given)
    return ShiftCauses(shift_id=shift_id, missed=await service.missed(conn, grant))
