"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds
    role: str


class MeOut(BaseModel):
    user_id: int
    username: str
    role: str
    person_id: str | None  # set for drivers only: the pseudonymous id of their own data


class SignedOut(BaseModel):
    revoked: bool
