"""/auth: OAuth2 password flow, who am I, sign-out."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from fleetpilot.api import policy
from fleetpilot.api.auth.passwords import WeakPassword
from fleetpilot.api.auth.schemas import MeOut, PasswordChange, SignedOut, TokenOut
from fleetpilot.api.auth.service import Lockout, SignInRefused, change_own_password, sign_in, sign_out
from fleetpilot.api.auth.tokens import TokenKeys, decode_access_token
from fleetpilot.api.db import get_conn
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY
from fleetpilot.api.errors import invalid
from fleetpilot.api.policy import Access, Capability

router = APIRouter(prefix="/auth", tags=["auth"])
Conn = Annotated[asyncpg.Connection, Depends(get_conn)]
Keys = Annotated[TokenKeys, Depends(TokenKeys.from_request)]


@router.post(
    "/token",
    response_model=TokenOut,
    responses={**UNREADABLE_BODY, 401: {"description": "wrong credentials, disabled or temporarily locked account"}},
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    conn: Conn,
    keys: Keys,
    request: Request,
    _: Annotated[Access, Depends(policy.gate(Capability.PUBLIC))],
) -> TokenOut:
    """Exchange username and password for a short-lived bearer token."""
    lockout = Lockout.from_settings(request.app.state.settings)
    try:
        signed_in = await sign_in(conn, keys, lockout, form.username, form.password)
    except SignInRefused as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return TokenOut(
        access_token=signed_in.token, expires_in=int(keys.lifetime.total_seconds()), role=signed_in.claims.role
    )


@router.get("/me", response_model=MeOut, responses=REFUSALS)
async def me(access: Annotated[Access, Depends(policy.gate(Capability.SIGNED_IN))]) -> MeOut:
    principal = access.principal
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        role=principal.role,
        person_id=principal.person_id,
        must_change_password=principal.must_change_password,
    )


@router.post("/password", response_model=TokenOut, responses={**REFUSALS, **UNREADABLE_BODY})
async def change_password(
    access: Annotated[Access, Depends(policy.gate(Capability.SIGNED_IN))],
    body: PasswordChange,
    conn: Conn,
    keys: Keys,
) -> TokenOut:
    """Set a new password (the current one is asked again). Every token issued before ends;
    the answer carries a fresh one. Required after an administrator set the password."""
    try:
        signed_in = await change_own_password(
            conn, keys, access.principal.user_id, body.current_password, body.new_password
        )
    except SignInRefused as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    except WeakPassword as exc:
        raise invalid(("body", "new_password"), str(exc)) from None
    return TokenOut(
        access_token=signed_in.token, expires_in=int(keys.lifetime.total_seconds()), role=signed_in.claims.role
    )


@router.post("/logout", response_model=SignedOut, responses=REFUSALS)
async def logout(
    access: Annotated[Access, Depends(policy.gate(Capability.SIGNED_IN))],
    token: Annotated[str, Depends(policy.bearer)],
    conn: Conn,
    keys: Keys,
) -> SignedOut:
    """Revoke the token this request carries; it is refused from now on."""
    claims = decode_access_token(token, keys)  # the gate has verified it already
    await sign_out(conn, claims.jti, claims.expires_at)
    return SignedOut(revoked=True)
